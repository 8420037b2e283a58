/*  fling_broker_private.h - the broker's state, shared by its own files.

    Not an API: fling_broker.c (loop, sockets, life cycle), fling_producers.c
    (SUBMIT, ACK after commit), fling_workers.c (worker table, RESULT, what
    a worker's death means for its tasks), fling_reaper.c (silence, probes,
    lease deadlines), fling_dispatch.c (handing out work, trials of
    suspects) and fling_admin.c (stats) are one module split along its
    seams; they share this struct and nothing else sees it.
    fling_suspects.c (groups of suspects) is a module of its own that they
    use.
*/
#ifndef FLING_BROKER_PRIVATE_H_INCLUDED
#define FLING_BROKER_PRIVATE_H_INCLUDED

#include "fling_auth.h"
#include "fling_broker.h"
#include "fling_conns.h"
#include "fling_dedup.h"
#include "fling_events.h"
#include "fling_histogram.h"
#include "fling_idmap.h"
#include "fling_limits.h"
#include "fling_owners.h"
#include "fling_proto.h"
#include "fling_queue.h"
#include "fling_store.h"
#include "fling_suspects.h"

#include <czmq.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define FLING_ROUTING_ID_MAX     255          /* libzmq's limit for a routing id */
#define FLING_BROKER_DRAIN_MAX   1000         /* messages read per socket per turn */
#define FLING_DISPATCH_BYTES_MAX (256 * 1024) /* record bytes in one DISPATCH */
#define FLING_DELAY_MAX_MS       (1u << 30)   /* `due` wraps at 2^32 ms: stay far below */
#define FLING_TASKPOOL_BYTES     (4u << 20)   /* freed task blocks kept for reuse */

/*  Who sent a message: the ROUTER routing id, kept by value so a reply
    never needs a frame; the file descriptor of its connection (-1 if
    unknown), so the broker can close it (fling_conns); and with CURVE the
    key it authenticated with (NULL without). */
typedef struct {
    uint8_t bytes[FLING_ROUTING_ID_MAX];
    uint8_t size;
    int fd;
    const fling_principal_t *principal;
} fling_peer_t;

#define FLING_PEER_HEX_SIZE (2 * FLING_ROUTING_ID_MAX + 1)

typedef struct {
    uint64_t accepted;
    uint64_t duplicates;
    uint64_t rejected;
    uint64_t dispatched;
    uint64_t done;
    uint64_t failed;
    uint64_t retried;
    uint64_t requeued;
    uint64_t stale_results;
    uint64_t worker_lost; /* workers declared dead: silence or a dead connection */
    uint64_t router_unroutable;
    uint64_t dead_lettered;   /* tasks moved to the dead-letter queue, any reason */
    uint64_t crashed;         /* crashes charged: a worker died holding only that task */
    uint64_t suspected;       /* tasks put in a suspect group by a worker's death */
    uint64_t trials;          /* trials sent: suspects run on a worker holding nothing else */
    uint64_t probes;          /* PINGs sent to find out if a silent worker is gone */
    uint64_t timed_out;       /* TIMEOUT results + lease deadlines passed */
    uint64_t lease_expired;   /* of which the broker's lease deadline */
    uint64_t store_full;      /* tasks refused STORE_FULL */
    uint64_t unavailable;     /* tasks refused UNAVAILABLE */
    uint64_t holding_leased;  /* HOLDING leases applied */
    uint64_t holding_ignored; /* HOLDING leases that matched nothing */
    uint64_t dead_retried;
    uint64_t dead_purged;
    uint64_t forbidden_ids; /* tasks refused: id prefix not the sending key's tag */
    uint64_t producer_full; /* tasks refused QUEUE_FULL: their key holds its share */
    uint64_t names_refused; /* names a READY or SUBMIT could not add */
    uint64_t names_freed;   /* names forgotten: no task, no worker */
    uint64_t credit_capped; /* READY/CAPACITY asking more than --max-worker-credit */
    uint64_t deaf_closed;   /* peers closed for not reading what they asked for */
    uint64_t queue_purged;  /* tasks removed by queue_purge */
} fling_broker_counters_t;

