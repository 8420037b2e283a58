/*  store_bench.c - measures candidate durable stores for the fling broker.

    Candidates: "wal" (broker/fling_wal.c, the append-only segmented log),
    "lmdb" (default sync commit, MDB_APPEND keys), "sqlite" (WAL journal,
    synchronous=FULL, rowid table with id BLOB PRIMARY KEY) and, as an extra,
    "sqlite_nr" (the same table WITHOUT ROWID).

    One run = one store and one batch size B:
      1. accept  N tasks (16-byte id + 140-byte record), one durable flush per
                 batch of B; stops early after --limit seconds;
      2. size    bytes allocated on disk by the store's files;
      3. recover (only if all N were accepted) open + read every live task
                 into memory (hash of ids + copy of each record), first with
                 the store's pages evicted from the page cache (cold), then
                 again (warm);
      4. complete the first half in batches of B, recover again (half live),
                 complete the rest; stops early after --limit seconds.
    Output: one "key=value ..." line per measurement on stdout.

    Build (by hand, not through CMake):
      gcc -O2 -std=c11 -D_GNU_SOURCE -Ibroker -Icommon bench/store_bench.c \
          broker/fling_wal*.c broker/fling_crc32c.c common/fling_log.c \
          -llmdb -lsqlite3 -o build-storebench/store_bench
    Run:
      store_bench STORE B [--tasks N] [--limit S] [--dir D]
      store_bench repro-full [--dir D]   (fling_wal: completions refused when full)
      store_bench repro-roll-torn [--dir D] (fling_wal: torn tail of a sealed segment)
*/
#include "fling_crc32c.h"
#include "fling_log.h"
#include "fling_wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <lmdb.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ID_SIZE      16
#define REC_SIZE     140 /* 24-byte header + 16-byte name + 100-byte JSON payload */
#define WAL_ACCEPT   1
#define WAL_COMPLETE 2

static void die (const char *what, const char *detail)
{
    fprintf (stderr, "store_bench: %s: %s\n", what, detail ? detail : strerror (errno));
    exit (1);
}

static double now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the workload ---------------------------------------------------------------- */

/* id = 8-byte producer key + big-endian counter: ascending, as LMDB's MDB_APPEND needs */
static void make_id (uint8_t *id, uint64_t n)
{
    memcpy (id, "prod-abc", 8);
    for (int i = 0; i < 8; i++)
        id[8 + i] = (uint8_t)(n >> (56 - 8 * i));
}

static void make_record (uint8_t *rec, uint64_t n)
{
    memset (rec, 0, REC_SIZE);
    uint32_t attempt = 0, priority = 5;
    uint64_t created_ms = 1760000000000ull + n;
    memcpy (rec, &n, 8);
    memcpy (rec + 8, &attempt, 4);
    memcpy (rec + 12, &priority, 4);
    memcpy (rec + 16, &created_ms, 8);
    memcpy (rec + 24, "email.send", 10);
    char json[128];
    int len = snprintf (json, sizeof json,
                        "{\"to\":\"user%010" PRIu64 "@example.com\",\"template\":\"welcome\","
                        "\"lang\":\"en\",\"pad\":\"",
                        n);
    while (len < 98)
        json[len++] = 'x';
    memcpy (json + 98, "\"}", 2);
    memcpy (rec + 40, json, 100);
}

static uint64_t record_counter (const uint8_t *rec)
{
    uint64_t n;
    memcpy (&n, rec, 8);
    return n;
}

static uint64_t id_counter (const uint8_t *id)
{
    uint64_t n = 0;
    for (int i = 0; i < 8; i++)
        n = n << 8 | id[8 + i];
    return n;
}

/* ---- what recovery builds: hash of ids -> record copy ------------------------------ */

typedef struct {
    uint8_t id[ID_SIZE];
    uint32_t rec; /* slot in the record arena, +1 (0 = empty entry) */
    uint32_t seg; /* wal segment of the accept record */
} entry_t;

