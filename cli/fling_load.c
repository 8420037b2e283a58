/*  fling_load.c - load generator: sends N tasks through one producer handle
    from T threads, optionally paced, and reports what the broker accepted.

    Used by the demo, the multi-process tests (which read its --ledger and
    --json-summary) and the benchmarks. It must never lose a task to its own
    backpressure: when the outbox is full (EAGAIN) it backs off and retries
    the same task, and counts the retries.

    Threads: T sender threads share the producer (fling_send is thread-safe);
    the ack callback (fling_load_acks.c) runs on the producer's I/O thread
    and counts verdicts and writes the ledger; the main thread watches
    (progress, periodic ledger flush) and reports. Counters crossing
    threads are C11 atomics.
*/
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fling_load.h"
#include "fling_load_acks.h"
#include "fling_percentiles.h"

#define TICK_MS             50
#define LEDGER_FLUSH_MS     100
#define PROGRESS_MS         250
#define SIGNAL_FLUSH_MS     2000        /* after SIGINT/SIGTERM: flush briefly */
#define PRODUCER_LINGER_MS  200         /* we flush ourselves before destroy */
#define CATCH_UP_MAX_NS     100000000LL /* pacing never bursts past 100 ms behind */
#define BURST_SPAN_NS       1000000LL   /* pace in bursts of about 1 ms of tasks */
#define YIELDS_BEFORE_SLEEP 16
#define BACKOFF_SLEEP_NS    50000L

typedef struct {
    fling_load_config_t cfg;
    fling_producer_t *producer;
    fling_load_acks_t *acks; /* verdicts counted, and the ledger */
    atomic_uint_fast64_t retries, invalid, send_errors;
    atomic_uint threads_done;
    atomic_bool gave_up; /* outbox stayed full past the flush timeout */
    uint64_t *samples;   /* --latency: ns per successful fling_send */
    char *payload_tail;  /* what follows the sequence number, the same for every task */
    size_t payload_tail_len;
    int64_t due_base_ms; /* --delay-ms/--spread-ms: UTC ms of the start + delay; 0 = none */
    /* main thread only: when the watcher last flushed / printed */
    int64_t last_ledger_ns, last_progress_ns, progress_ns;
    uint64_t progress_sent;
} load_t;

typedef struct {
    load_t *load;
    uint64_t first, end; /* this thread sends sequence numbers [first, end) */
    double rate;         /* tasks per second for this thread, 0 = unpaced */
    size_t sample_count; /* samples written at samples[first...] */
    int64_t done_ns;     /* when this thread made its last call */
    char *buf;
    size_t buf_size;
    pthread_t thread;
} sender_t;

/* Set by the signal handler, read by every thread: a lock-free atomic is
   both async-signal-safe and race-free (a volatile sig_atomic_t is only the
   former). */
static atomic_int stop_signal;

static void on_signal (int signo)
{
    stop_signal = signo;
}