/*  The retry set: a binary min-heap of DELAYED tasks keyed on `due`. */
typedef struct {
    fling_btask_t **items;
    size_t count;
    size_t alloc;
} fling_delayheap_t;

/*  A registered worker, keyed by its routing id. */
struct fling_bworker {
    fling_peer_t peer;
    char key[FLING_PEER_HEX_SIZE]; /* routing id in hex: the table key */
    char name[FLING_NAME_MAX + 1]; /* printable copy of the READY name */
    uint32_t pid;
    uint8_t version; /* its READY's: what it is sent in */
    uint32_t capacity[FLING_CLASS_COUNT];
    /* The most tasks it said it runs at once since its READY: if it dies,
       that many of its oldest leases per class count as running, the rest
       were waiting (prefetch). The largest, not the last: a drain's
       CAPACITY(0, 0) does not stop what already runs. */
    uint32_t slots[FLING_CLASS_COUNT];
    uint32_t inflight[FLING_CLASS_COUNT];
    /* Leases that passed their deadline without a word from it: their
       DISPATCH may still sit unread in its queue, so they keep counting
       against its credit until a result comes back for one (security:
       a worker never holds more than its credit there). */
    uint32_t stuck[FLING_CLASS_COUNT];
    uint64_t done;
    int64_t last_seen_ms;
    int64_t probed_ms; /* last probe PING (fling_workers_reap) */
    /* FLP/1.1: the highest result_seq read from it, and the highest
       acknowledged (RESULT_ACK goes out after the turn's store commit). */
    uint64_t result_seq_seen;
    uint64_t result_seq_acked;
    fling_tasklist_t leased; /* tasks it holds, oldest first */
    /* A prover runs trials of suspects (fling_dispatch.c) and nothing else:
       it gets no other work, and a trial goes out only once it holds
       nothing. `trial`: tasks of the trial it was sent last (0 = none yet);
       while it holds any of them, its leases are exactly that trial's. */
    bool prover;
    uint32_t trial;
    size_t reg_count;
    struct {
        fling_queue_t *queue;
        uint8_t cls;
    } regs[FLING_NAMES_MAX]; /* names it serves */
};

struct pending_ack; /* fling_producers.c */
struct fling_ops;   /* fling_ops.c */

/*  A DISPATCH built this turn, sent once the store commit has made its
    leases durable (fling_broker_send_dispatches). */
typedef struct {
    fling_bworker_t *worker;
    zmsg_t *msg;
    uint32_t count; /* its tasks: the last `count` of the worker's leases */
} fling_held_dispatch_t;

struct fling_broker {
    fling_broker_config_t config;
    zsock_t *producer_sock;
    zsock_t *worker_sock;
    fling_auth_t *auth;     /* CURVE keys and roles; NULL = CURVE off */
    fling_limits_t *limits; /* per producer key (CURVE) and the name log */
    fling_owners_t *owners; /* CURVE: the key that held a dead worker's tasks */
    bool names_sweep;       /* a name may have lost its last task or worker */
    int64_t names_swept_ms;
    size_t names_swept_last; /* names the last sweep freed */
    fling_conns_t *conns;    /* connections and their limits */
    atomic_int rescan;       /* SIGHUP: read the allowed directory again */
    int64_t next_rescan_ms;
    int64_t next_tick_ms;                       /* connection timeouts */
    char producer_endpoint[FLING_ENDPOINT_MAX]; /* as bound */
    char worker_endpoint[FLING_ENDPOINT_MAX];
    fling_store_t *store;
    bool store_dirty;   /* something staged since the last commit */
    bool store_failed;  /* a commit or write failed: read-only until restart */
    bool shutting_down; /* stop requested: refuse SUBMITs (UNAVAILABLE) */

    fling_delayheap_t delayed; /* tasks waiting for their retry time */
    fling_tasklist_t parked;   /* recovered in-flight tasks waiting for HOLDING */
    int64_t parked_until_ms;   /* then they are queued */
    fling_dedup_t *dedup;      /* ids of tasks that ended recently */
    uint64_t rng;              /* jitter */