typedef struct {
    entry_t *slots;
    size_t mask, count;
    uint8_t *arena;
    size_t arena_used, arena_cap; /* in records */
    uint64_t bad;                 /* records whose content does not match their id */
} table_t;

static uint64_t id_hash (const uint8_t *id)
{
    uint64_t a, b;
    memcpy (&a, id, 8);
    memcpy (&b, id + 8, 8);
    uint64_t h = (a ^ (b * 0x9E3779B97F4A7C15ull));
    h ^= h >> 32;
    h *= 0xD6E8FEB86659FD93ull;
    h ^= h >> 32;
    return h;
}

static void table_init (table_t *t, size_t expected)
{
    size_t cap = 1024;
    while (cap < expected * 2)
        cap *= 2;
    memset (t, 0, sizeof *t);
    t->slots = calloc (cap, sizeof *t->slots);
    t->mask = cap - 1;
    t->arena_cap = expected ? expected : 1;
    t->arena = malloc (t->arena_cap * REC_SIZE);
    if (!t->slots || !t->arena)
        die ("table", "out of memory");
}

static void table_free (table_t *t)
{
    free (t->slots);
    free (t->arena);
    memset (t, 0, sizeof *t);
}

static entry_t *table_find (table_t *t, const uint8_t *id)
{
    for (size_t i = id_hash (id) & t->mask;; i = (i + 1) & t->mask) {
        entry_t *e = &t->slots[i];
        if (!e->rec)
            return NULL;
        if (memcmp (e->id, id, ID_SIZE) == 0)
            return e;
    }
}

static void table_put (table_t *t, const uint8_t *id, const uint8_t *rec, uint32_t seg)
{
    if (record_counter (rec) != id_counter (id))
        t->bad++;
    if (t->arena_used == t->arena_cap) {
        t->arena_cap *= 2;
        t->arena = realloc (t->arena, t->arena_cap * REC_SIZE);
        if (!t->arena)
            die ("table", "out of memory");
    }
    memcpy (t->arena + t->arena_used * REC_SIZE, rec, REC_SIZE);
    size_t i = id_hash (id) & t->mask;
    while (t->slots[i].rec && memcmp (t->slots[i].id, id, ID_SIZE) != 0)
        i = (i + 1) & t->mask;
    if (!t->slots[i].rec)
        t->count++;
    memcpy (t->slots[i].id, id, ID_SIZE);
    t->slots[i].rec = (uint32_t)++t->arena_used;
    t->slots[i].seg = seg;
}

/* backward-shift deletion (linear probing, no tombstones) */
static void table_del (table_t *t, entry_t *e)
{
    size_t i = (size_t)(e - t->slots);
    for (;;) {
        t->slots[i].rec = 0;
        size_t j = i;
        for (;;) {
            j = (j + 1) & t->mask;
            if (!t->slots[j].rec) {
                t->count--;
                return;
            }
            size_t home = id_hash (t->slots[j].id) & t->mask;
            /* can slot j move to i? yes if home is not in (i, j] cyclically */
            if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j)))
                break;
        }
        t->slots[i] = t->slots[j];
        i = j;
    }
}

/* ---- files ------------------------------------------------------------------------------ */

static void rm_rf (const char *path)
{
    DIR *dir = opendir (path);
    if (dir) {
        struct dirent *e;
        while ((e = readdir (dir))) {
            if (!strcmp (e->d_name, ".") || !strcmp (e->d_name, ".."))
                continue;
            char p[4096];
            snprintf (p, sizeof p, "%s/%s", path, e->d_name);
            rm_rf (p);
        }
        closedir (dir);
        rmdir (path);
    } else
        unlink (path);
}

/* Sums the allocated (st_blocks) and apparent sizes of the files in `dir`;
   with `evict`, fdatasyncs each and drops it from the page cache first. */