static int64_t now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void sleep_until_ns (int64_t when)
{
    struct timespec ts = {.tv_sec = when / 1000000000LL, .tv_nsec = when % 1000000000LL};
    clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* ---- sender threads --------------------------------------------------------- */

/* ,"ms":<ms>,<extra>,"pad":" : the part of every payload after "i". */
static int make_payload_tail (load_t *load)
{
    const fling_load_config_t *cfg = &load->cfg;
    const char *extra = cfg->payload_extra ? cfg->payload_extra : "";
    size_t size = strlen (extra) + 64;
    load->payload_tail = (char *)malloc (size);
    if (!load->payload_tail)
        return -1;
    int n = snprintf (load->payload_tail, size, ",\"ms\":%u,%s%s\"pad\":\"", cfg->ms, extra,
                      cfg->payload_extra ? "," : "");
    load->payload_tail_len = n > 0 ? (size_t)n : 0;
    return 0;
}

/* The decimal digits of `value` at `at`; returns the end. */
static char *put_digits (char *at, uint64_t value)
{
    char digits[20];
    size_t n = 0;
    do
        digits[n++] = (char)('0' + value % 10);
    while ((value /= 10) != 0);
    while (n)
        *at++ = digits[--n];
    return at;
}

/* When task `seq` is due (--delay-ms, --spread-ms), UTC ms; 0 = not delayed. */
static int64_t due_of (const load_t *load, uint64_t seq)
{
    if (!load->due_base_ms)
        return 0;
    return load->due_base_ms + (int64_t)((double)load->cfg.spread_ms * (double)seq /
                                         (double)(load->cfg.count ? load->cfg.count : 1));
}

/* {"i":<seq>[,"due":<ms>],"ms":<ms>,<extra>,"pad":"xxx..."} padded to about
   payload_bytes. By hand, not snprintf: formatting was 5-8% of fling-load's
   CPU, taken from the broker and worker it shares the cores with in a
   benchmark. */
static void make_payload (sender_t *s, uint64_t seq)
{
    const load_t *load = s->load;
    char *at = s->buf;
    memcpy (at, "{\"i\":", 5);
    at = put_digits (at + 5, seq);
    if (load->due_base_ms) {
        memcpy (at, ",\"due\":", 7);
        at = put_digits (at + 7, (uint64_t)due_of (load, seq));
    }
    memcpy (at, load->payload_tail, load->payload_tail_len);
    at += load->payload_tail_len;
    size_t used = (size_t)(at - s->buf);
    size_t pad = load->cfg.payload_bytes > used + 2 ? load->cfg.payload_bytes - used - 2 : 0;
    memset (at, 'x', pad);
    memcpy (at + pad, "\"}", 3);
}

/* Sleeps so that this thread keeps to its rate, in bursts of ~1 ms worth of
   tasks; after a stall it resumes at the rate instead of racing to catch up. */
static void pace (sender_t *s, uint64_t sent, int64_t *start, uint64_t burst)
{
    if (s->rate <= 0 || sent % burst)
        return;
    int64_t due = *start + (int64_t)((double)sent * 1e9 / s->rate);
    int64_t now = now_ns ();
    if (now - due > CATCH_UP_MAX_NS)
        *start += now - due - CATCH_UP_MAX_NS;
    /* in ticks, so a slow rate does not delay the reaction to a signal */
    for (; due > now && !stop_signal; now = now_ns ())
        sleep_until_ns (due - now > TICK_MS * 1000000LL ? now + TICK_MS * 1000000LL : due);
}

/* Backs off after EAGAIN: yield first, then short sleeps. Returns -1 when
   the run must stop (signal, or the outbox stayed full too long). */
static int back_off (sender_t *s, unsigned tries, int64_t full_since)
{
    load_t *load = s->load;
    atomic_fetch_add (&load->retries, 1);
    if (stop_signal || atomic_load (&load->gave_up))
        return -1;
    if (now_ns () - full_since > (int64_t)load->cfg.flush_timeout_ms * 1000000LL) {
        atomic_store (&load->gave_up, true);
        return -1;
    }
    if (tries < YIELDS_BEFORE_SLEEP)
        sched_yield ();
    else {
        struct timespec pause = {0, BACKOFF_SLEEP_NS};
        nanosleep (&pause, NULL);
    }
    return 0;
}

/* Sends the task in s->buf until the outbox takes it. 0, or -1 if not sent. */
static int send_task (sender_t *s, const char *name, uint64_t seq)
{
    load_t *load = s->load;
    int64_t full_since = 0;
    for (unsigned tries = 0;; tries++) {
        int64_t t0 = load->samples ? now_ns () : 0;
        int rc;
        if (load->due_base_ms) {
            fling_send_options_t options = {.at_ms = due_of (load, seq)};
            rc = fling_send_ex (load->producer, name, s->buf, 0, &options, NULL);
        } else
            rc = fling_send (load->producer, name, s->buf);
        if (rc == 0) {
            if (load->samples)
                load->samples[s->first + s->sample_count++] = (uint64_t)(now_ns () - t0);
            return 0;
        }
        int err = errno;
        if (err == EAGAIN) {
            full_since = full_since ? full_since : now_ns ();
            if (back_off (s, tries, full_since))
                return -1;
            continue;
        }
        bool invalid = err == FLING_EBADNAME || err == FLING_EBADJSON || err == FLING_ETOOLARGE;
        atomic_fetch_add (invalid ? &load->invalid : &load->send_errors, 1);
        if (atomic_load (&load->invalid) + atomic_load (&load->send_errors) <= 5)
            fprintf (stderr, "fling-load: task %" PRIu64 ": %s\n", seq,
                     invalid ? fling_last_error () : fling_strerror (err));
        return -1;
    }
}

static void *sender_run (void *arg)
{
    sender_t *s = (sender_t *)arg;
    load_t *load = s->load;
    uint64_t burst = 1;
    if (s->rate > 0)
        burst = (uint64_t)fmax (1.0, fmin (1000.0, s->rate * BURST_SPAN_NS / 1e9));
    int64_t start = now_ns ();
    uint64_t sent = 0;
    for (uint64_t seq = s->first; seq < s->end; seq++) {
        if (stop_signal || atomic_load (&load->gave_up))
            break;
        pace (s, sent, &start, burst);
        if (stop_signal)
            break;
        make_payload (s, seq);
        send_task (s, load->cfg.names[seq % load->cfg.name_count], seq);
        sent++;
    }
    s->done_ns = now_ns ();
    atomic_fetch_add (&load->threads_done, 1);
    return NULL;
}

/* ---- running ----------------------------------------------------------------- */

static int start_producer (load_t *load)
{
    fling_producer_options_t options;
    fling_producer_options_init (&options);
    options.endpoint = load->cfg.endpoint;
    if (load->cfg.curve_broker_key)
        options.curve_broker_key = load->cfg.curve_broker_key;
    if (load->cfg.curve_key)
        options.curve_key = load->cfg.curve_key;
    if (load->cfg.outbox_max)
        options.outbox_max_tasks = load->cfg.outbox_max;
    options.overflow = load->cfg.overflow;
    options.linger_ms = PRODUCER_LINGER_MS;
    options.ack_fn = fling_load_acks_on_ack;
    options.ack_arg = load->acks;
    load->producer = fling_producer_new (&options);
    if (!load->producer) {
        fprintf (stderr, "fling-load: cannot start the producer: %s\n", fling_last_error ());
        return -1;
    }
    return 0;
}

/* After the producer exists, so that nothing it sets up replaces them. A
   second signal gets the default action (SA_RESETHAND): kill. */
static void catch_signals (void)
{
    struct sigaction sa;
    memset (&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset (&sa.sa_mask);
    sigaction (SIGINT, &sa, NULL);
    sigaction (SIGTERM, &sa, NULL);
}

static void print_progress (load_t *load, uint64_t *last_sent, int64_t *last_ns)
{
    fling_producer_stats_t st;
    fling_producer_stats (load->producer, &st);
    int64_t now = now_ns ();
    double rate =
        now > *last_ns ? (double)(st.sent - *last_sent) * 1e9 / (double)(now - *last_ns) : 0;
    *last_sent = st.sent;
    *last_ns = now;
    bool tty = isatty (STDERR_FILENO);
    fprintf (stderr,
             "%ssent=%" PRIu64 " accepted=%" PRIu64 " rejected=%" PRIu64 " queued=%" PRIu64
             " rate=%.0f/s%s",
             tty ? "\r\033[K" : "", st.sent, st.accepted, st.rejected, st.queued, rate,
             tty ? "" : "\n");
}

/* Runs `until` (a condition on `load`) while keeping the ledger flushed and
   the progress line fresh, in ticks of TICK_MS. */
typedef bool (until_fn) (load_t *load, void *arg);

static void watch (load_t *load, until_fn *until, void *arg)
{
    while (!until (load, arg)) {
        int64_t now = now_ns ();
        if (now - load->last_ledger_ns >= LEDGER_FLUSH_MS * 1000000LL) {
            fling_load_acks_flush (load->acks);
            load->last_ledger_ns = now;
        }
        if (load->cfg.progress && now - load->last_progress_ns >= PROGRESS_MS * 1000000LL) {
            print_progress (load, &load->progress_sent, &load->progress_ns);
            load->last_progress_ns = now;
        }
    }
}

static bool senders_done (load_t *load, void *arg)
{
    if (atomic_load (&load->threads_done) == load->cfg.threads)
        return true;
    struct timespec tick = {0, TICK_MS * 1000000L};
    nanosleep (&tick, NULL);
    return false;
}

typedef struct {
    int64_t deadline;
    bool flushed, interrupted;
} flush_state_t;

/* One short flush per tick, so the watcher keeps running in between; a
   signal during the flush shortens the wait to SIGNAL_FLUSH_MS. */
static bool flush_done (load_t *load, void *arg)
{
    flush_state_t *f = (flush_state_t *)arg;
    if (stop_signal && !f->interrupted) {
        f->interrupted = true;
        int64_t brief = now_ns () + SIGNAL_FLUSH_MS * 1000000LL;
        f->deadline = brief < f->deadline ? brief : f->deadline;
    }
    if (fling_producer_flush (load->producer, TICK_MS) == 0) {
        f->flushed = true;
        return true;
    }
    if (errno != ETIMEDOUT) {
        /* not a timeout: do not spin on an immediate failure */
        struct timespec tick = {0, TICK_MS * 1000000L};
        nanosleep (&tick, NULL);
    }
    return now_ns () >= f->deadline;
}

static int start_senders (load_t *load, sender_t *senders)
{
    const fling_load_config_t *cfg = &load->cfg;
    uint64_t per = cfg->count / cfg->threads, extra = cfg->count % cfg->threads, next = 0;
    size_t buf_size =
        cfg->payload_bytes + 96 + (cfg->payload_extra ? strlen (cfg->payload_extra) + 1 : 0);
    if (cfg->delay_ms || cfg->spread_ms) {
        struct timespec ts;
        clock_gettime (CLOCK_REALTIME, &ts);
        load->due_base_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + cfg->delay_ms;
    }
    if (make_payload_tail (load)) {
        fprintf (stderr, "fling-load: out of memory\n");
        stop_signal = SIGTERM;
        atomic_fetch_add (&load->threads_done, cfg->threads);
        return 0;
    }
    for (unsigned i = 0; i < cfg->threads; i++) {
        sender_t *s = &senders[i];
        s->load = load;
        s->first = next;
        s->end = next + per + (i < extra ? 1 : 0);
        next = s->end;
        s->rate = cfg->rate / cfg->threads;
        /* One buffer per thread, allocated here: nothing allocates in the
           timed send path. */
        s->buf = malloc (buf_size);
        s->buf_size = buf_size;
        if (!s->buf || pthread_create (&s->thread, NULL, sender_run, s)) {
            fprintf (stderr, "fling-load: cannot start sender thread %u\n", i);
            free (s->buf);
            s->buf = NULL;
            stop_signal = SIGTERM;
            atomic_fetch_add (&load->threads_done, cfg->threads - i);
            return (int)i;
        }
    }
    return (int)cfg->threads;
}

/* ---- reporting --------------------------------------------------------------- */

typedef struct {
    bool have;
    double p50, p99, p999, max; /* microseconds */
} latency_t;

/* Packs each thread's samples together and takes the percentiles. */
static latency_t latency_of (load_t *load, sender_t *senders, unsigned started)
{
    latency_t lat = {.have = false};
    if (!load->samples)
        return lat;
    size_t n = 0;
    for (unsigned i = 0; i < started; i++) {
        memmove (load->samples + n, load->samples + senders[i].first,
                 senders[i].sample_count * sizeof *load->samples);
        n += senders[i].sample_count;
    }
    if (n == 0)
        return lat;
    static const double ps[4] = {0.50, 0.99, 0.999, 1.0};
    uint64_t ns[4];
    fling_percentiles (load->samples, n, ps, ns, 4);
    lat = (latency_t){true, ns[0] / 1000.0, ns[1] / 1000.0, ns[2] / 1000.0, ns[3] / 1000.0};
    return lat;
}

typedef struct {
    uint64_t sent, accepted, rejected, dropped, resent;
    uint64_t handshake_failures; /* CURVE handshakes refused or failed */
    uint64_t overflowed;         /* dropped by the overflow policy: never sent */
    double send_seconds, seconds;
    latency_t latency;
} totals_t;

static void print_summary (const load_t *load, const totals_t *t)
{
    const fling_load_config_t *cfg = &load->cfg;
    uint64_t invalid = atomic_load (&load->invalid), errors = atomic_load (&load->send_errors);
    double send_rate = t->send_seconds > 0 ? (double)t->sent / t->send_seconds : 0;
    fprintf (stderr,
             "fling-load: count=%" PRIu64 " sent=%" PRIu64 " accepted=%" PRIu64 " rejected=%" PRIu64
             " dropped=%" PRIu64 " invalid=%" PRIu64 " send_errors=%" PRIu64 " retries=%" PRIu64
             " resent_batches=%" PRIu64 " handshake_failures=%" PRIu64
             " send_seconds=%.3f send_rate=%.0f/s seconds=%.3f\n",
             cfg->count, t->sent, t->accepted, t->rejected, t->dropped, invalid, errors,
             (uint64_t)atomic_load (&load->retries), t->resent, t->handshake_failures,
             t->send_seconds, send_rate, t->seconds);
    if (t->latency.have)
        fprintf (stderr, "fling-load: fling_send latency p50=%.2fus p99=%.2fus p99.9=%.2fus\n",
                 t->latency.p50, t->latency.p99, t->latency.p999);
    if (!cfg->json_summary)
        return;
    printf ("{\"count\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"accepted\":%" PRIu64
            ",\"rejected\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"invalid\":%" PRIu64
            ",\"send_errors\":%" PRIu64 ",\"retries\":%" PRIu64 ",\"resent_batches\":%" PRIu64
            ",\"handshake_failures\":%" PRIu64
            ",\"send_seconds\":%.6f,\"send_rate\":%.1f,\"seconds\":%.6f",
            cfg->count, t->sent, t->accepted, t->rejected, t->dropped, invalid, errors,
            (uint64_t)atomic_load (&load->retries), t->resent, t->handshake_failures,
            t->send_seconds, send_rate, t->seconds);
    if (t->latency.have)
        printf (",\"latency_us\":{\"p50\":%.3f,\"p99\":%.3f,\"p999\":%.3f,\"max\":%.3f}",
                t->latency.p50, t->latency.p99, t->latency.p999, t->latency.max);
    printf ("}\n");
    fflush (stdout);
}

/* Says why the run failed, if it did. Returns the exit code. */
static int verdict (const load_t *load, const totals_t *t, const flush_state_t *f)
{
    uint64_t count = load->cfg.count;
    if (t->accepted == count && !stop_signal)
        return 0;
    if (stop_signal)
        fprintf (stderr, "fling-load: interrupted by signal %d\n", (int)stop_signal);
    if (atomic_load (&load->gave_up))
        fprintf (stderr,
                 "fling-load: gave up: the outbox stayed full for %u ms (broker at %s "
                 "not taking tasks?)\n",
                 load->cfg.flush_timeout_ms, load->cfg.endpoint);
    if (!f->flushed)
        fprintf (stderr,
                 "fling-load: the broker at %s did not confirm every task within the "
                 "flush timeout\n",
                 load->cfg.endpoint);
    if (t->accepted != count)
        fprintf (stderr,
                 "fling-load: %" PRIu64 " of %" PRIu64 " tasks not accepted (rejected=%" PRIu64
                 " dropped=%" PRIu64 " not sent=%" PRIu64 ")\n",
                 count - t->accepted, count, t->rejected, t->dropped,
                 count - t->sent - t->overflowed);
    return 1;
}

static int run (load_t *load)
{
    const fling_load_config_t *cfg = &load->cfg;
    sender_t *senders = calloc (cfg->threads, sizeof *senders);
    if (!senders)
        return 1;
    int64_t t0 = now_ns ();
    load->progress_ns = t0;
    unsigned started = (unsigned)start_senders (load, senders);
    watch (load, senders_done, NULL);
    /* The send span ends at the last thread's last call, not at the
       watcher's next tick: a 50 ms tick is 5% of a one-second run. */
    int64_t send_end = t0;
    for (unsigned i = 0; i < started; i++) {
        pthread_join (senders[i].thread, NULL);
        if (senders[i].done_ns > send_end)
            send_end = senders[i].done_ns;
    }
    totals_t t = {.send_seconds = (double)(send_end - t0) / 1e9};
    flush_state_t f = {.deadline = now_ns () + (int64_t)cfg->flush_timeout_ms * 1000000LL};
    if (stop_signal)
        f.deadline = now_ns () + SIGNAL_FLUSH_MS * 1000000LL;
    watch (load, flush_done, &f);
    if (cfg->progress)
        fprintf (stderr, "\n");
    fling_producer_stats_t st;
    fling_producer_stats (load->producer, &st);
    uint64_t dropped_before = fling_load_acks_dropped (load->acks);
    fling_producer_destroy (&load->producer);
    /* After destroy every callback has run: the verdicts are final. Tasks
       the destroy dropped show up only in the callback's count. */
    t.sent = st.sent;
    t.accepted = fling_load_acks_accepted (load->acks);
    t.rejected = fling_load_acks_rejected (load->acks);
    t.dropped = st.dropped + (fling_load_acks_dropped (load->acks) - dropped_before);
    t.resent = st.resent;
    t.handshake_failures = st.handshake_failures;
    t.overflowed = st.dropped;
    t.seconds = (double)(now_ns () - t0) / 1e9;
    t.latency = latency_of (load, senders, started);
    for (unsigned i = 0; i < cfg->threads; i++)
        free (senders[i].buf);
    free (senders);
    free (load->payload_tail);
    print_summary (load, &t);
    return verdict (load, &t, &f);
}

int main (int argc, char **argv)
{
    static load_t load;
    int rc = fling_load_parse_args (&load.cfg, argc, argv);
    if (rc >= 0) {
        fling_load_config_fini (&load.cfg);
        return rc;
    }
    if (load.cfg.latency && load.cfg.count) {
        load.samples = calloc (load.cfg.count, sizeof *load.samples);
        if (!load.samples) {
            fprintf (stderr, "fling-load: no memory for %" PRIu64 " latency samples\n",
                     load.cfg.count);
            return 1;
        }
    }
    rc = 1;
    load.acks = fling_load_acks_new (load.cfg.ledger_path);
    if (load.acks && start_producer (&load) == 0) {
        catch_signals ();
        rc = run (&load);
    }
    if (fling_load_acks_destroy (&load.acks))
        rc = 1;
    free (load.samples);
    fling_load_config_fini (&load.cfg);
    return rc;
}