    fling_suspects_t *suspects; /* groups waiting for a trial (fling_dispatch.c) */
    size_t provers;             /* workers with `prover` set */

    fling_blockpool_t *pool; /* freed task blocks, shared by every queue */
    fling_idmap_t *ids;      /* every task held, by id */
    uint64_t bytes;          /* record bytes held */
    zhashx_t *queue_index;   /* name -> fling_queue_t */
    fling_queue_t **queues;  /* same queues, in creation order */
    size_t queue_count;
    size_t queue_alloc;
    size_t dispatch_cursor; /* queue dispatch starts from, rotating */
    bool dispatch_needed;   /* tasks or credit changed since the last dispatch */
    bool results_to_ack;    /* a worker sent a RESULT this turn (fling_workers_ack_results) */

    zhashx_t *workers; /* hex routing id -> fling_bworker_t */

    struct pending_ack *acks[FLING_BROKER_DRAIN_MAX]; /* SUBMITs of this turn */
    size_t ack_count;
    fling_held_dispatch_t *held; /* DISPATCHes of this turn, in the order built */
    size_t held_count;
    size_t held_alloc;

    fling_broker_counters_t counters;
    uint64_t refused[FLING_REASON_MAX];       /* messages refused, by reason */
    uint64_t refused_quiet[FLING_REASON_MAX]; /* refusals not logged yet */
    int64_t refused_logged_ms[FLING_REASON_MAX];
    uint64_t rejected[FLING_REASON_MAX]; /* tasks refused in ACKs, by status */
    struct fling_ops *ops;         /* HTTP port, connection counts, orphan queues (fling_ops.h) */
    fling_histogram_t commit_time; /* store commits (write + fdatasync), for the metrics */
    fling_events_t *events;        /* lifecycle events while someone reads them */

    int64_t started_ms;
    int64_t now_ms;  /* clock at the start of this turn */
    int64_t wall_ms; /* wall clock of this turn for the store; 0 = not read yet */
    int64_t next_reap_ms;
    atomic_int stopping; /* set by fling_broker_stop, any thread */
};

/* ---- fling_broker.c ---------------------------------------------------- */

/*  Sends `*msg` (taken, even on failure) to `peer` on a ROUTER without
    blocking. -1 + errno EHOSTUNREACH (peer gone) or EAGAIN (peer not
    reading: at its HWM); counted in router_unroutable. */
int fling_broker_send (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer, zmsg_t **msg);

/*  Keeps a DISPATCH of `count` tasks just leased to `worker` (their lease
    staged in the store) until the turn's commit; takes *msg (NULL: out of
    memory). -1 when it cannot be kept: the tasks are back in their queues
    unrun. Write-ahead:
    a worker never holds a task whose lease a restarted broker would not
    know, so the broker never hands it to a second worker (SPEC.md §6.5). */
int fling_broker_hold_dispatch (fling_broker_t *self, fling_bworker_t *worker, zmsg_t **msg,
                                uint32_t count);

/*  After the commit: sends the held DISPATCHes. One that cannot be sent
    (the worker is gone) gives its tasks back to their queues, unrun. */
void fling_broker_send_dispatches (fling_broker_t *self);

/*  The commit failed: the held DISPATCHes are not sent, their tasks go
    back to their queues (before the turn's tasks are dropped). */
void fling_broker_cancel_dispatches (fling_broker_t *self);

/*  Closes the connection of `peer` (a lost worker, a peer that does not
    read), so libzmq frees what it queued for it. */
void fling_broker_close_peer (fling_broker_t *self, const fling_peer_t *peer);

/*  Counts a refusal of the message `about` (decoded as far as it could
    be; NULL: not known), logs it (rate-limited) and answers ERROR(reason)
    in the message's version, naming its command and batch, except for a
    bad signature (an empty message too), which is dropped. */
void fling_broker_refuse (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                          const fling_msg_t *about, fling_reason_t reason, const char *why);