static void dir_scan (const char *dir, uint64_t *allocated, uint64_t *apparent, bool evict)
{
    *allocated = *apparent = 0;
    DIR *d = opendir (dir);
    if (!d)
        die ("opendir", dir);
    struct dirent *e;
    while ((e = readdir (d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4096];
        snprintf (p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat (p, &st) != 0 || !S_ISREG (st.st_mode))
            continue;
        *allocated += (uint64_t)st.st_blocks * 512;
        *apparent += (uint64_t)st.st_size;
        if (evict) {
            int fd = open (p, O_RDONLY);
            if (fd >= 0) {
                fdatasync (fd);
                posix_fadvise (fd, 0, 0, POSIX_FADV_DONTNEED);
                close (fd);
            }
        }
    }
    closedir (d);
}

/* ---- the stores --------------------------------------------------------------------------- */

typedef struct {
    const char *name;
    char dir[4096];
    /* wal */
    fling_wal_t *wal;
    uint32_t *wal_seg; /* segment of each task's accept record, by counter */
    /* lmdb */
    MDB_env *env;
    MDB_dbi dbi;
    /* sqlite */
    sqlite3 *db;
    sqlite3_stmt *begin, *commit, *insert, *delete;
    bool without_rowid;
} store_t;

static void lmdb_check (int rc, const char *what)
{
    if (rc != 0)
        die (what, mdb_strerror (rc));
}

static void sql_check (store_t *s, int rc, const char *what)
{
    if (rc != SQLITE_OK && rc != SQLITE_DONE && rc != SQLITE_ROW)
        die (what, sqlite3_errmsg (s->db));
}

static void sql_exec (store_t *s, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec (s->db, sql, NULL, NULL, &err) != SQLITE_OK)
        die (sql, err);
}

static void sql_step (store_t *s, sqlite3_stmt *st, const char *what)
{
    sql_check (s, sqlite3_step (st), what);
    sqlite3_reset (st);
}

static bool is_wal (store_t *s)
{
    return !strcmp (s->name, "wal");
}

static bool is_lmdb (store_t *s)
{
    return !strcmp (s->name, "lmdb");
}

static void store_open (store_t *s)
{
    if (is_wal (s)) {
        fling_wal_options_t opt;
        fling_wal_options_init (&opt);
        s->wal = fling_wal_open (s->dir, &opt);
        if (!s->wal)
            die ("fling_wal_open", NULL);
    } else if (is_lmdb (s)) {
        mkdir (s->dir, 0700);
        lmdb_check (mdb_env_create (&s->env), "mdb_env_create");
        lmdb_check (mdb_env_set_mapsize (s->env, (size_t)8 << 30), "mdb_env_set_mapsize");
        lmdb_check (mdb_env_open (s->env, s->dir, 0, 0600), "mdb_env_open");
        MDB_txn *txn;
        lmdb_check (mdb_txn_begin (s->env, NULL, 0, &txn), "mdb_txn_begin");
        lmdb_check (mdb_dbi_open (txn, NULL, 0, &s->dbi), "mdb_dbi_open");
        lmdb_check (mdb_txn_commit (txn), "mdb_txn_commit");
    } else {
        mkdir (s->dir, 0700);
        char path[4200];
        snprintf (path, sizeof path, "%s/tasks.db", s->dir);
        if (sqlite3_open_v2 (path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL))
            die ("sqlite3_open", sqlite3_errmsg (s->db));
        sql_exec (s, "PRAGMA journal_mode=WAL");
        sql_exec (s, "PRAGMA synchronous=FULL");
        sql_exec (s, s->without_rowid ? "CREATE TABLE IF NOT EXISTS tasks (id BLOB PRIMARY KEY, "
                                        "record BLOB) WITHOUT ROWID"
                                      : "CREATE TABLE IF NOT EXISTS tasks (id BLOB PRIMARY KEY, "
                                        "record BLOB)");
        sql_check (s, sqlite3_prepare_v2 (s->db, "BEGIN", -1, &s->begin, NULL), "prepare");
        sql_check (s, sqlite3_prepare_v2 (s->db, "COMMIT", -1, &s->commit, NULL), "prepare");
        sql_check (s,
                   sqlite3_prepare_v2 (s->db, "INSERT INTO tasks (id, record) VALUES (?, ?)", -1,
                                       &s->insert, NULL),
                   "prepare");
        sql_check (
            s, sqlite3_prepare_v2 (s->db, "DELETE FROM tasks WHERE id = ?", -1, &s->delete, NULL),
            "prepare");
    }
}

static void store_close (store_t *s)
{
    if (s->wal)
        fling_wal_destroy (&s->wal);
    if (s->env) {
        mdb_env_close (s->env);
        s->env = NULL;
    }
    if (s->db) {
        sqlite3_finalize (s->begin);
        sqlite3_finalize (s->commit);
        sqlite3_finalize (s->insert);
        sqlite3_finalize (s->delete);
        if (sqlite3_close (s->db) != SQLITE_OK)
            die ("sqlite3_close", sqlite3_errmsg (s->db));
        s->db = NULL;
    }
}

/* One batch: tasks [first, first + count); durable when it returns. */
static void store_accept (store_t *s, uint64_t first, uint64_t count)
{
    uint8_t id[ID_SIZE], rec[REC_SIZE];
    if (is_wal (s)) {
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            make_record (rec, n);
            if (!fling_wal_has_room (s->wal, ID_SIZE + REC_SIZE, 9 + ID_SIZE))
                die ("fling_wal_has_room", "store full");
            int64_t seg = fling_wal_append (s->wal, WAL_ACCEPT, false, id, ID_SIZE, rec, REC_SIZE);
            if (seg < 0)
                die ("fling_wal_append", NULL);
            s->wal_seg[n] = (uint32_t)seg;
            fling_wal_segment_live (s->wal, (uint32_t)seg, +1);
        }
        if (fling_wal_commit (s->wal) != 0)
            die ("fling_wal_commit", NULL);
    } else if (is_lmdb (s)) {
        MDB_txn *txn;
        lmdb_check (mdb_txn_begin (s->env, NULL, 0, &txn), "mdb_txn_begin");
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            make_record (rec, n);
            MDB_val k = {ID_SIZE, id}, v = {REC_SIZE, rec};
            lmdb_check (mdb_put (txn, s->dbi, &k, &v, MDB_APPEND), "mdb_put");
        }
        lmdb_check (mdb_txn_commit (txn), "mdb_txn_commit");
    } else {
        sql_step (s, s->begin, "BEGIN");
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            make_record (rec, n);
            sqlite3_bind_blob (s->insert, 1, id, ID_SIZE, SQLITE_STATIC);
            sqlite3_bind_blob (s->insert, 2, rec, REC_SIZE, SQLITE_STATIC);
            sql_step (s, s->insert, "INSERT");
        }
        sql_step (s, s->commit, "COMMIT");
    }
}

static void store_complete (store_t *s, uint64_t first, uint64_t count)
{
    uint8_t id[ID_SIZE];
    if (is_wal (s)) {
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            if (fling_wal_append (s->wal, WAL_COMPLETE, true, NULL, 0, id, ID_SIZE) < 0)
                die ("fling_wal_append", NULL);
            fling_wal_segment_live (s->wal, s->wal_seg[n], -1);
        }
        if (fling_wal_commit (s->wal) != 0)
            die ("fling_wal_commit", NULL);
    } else if (is_lmdb (s)) {
        MDB_txn *txn;
        lmdb_check (mdb_txn_begin (s->env, NULL, 0, &txn), "mdb_txn_begin");
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            MDB_val k = {ID_SIZE, id};
            lmdb_check (mdb_del (txn, s->dbi, &k, NULL), "mdb_del");
        }
        lmdb_check (mdb_txn_commit (txn), "mdb_txn_commit");
    } else {
        sql_step (s, s->begin, "BEGIN");
        for (uint64_t n = first; n < first + count; n++) {
            make_id (id, n);
            sqlite3_bind_blob (s->delete, 1, id, ID_SIZE, SQLITE_STATIC);
            sql_step (s, s->delete, "DELETE");
            if (sqlite3_changes (s->db) != 1)
                die ("DELETE", "no row");
        }
        sql_step (s, s->commit, "COMMIT");
    }
}