/*  The counting and logging half of fling_broker_refuse, for a refusal
    answered otherwise (a SUBMIT refused whole gets an ACK). */
void fling_broker_count_refusal (fling_broker_t *self, zsock_t *sock, const fling_peer_t *peer,
                                 const fling_msg_t *about, fling_reason_t reason, const char *why);

/*  The routing id in hex: the worker table's key, and for logs. */
void fling_peer_hex (const fling_peer_t *peer, char out[FLING_PEER_HEX_SIZE]);

/*  Who asks for a queue: only find it, or create it for a task (the whole
    name table) or for a worker's READY (a quarter of the table is kept for
    names that carry tasks, so a flood of READYs cannot block producers). */
typedef enum {
    FLING_QUEUE_FIND,
    FLING_QUEUE_FOR_TASK,
    FLING_QUEUE_FOR_WORKER,
    FLING_QUEUE_RECOVERED /* replaying the store: what it holds, it holds */
} fling_queue_use_t;

/*  The queue for a name, created for `use` (NULL + errno ENOSPC when the
    name table is full for that use, ENOMEM). Names with no task and no
    worker are forgotten again at the next sweep. */
fling_queue_t *fling_broker_queue (fling_broker_t *self, const char *name, size_t name_size,
                                   fling_queue_use_t use);

/*  Logs a refused name at most once a minute per name, with the reason. */
void fling_broker_name_refused (fling_broker_t *self, const char *name, size_t name_size,
                                const char *why);

/*  Items of a batch (records of a SUBMIT, results of a RESULT) whose ids
    are prefetched ahead of the one being handled: enough to cover a
    memory access with the work of the items in between. */
#define FLING_BROKER_PREFETCH_AHEAD 8

/*  Starts loading what handling `id` will probe first: its slots in the id
    index and in the duplicate window (fling_idmap_prefetch). */
void fling_broker_prefetch_id (const fling_broker_t *self, const fling_task_id_t *id);

/*  A task left the broker for good (done or purged): tells the store,
    remembers its id in the duplicate window, then frees it. It must not
    be on any list. */
void fling_broker_finish_task (fling_broker_t *self, fling_btask_t *task);

/*  Removes a task from the id index and the byte count and frees it,
    without telling the store. It must not be on any list. */
void fling_broker_forget_task (fling_broker_t *self, fling_btask_t *task);

/*  Tells the store a task's attempt / crash / dead / leased state changed
    (rides along with the next commit). */
void fling_broker_store_state (fling_broker_t *self, const fling_btask_t *task);

/*  Takes a task into the tables (queue tail, id index, byte count) with
    `attempt` runs already made. Not the store: the caller stages it. */
fling_reason_t fling_broker_hold_task (fling_broker_t *self, const fling_record_t *record,
                                       fling_queue_t *queue, uint16_t attempt,
                                       fling_btask_t **held);

/*  A lease that never started (the worker said RELEASED, or it died with
    the task waiting in its prefetch): the attempt is given back, and the
    task goes to the head of its queue. */
void fling_broker_release (fling_broker_t *self, fling_btask_t *task);

/*  Places a task that is on no list: QUEUED at the head or tail of its
    queue; DELAYED for `delay_ms` (0 = queued at the tail at once); DEAD
    with a reason and error text (logged, counted, stored). */
void fling_broker_requeue (fling_broker_t *self, fling_btask_t *task, bool head);
void fling_broker_delay (fling_broker_t *self, fling_btask_t *task, uint32_t delay_ms);
void fling_broker_kill (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                        const char *error, size_t error_size);

/*  A run ended without success (RETRY, FAIL, TIMEOUT result, or the lease
    deadline passed): retried after a backoff (or `delay_ms` if non-zero)
    while attempts remain, else dead-lettered with `reason`. */
void fling_broker_run_failed (fling_broker_t *self, fling_btask_t *task, uint8_t reason,
                              uint32_t delay_ms, const char *error, size_t error_size);

/*  Finishes (as done) every task of `queue` that waits: queued, delayed
    for a retry, parked after a restart, or suspect. Returns how many. */