typedef struct {
    store_t *s;
    table_t *t;
    uint64_t unknown_completions;
} replay_ctx_t;

static void replay_fn (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg)
{
    replay_ctx_t *ctx = arg;
    if (type == WAL_ACCEPT && size == ID_SIZE + REC_SIZE) {
        table_put (ctx->t, body, body + ID_SIZE, segment);
        fling_wal_segment_live (ctx->s->wal, segment, +1);
    } else if (type == WAL_COMPLETE && size == ID_SIZE) {
        entry_t *e = table_find (ctx->t, body);
        if (!e) {
            ctx->unknown_completions++;
            return;
        }
        fling_wal_segment_live (ctx->s->wal, e->seg, -1);
        table_del (ctx->t, e);
    }
}

/* Opens the (closed) store and reads every live task into `t`; the store stays open. */
static void store_recover (store_t *s, table_t *t)
{
    if (is_wal (s)) {
        store_open (s);
        replay_ctx_t ctx = {s, t, 0};
        fling_wal_replay_stats_t st;
        if (fling_wal_replay (s->wal, replay_fn, &ctx, &st) != 0)
            die ("fling_wal_replay", NULL);
        if (st.corrupt_records || st.torn_bytes)
            fprintf (stderr, "wal replay: corrupt=%" PRIu64 " torn_bytes=%" PRIu64 "\n",
                     st.corrupt_records, st.torn_bytes);
    } else if (is_lmdb (s)) {
        store_open (s);
        MDB_txn *txn;
        MDB_cursor *cur;
        lmdb_check (mdb_txn_begin (s->env, NULL, MDB_RDONLY, &txn), "mdb_txn_begin");
        lmdb_check (mdb_cursor_open (txn, s->dbi, &cur), "mdb_cursor_open");
        MDB_val k, v;
        int rc;
        while ((rc = mdb_cursor_get (cur, &k, &v, MDB_NEXT)) == 0) {
            if (k.mv_size != ID_SIZE || v.mv_size != REC_SIZE)
                die ("lmdb scan", "bad sizes");
            table_put (t, k.mv_data, v.mv_data, 0);
        }
        if (rc != MDB_NOTFOUND)
            lmdb_check (rc, "mdb_cursor_get");
        mdb_cursor_close (cur);
        mdb_txn_abort (txn);
    } else {
        store_open (s);
        sqlite3_stmt *sel;
        sql_check (s, sqlite3_prepare_v2 (s->db, "SELECT id, record FROM tasks", -1, &sel, NULL),
                   "prepare");
        int rc;
        while ((rc = sqlite3_step (sel)) == SQLITE_ROW) {
            if (sqlite3_column_bytes (sel, 0) != ID_SIZE ||
                sqlite3_column_bytes (sel, 1) != REC_SIZE)
                die ("sqlite scan", "bad sizes");
            table_put (t, sqlite3_column_blob (sel, 0), sqlite3_column_blob (sel, 1), 0);
        }
        sql_check (s, rc, "SELECT");
        sqlite3_finalize (sel);
    }
}

/* ---- phases --------------------------------------------------------------------------------- */

static int cmp_double (const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double *lat;
    size_t n, cap;
    uint64_t tasks, commits;
    double seconds;
} phase_t;

static void phase_add (phase_t *p, double t)
{
    if (p->n == p->cap) {
        p->cap = p->cap ? p->cap * 2 : 4096;
        p->lat = realloc (p->lat, p->cap * sizeof *p->lat);
        if (!p->lat)
            die ("latencies", "out of memory");
    }
    p->lat[p->n++] = t;
}

static void phase_print (const char *store, unsigned batch, const char *name, phase_t *p)
{
    qsort (p->lat, p->n, sizeof *p->lat, cmp_double);
    double p50 = p->n ? p->lat[p->n / 2] : 0, p99 = p->n ? p->lat[p->n * 99 / 100] : 0;
    double max = p->n ? p->lat[p->n - 1] : 0;
    printf ("store=%s B=%u phase=%s tasks=%" PRIu64
            " seconds=%.3f tasks_per_s=%.0f commits=%" PRIu64
            " commits_per_s=%.0f batch_ms_p50=%.3f batch_ms_p99=%.3f batch_ms_max=%.3f\n",
            store, batch, name, p->tasks, p->seconds, p->tasks / p->seconds, p->commits,
            p->commits / p->seconds, p50 * 1e3, p99 * 1e3, max * 1e3);
    fflush (stdout);
    free (p->lat);
    memset (p, 0, sizeof *p);
}

typedef void (batch_fn) (store_t *, uint64_t, uint64_t);

/* Runs tasks [from, to) through `fn` in batches; stops at `deadline`. Returns the next task. */
static uint64_t run_batches (store_t *s, batch_fn *fn, uint64_t from, uint64_t to, unsigned batch,
                             double deadline, phase_t *p)
{
    double start = now_s ();
    uint64_t n = from;
    while (n < to) {
        uint64_t count = to - n < batch ? to - n : batch;
        double t0 = now_s ();
        fn (s, n, count);
        double t1 = now_s ();
        phase_add (p, t1 - t0);
        n += count;
        p->tasks += count;
        p->commits++;
        if (t1 >= deadline)
            break;
    }
    p->seconds += now_s () - start;
    return n;
}

static void recover_phase (store_t *s, unsigned batch, uint64_t expect, const char *label)
{
    uint64_t alloc, apparent;
    double cold = 0, warm = 0;
    for (int round = 0; round < 2; round++) {
        store_close (s);
        dir_scan (s->dir, &alloc, &apparent, round == 0); /* round 0: evict from page cache */
        table_t t;
        double t0 = now_s ();
        table_init (&t, expect);
        store_recover (s, &t);
        double dt = now_s () - t0;
        if (t.count != expect || t.bad)
            fprintf (stderr,
                     "store_bench: %s recovery found %zu live (expected %" PRIu64 "), %" PRIu64
                     " bad\n",
                     s->name, t.count, expect, t.bad);
        if (round == 0)
            cold = dt;
        else
            warm = dt;
        table_free (&t);
    }
    printf ("store=%s B=%u phase=recover_%s live=%" PRIu64 " cold_s=%.3f warm_s=%.3f "
            "disk_allocated=%" PRIu64 " disk_apparent=%" PRIu64 "\n",
            s->name, batch, label, expect, cold, warm, alloc, apparent);
    fflush (stdout);
}

static int bench (const char *name, unsigned batch, uint64_t tasks, double limit, const char *dir)
{
    store_t s = {0};
    s.name = name;
    if (!strcmp (name, "sqlite_nr"))
        s.without_rowid = true;
    else if (strcmp (name, "wal") && strcmp (name, "lmdb") && strcmp (name, "sqlite"))
        die ("unknown store", name);
    snprintf (s.dir, sizeof s.dir, "%s/%s", dir, name);
    mkdir (dir, 0700);
    rm_rf (s.dir);
    s.wal_seg = calloc (tasks, sizeof *s.wal_seg);
    store_open (&s);
    if (is_wal (&s)) {
        fling_wal_replay_stats_t st;
        if (fling_wal_replay (s.wal, replay_fn, NULL, &st) != 0) /* empty: creates segment 1 */
            die ("fling_wal_replay", NULL);
    }

    phase_t p = {0};
    uint64_t accepted = run_batches (&s, store_accept, 0, tasks, batch, now_s () + limit, &p);
    phase_print (name, batch, "accept", &p);

    uint64_t alloc, apparent;
    dir_scan (s.dir, &alloc, &apparent, false);
    printf ("store=%s B=%u phase=size tasks=%" PRIu64 " disk_allocated=%" PRIu64
            " disk_apparent=%" PRIu64 " bytes_per_task=%.1f\n",
            name, batch, accepted, alloc, apparent, (double)alloc / (double)accepted);
    fflush (stdout);

    bool full = accepted == tasks;
    if (full)
        recover_phase (&s, batch, accepted, "all");
    double deadline = now_s () + limit;
    uint64_t half = full ? accepted / 2 : accepted;
    uint64_t done = run_batches (&s, store_complete, 0, half, batch, deadline, &p);
    if (full && done == half) {
        double t0 = now_s ();
        recover_phase (&s, batch, accepted - half, "half");
        deadline += now_s () - t0; /* the limit counts completion time only */
        done = run_batches (&s, store_complete, half, accepted, batch, deadline, &p);
    }
    phase_print (name, batch, "complete", &p);
    dir_scan (s.dir, &alloc, &apparent, false);
    printf ("store=%s B=%u phase=size_after_complete tasks_left=%" PRIu64 " disk_allocated=%" PRIu64
            " disk_apparent=%" PRIu64 "\n",
            name, batch, accepted - done, alloc, apparent);
    store_close (&s);
    rm_rf (s.dir);
    free (s.wal_seg);
    return 0;
}