size_t fling_broker_purge_waiting (fling_broker_t *self, fling_queue_t *queue);

/*  Takes a QUEUED, PARKED, SUSPECT or DEAD task off its list (state
    unchanged). */
void fling_broker_unlist (fling_broker_t *self, fling_btask_t *task);

/*  The effective settings of a task: its record's value, else its name's. */
unsigned fling_broker_max_attempts (const fling_btask_t *task);
unsigned fling_broker_poison_limit (const fling_btask_t *task);

/*  The wall clock of this turn (read once per turn, when first needed). */
static inline int64_t fling_broker_wall_ms (fling_broker_t *self)
{
    if (!self->wall_ms)
        self->wall_ms = fling_store_wall_ms ();
    return self->wall_ms;
}

/*  Lifecycle events (fling_events.h): recorded only while someone reads
    them; otherwise one comparison. */
#define FLING_EVENT_TASK(self, kind, task, worker_name)                                            \
    do {                                                                                           \
        if (fling_events_on ((self)->events, (self)->now_ms))                                      \
            fling_events_task ((self)->events, (kind), (task), (worker_name),                      \
                               fling_broker_wall_ms (self));                                       \
    } while (0)
#define FLING_EVENT_WORKER(self, kind, worker)                                                     \
    do {                                                                                           \
        if (fling_events_on ((self)->events, (self)->now_ms))                                      \
            fling_events_worker ((self)->events, (kind), (worker)->name, (worker)->pid,            \
                                 fling_broker_wall_ms (self));                                     \
    } while (0)

/*  Wrapping millisecond times in fling_btask_t.due. */
static inline uint32_t fling_due_in (int64_t now_ms, uint32_t delay_ms)
{
    return (uint32_t)((uint64_t)now_ms + delay_ms);
}

static inline bool fling_due_passed (uint32_t due, int64_t now_ms)
{
    return (int32_t)((uint32_t)now_ms - due) >= 0;
}

/* ---- fling_producers.c ------------------------------------------------- */

/*  Handles a decoded message from the producer socket. */
void fling_producers_handle (fling_broker_t *self, const fling_peer_t *peer,
                             const fling_msg_t *msg);

/*  Answers a SUBMIT that failed to decode but whose batch_seq and count
    were read (msg->has_batch) with an ACK of `count` x `status`. */
void fling_producers_refuse_batch (fling_broker_t *self, const fling_peer_t *peer,
                                   const fling_msg_t *msg, fling_reason_t status);

/*  End of turn: one store commit, then the ACK of every SUBMIT of the turn. */
void fling_producers_commit_and_ack (fling_broker_t *self);

/*  Frees the turn's pending ACKs without sending them (destroy). */
void fling_producers_discard_acks (fling_broker_t *self);

/* ---- fling_workers.c --------------------------------------------------- */

/*  Refreshes the last-seen time of the worker at `peer` (any message is a
    sign of life) and returns it, or NULL if it is not registered. */
fling_bworker_t *fling_workers_touch (fling_broker_t *self, const fling_peer_t *peer);

/*  Handles a decoded message from the worker socket; `worker` is what
    fling_workers_touch returned for `peer`. */
void fling_workers_handle (fling_broker_t *self, const fling_peer_t *peer, fling_bworker_t *worker,
                           const fling_msg_t *msg);

/*  After the turn's store commit: RESULT_ACK to each FLP/1.1 worker whose
    RESULTs of this turn are now applied and durable. Nothing while the
    store has failed (they are not durable: the workers keep them). */
void fling_workers_ack_results (fling_broker_t *self);

typedef enum { FLING_WORKER_LEFT, FLING_WORKER_TIMEOUT, FLING_WORKER_UNREACHABLE } fling_drop_t;

/*  Forgets a worker: its tasks go back to the head of their queues (or fail
    when they have used all their attempts), it leaves every queue's server
    list, and it is freed. */
void fling_workers_drop (fling_broker_t *self, fling_bworker_t *worker, fling_drop_t why);