/* ---- reproducers for fling_wal findings ---------------------------------------------------- */

/* A log capped at 2 segments, filled with tasks while fling_wal_has_room()
   (reserving room for each task's 25-byte completion record) says yes; then
   every task is completed. The header promises that "records that finish
   tasks still fit in the space reserved for them". */
static int repro_full (const char *dir)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/repro-full", dir);
    mkdir (dir, 0700);
    rm_rf (path);
    fling_wal_options_t opt;
    fling_wal_options_init (&opt);
    opt.segment_bytes = 4096;
    opt.max_bytes = 2 * 4096;
    opt.free_floor_bytes = 0;
    fling_wal_t *wal = fling_wal_open (path, &opt);
    if (!wal || fling_wal_replay (wal, replay_fn, NULL, NULL) != 0)
        die ("fling_wal_open/replay", NULL);
    uint8_t id[ID_SIZE], rec[REC_SIZE];
    uint64_t accepted = 0;
    while (fling_wal_has_room (wal, ID_SIZE + REC_SIZE, 9 + ID_SIZE)) {
        make_id (id, accepted);
        make_record (rec, accepted);
        int64_t seg = fling_wal_append (wal, WAL_ACCEPT, false, id, ID_SIZE, rec, REC_SIZE);
        if (seg < 0) {
            printf ("append of accepted task %" PRIu64 " failed although has_room said yes: %s\n",
                    accepted, strerror (errno));
            break;
        }
        fling_wal_segment_live (wal, (uint32_t)seg, +1);
        accepted++;
        if (fling_wal_commit (wal) != 0)
            die ("commit", NULL);
    }
    printf ("accepted %" PRIu64 " tasks before has_room() said no (full=%d)\n", accepted,
            fling_wal_full (wal));
    uint64_t completed = 0;
    for (uint64_t n = 0; n < accepted; n++) {
        make_id (id, n);
        if (fling_wal_append (wal, WAL_COMPLETE, true, NULL, 0, id, ID_SIZE) < 0) {
            printf ("completion record of task %" PRIu64 " refused: %s\n", n, strerror (errno));
            break;
        }
        completed++;
    }
    printf ("completed %" PRIu64 " of %" PRIu64 " -> %s\n", completed, accepted,
            completed == accepted ? "OK" : "BUG: tasks can never be completed, log stays full");
    fling_wal_destroy (&wal);
    rm_rf (path);
    return completed == accepted ? 0 : 1;
}

typedef struct {
    uint64_t accepts, completes;
} count_ctx_t;

static void count_fn (uint8_t type, const uint8_t *body, size_t size, uint32_t segment, void *arg)
{
    (void)body;
    (void)size;
    (void)segment;
    count_ctx_t *c = arg;
    if (type == WAL_ACCEPT)
        c->accepts++;
    else
        c->completes++;
}

/* Power cut while a segment rolls: the records written into the old segment
   by segment_roll() were not yet fdatasynced, so its tail can be torn; the
   new segment exists. Simulated by cutting the old segment's last record in
   half (as F07 does to the newest segment) after the roll. */
static int repro_roll_torn (const char *dir)
{
    char path[4096];
    snprintf (path, sizeof path, "%s/repro-roll", dir);
    mkdir (dir, 0700);
    rm_rf (path);
    fling_wal_options_t opt;
    fling_wal_options_init (&opt);
    opt.segment_bytes = 4096;
    opt.free_floor_bytes = 0;
    fling_wal_t *wal = fling_wal_open (path, &opt);
    if (!wal || fling_wal_replay (wal, replay_fn, NULL, NULL) != 0)
        die ("fling_wal_open/replay", NULL);
    uint8_t id[ID_SIZE], rec[REC_SIZE];
    const uint64_t per = 9 + ID_SIZE + REC_SIZE, fit = (4096 - 32) / per;
    uint64_t last_offset = 0;
    /* fit - 2 committed records, then one uncommitted batch of 3: two land in
       segment 1, the third rolls into segment 2 */
    for (uint64_t n = 0; n < fit + 1; n++) {
        make_id (id, n);
        make_record (rec, n);
        int64_t seg = fling_wal_append (wal, WAL_ACCEPT, false, id, ID_SIZE, rec, REC_SIZE);
        if (seg != (n < fit ? 1 : 2))
            die ("append", "unexpected segment");
        if (n < fit)
            last_offset = 32 + n * per;
        if (n < fit - 2 && fling_wal_commit (wal) != 0)
            die ("commit", NULL);
    }
    fling_wal_destroy (&wal); /* "crash": the last batch was never committed */
    char seg1[4200];
    snprintf (seg1, sizeof seg1, "%s/%016x.seg", path, 1);
    int fd = open (seg1, O_RDWR);
    uint8_t zero[100] = {0};
    /* the last record of segment 1 reached the disk only half way */
    if (fd < 0 || pwrite (fd, zero, 80, (off_t)(last_offset + 90)) != 80)
        die ("tear", NULL);
    close (fd);
    wal = fling_wal_open (path, &opt);
    count_ctx_t c = {0};
    fling_wal_replay_stats_t st;
    if (!wal || fling_wal_replay (wal, count_fn, &c, &st) != 0)
        die ("reopen", NULL);
    printf (
        "replayed %" PRIu64 " records; corrupt_records=%" PRIu64 " torn_bytes=%" PRIu64 " -> %s\n",
        st.records, st.corrupt_records, st.torn_bytes,
        st.corrupt_records ? "a torn (never acknowledged) write is reported as corruption" : "OK");
    fling_wal_destroy (&wal);
    rm_rf (path);
    return st.corrupt_records ? 1 : 0;
}

int main (int argc, char **argv)
{
    const char *dir = "build-storebench/data";
    uint64_t tasks = 1000000;
    double limit = -1;
    if (argc < 2) {
    usage:
        fprintf (stderr, "usage: store_bench wal|lmdb|sqlite|sqlite_nr B [--tasks N] [--limit S] "
                         "[--dir D]\n       store_bench repro-full|repro-roll-torn [--dir D]\n");
        return 2;
    }
    bool repro = !strncmp (argv[1], "repro-", 6);
    int first_opt = repro ? 2 : 3;
    if (!repro && argc < 3)
        goto usage;
    for (int i = first_opt; i < argc; i++) {
        if (i + 1 >= argc)
            goto usage;
        if (!strcmp (argv[i], "--tasks"))
            tasks = strtoull (argv[++i], NULL, 10);
        else if (!strcmp (argv[i], "--limit"))
            limit = atof (argv[++i]);
        else if (!strcmp (argv[i], "--dir"))
            dir = argv[++i];
        else
            goto usage;
    }
    fling_log_init ("store_bench", FLING_LOG_WARN);
    if (!strcmp (argv[1], "repro-full"))
        return repro_full (dir);
    if (!strcmp (argv[1], "repro-roll-torn"))
        return repro_roll_torn (dir);
    unsigned batch = (unsigned)atoi (argv[2]);
    if (batch < 1 || tasks < 1)
        goto usage;
    if (limit < 0)
        limit = batch == 1 ? 10 : 60;
    return bench (argv[1], batch, tasks, limit, dir);
}