/*  Frees every worker, returning their tasks to the queues, without logs. */
void fling_workers_destroy_all (fling_broker_t *self);

/*  Leases a task that is on no list to a worker: attempt + 1 (unless
    `same_attempt`: HOLDING), credit - 1, lease deadline set. unlease
    undoes the bookkeeping (not the attempt); the caller places the task. */
void fling_worker_lease (fling_broker_t *self, fling_bworker_t *worker, fling_btask_t *task,
                         fling_class_t cls, bool same_attempt);

/*  How long the broker lets a lease of `task` run (twice its timeout plus
    two worker timeouts), 0 = no deadline. A leased task's `due` is its
    lease start plus this (fling task shows the start). */
uint32_t fling_worker_lease_ms (const fling_broker_t *self, const fling_btask_t *task);
void fling_worker_unlease (fling_btask_t *task);

/* ---- fling_reaper.c ---------------------------------------------------- */

/*  Declares dead every worker silent for longer than worker_timeout_ms,
    and every worker holding tasks whose connection is gone (probed with
    a PING after heartbeat/4 of silence). */
void fling_workers_reap (fling_broker_t *self);

/*  Ends every lease whose deadline passed (as a TIMEOUT). */
void fling_workers_expire_leases (fling_broker_t *self);

/* ---- fling_dispatch.c -------------------------------------------------- */

/*  Hands waiting tasks to workers with free credit, and suspects to
    provers (see fling_dispatch.c). */
void fling_dispatch (fling_broker_t *self);

/* ---- fling_access.c ---------------------------------------------------- */

/*  CURVE (fling_auth) or the loopback-only rule, then the connection
    table. -1 with errno and a logged reason: the broker must not start. */
int fling_access_open (fling_broker_t *self);

/*  Prepares a new ROUTER (before it binds): CURVE server, monitored. */
int fling_access_serve (fling_broker_t *self, zsock_t *sock, fling_conns_socket_t which);

/*  Once a turn: re-reads the allowed directory when due (or after
    SIGHUP), closes idle and revoked connections. */
void fling_access_turn (fling_broker_t *self);

void fling_access_close (fling_broker_t *self);

/*  A worker is being declared dead (CURVE): notes the key that held each
    of its tasks, so that only that key may claim them back. */
void fling_access_note_leases (fling_broker_t *self, const fling_bworker_t *worker);

/*  May `worker` claim `task`, a run whose end the broker never saw? With
    CURVE only under the key that held it; a task parked by a restart (no
    key noted) may be claimed by any worker key (SECURITY.md). */
bool fling_access_may_claim (fling_broker_t *self, const fling_bworker_t *worker,
                             const fling_btask_t *task);

/*  True (and the connection closed) when the peer leaves what it asked
    for unread: more than 256 KiB waiting in its socket. Checked before an
    ADMIN reply, the only large answer a peer can ask for at will. */
bool fling_access_deaf (fling_broker_t *self, const fling_peer_t *peer);

/*  The stats reply's "security" and "connections" sections (jansson). */
struct json_t;
struct json_t *fling_access_security_json (fling_broker_t *self);
struct json_t *fling_access_connections_json (fling_broker_t *self);

/*  True for ipc://, inproc:// and tcp:// on a loopback address. */
bool fling_endpoint_is_local (const char *endpoint);

/* ---- fling_admin.c ----------------------------------------------------- */

/*  Answers an ADMIN request (JSON text, not NUL-terminated). Returns a new
    JSON string (free() it), or NULL when out of memory. */
char *fling_admin_handle (fling_broker_t *self, const char *request, size_t size);

/* ---- fling_lookup.c ---------------------------------------------------- */

struct json_t;

/*  {"op":"task","id":ID}: where that task is (proto/SPEC.md §5.3). */
struct json_t *fling_lookup_task (fling_broker_t *self, struct json_t *request);

/*  The oldest few tasks leased to `worker`: [{"id","name","for_ms"}], for
    the stats reply (what each worker runs, and for how long). */
struct json_t *fling_lookup_running (fling_broker_t *self, const fling_bworker_t *worker);

#endif
