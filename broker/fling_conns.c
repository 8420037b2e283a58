/*  fling_conns.c - see fling_conns.h.

    Records are found by file descriptor (an array, grown to the highest
    descriptor seen: the kernel hands out the lowest free ones). A record
    lives from ACCEPTED (or the first message, if that is read first) to
    DISCONNECTED; a record the broker closed waits for that event marked
    `closing`, no longer counted against any limit. Descriptors are reused
    by the kernel, so a record is only trusted while its routing id and its
    peer address still match.
*/
#include "fling_conns.h"
#include "fling_dlist.h"
#include "fling_log.h"
#include "fling_monitor.h"
#include "fling_ratelog.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CLOSING_FORGET_MS 10000 /* a closed record whose DISCONNECTED never came */

/* Group keys: "a:" + a client address, or "k:" + a public key (Z85). */
#define GROUP_KEY_SIZE                                                                             \
    (2 + (FLING_CURVE_KEY_TEXT > INET6_ADDRSTRLEN ? FLING_CURVE_KEY_TEXT : INET6_ADDRSTRLEN))

typedef struct {
    char key[GROUP_KEY_SIZE];
    size_t count;         /* open connections in the group */
    fling_dlist_t silent; /* those not heard from yet, oldest first */
} group_t;

typedef struct {
    int fd;
    uint8_t which;
    bool spoke;   /* sent a message: bound to its routing id (and key) */
    bool closing; /* shut down by us; waits for DISCONNECTED */
    int64_t opened_ms, last_ms;
    struct sockaddr_storage addr; /* the peer, to recognise a reused descriptor */
    socklen_t addr_size;
    group_t *group;
    const fling_principal_t *principal;
    uint32_t epoch;
    fling_dlink_t silent_all;   /* on self->silent */
    fling_dlink_t silent_group; /* on group->silent */
    uint8_t rid_size;
    uint8_t rid[255];
} conn_t;

struct fling_conns {
    fling_conns_limits_t limits;
    fling_auth_t *auth;
    fling_monitor_t *monitors[FLING_CONNS_SOCKETS];
    conn_t **by_fd;
    size_t by_fd_size;
    size_t open;
    size_t open_on[FLING_CONNS_SOCKETS]; /* of those, per endpoint (for the metrics) */
    fling_dlist_t silent;                /* silent connections, oldest first */
    zhashx_t *groups;                    /* key or address -> group_t */
    fling_conns_counters_t counters;
};

/* ---- groups -------------------------------------------------------------- */

static group_t *group_of (fling_conns_t *self, const char *key)
{
    group_t *group = (group_t *)zhashx_lookup (self->groups, key);
    if (group)
        return group;
    group = (group_t *)calloc (1, sizeof *group);
    if (!group)
        return NULL;
    snprintf (group->key, sizeof group->key, "%s", key);
    if (zhashx_insert (self->groups, key, group)) {
        free (group);
        return NULL;
    }
    return group;
}

static void group_leave (fling_conns_t *self, conn_t *conn)
{
    group_t *group = conn->group;
    if (!group)
        return;
    if (!conn->spoke)
        fling_dlist_remove (&group->silent, &conn->silent_group);
    conn->group = NULL;
    if (--group->count == 0)
        zhashx_delete (self->groups, group->key); /* frees it */
}

static void group_join (conn_t *conn, group_t *group)
{
    conn->group = group;
    group->count++;
    if (!conn->spoke)
        fling_dlist_push_tail (&group->silent, &conn->silent_group);
}

/* ---- records ------------------------------------------------------------- */

/* "a:" and the client's address, the key of its group. */
static void address_text (const conn_t *conn, char *out, size_t size)
{
    const struct sockaddr *sa = (const struct sockaddr *)&conn->addr;
    snprintf (out, size, "a:");
    if (sa->sa_family == AF_INET)
        inet_ntop (AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out + 2,
                   (socklen_t)size - 2);
    else if (sa->sa_family == AF_INET6)
        inet_ntop (AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out + 2,
                   (socklen_t)size - 2);
    else
        snprintf (out, size, "a:local");
}

/* Takes a record out of every count and list (it stays in by_fd). */
static void unlink_conn (fling_conns_t *self, conn_t *conn)
{
    if (conn->closing)
        return;
    group_leave (self, conn);
    if (!conn->spoke)
        fling_dlist_remove (&self->silent, &conn->silent_all);
    self->open--;
    self->open_on[conn->which]--;
}

static void forget (fling_conns_t *self, conn_t *conn)
{
    unlink_conn (self, conn);
    self->by_fd[conn->fd] = NULL;
    free (conn);
}

/* Does `fd` still lead to the peer recorded? (The kernel reuses numbers.) */
static bool same_peer (const conn_t *conn)
{
    struct sockaddr_storage now;
    socklen_t size = sizeof now;
    if (getpeername (conn->fd, (struct sockaddr *)&now, &size) != 0)
        return false;
    return size == conn->addr_size && memcmp (&now, &conn->addr, size) == 0;
}

/* Shuts the connection down (libzmq then closes it and frees its queues)
   and stops counting it. */
static void close_conn (fling_conns_t *self, conn_t *conn, uint64_t *counter, int64_t now_ms)
{
    if (conn->closing)
        return;
    if (same_peer (conn))
        shutdown (conn->fd, SHUT_RDWR);
    unlink_conn (self, conn);
    conn->closing = true;
    conn->last_ms = now_ms;
    if (counter)
        (*counter)++;
}

static int grow (fling_conns_t *self, int fd)
{
    if ((size_t)fd < self->by_fd_size)
        return 0;
    size_t size = self->by_fd_size ? self->by_fd_size : 256;
    while (size <= (size_t)fd)
        size *= 2;
    conn_t **grown = (conn_t **)realloc (self->by_fd, size * sizeof *grown);
    if (!grown)
        return -1;
    memset (grown + self->by_fd_size, 0, (size - self->by_fd_size) * sizeof *grown);
    self->by_fd = grown;
    self->by_fd_size = size;
    return 0;
}

/* Makes room for one more connection in `group` (NULL: the total only):
   pushes out its oldest silent connection, if there is one. The newest
   wins: a real client speaks within milliseconds of its handshake and is
   silent no more, while a flood of silent connections only pushes out its
   own older ones. */
static bool make_room (fling_conns_t *self, fling_dlist_t *silent, bool group_list, int64_t now_ms)
{
    fling_dlink_t *oldest = silent->head;
    if (!oldest)
        return false;
    conn_t *victim = group_list ? FLING_DLIST_ITEM (oldest, conn_t, silent_group)
                                : FLING_DLIST_ITEM (oldest, conn_t, silent_all);
    close_conn (self, victim, &self->counters.evicted_silent, now_ms);
    FLING_LOG_LIMITED (FLING_LOG_INFO,
                       "connection closed: silent since %" PRId64
                       " ms, pushed out by a new one fd=%d",
                       now_ms - victim->opened_ms, victim->fd);
    return true;
}

/* A connection refused at accept: shut down at once, never counted. */
static void refuse_conn (fling_conns_t *self, conn_t *conn, uint64_t *counter, int64_t now_ms)
{
    shutdown (conn->fd, SHUT_RDWR);
    conn->closing = true;
    conn->last_ms = now_ms;
    (*counter)++;
}

/* A new connection: recorded, then held to the total and, without CURVE,
   to the per-address limit. Over a limit it is closed at once, unless a
   silent connection can make room. */
static conn_t *accept_conn (fling_conns_t *self, int fd, uint8_t which, int64_t now_ms)
{
    if (fd < 0 || grow (self, fd))
        return NULL;
    if (self->by_fd[fd])
        forget (self, self->by_fd[fd]); /* its DISCONNECTED was lost */
    conn_t *conn = (conn_t *)calloc (1, sizeof *conn);
    if (!conn)
        return NULL;
    conn->fd = fd;
    conn->which = which;
    conn->opened_ms = conn->last_ms = now_ms;
    conn->addr_size = sizeof conn->addr;
    if (getpeername (fd, (struct sockaddr *)&conn->addr, &conn->addr_size) != 0)
        conn->addr_size = 0;
    self->by_fd[fd] = conn;
    self->counters.accepted++;
    if (self->open >= self->limits.max_connections &&
        !make_room (self, &self->silent, false, now_ms)) {
        refuse_conn (self, conn, &self->counters.refused_total, now_ms);
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "connection refused: %zu open, the limit (--max-connections)",
                           self->open);
        return conn;
    }
    /* Grouped by client address until it speaks: then, with CURVE, by key. */
    char address[GROUP_KEY_SIZE];
    address_text (conn, address, sizeof address);
    group_t *group = (group_t *)zhashx_lookup (self->groups, address);
    if (group && group->count >= self->limits.max_key_connections &&
        !make_room (self, &group->silent, true, now_ms)) {
        refuse_conn (self, conn, &self->counters.refused_key, now_ms);
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "connection refused: %zu open from %s, the limit "
                           "(--max-key-connections)",
                           group->count, group->key);
        return conn;
    }
    if (!group)
        group = group_of (self, address);
    self->open++;
    self->open_on[conn->which]++;
    fling_dlist_push_tail (&self->silent, &conn->silent_all);
    if (group)
        group_join (conn, group);
    return conn;
}

/* ---- monitor events ------------------------------------------------------- */

static void on_event (fling_conns_t *self, uint8_t which, uint16_t event, uint32_t value,
                      int64_t now_ms)
{
    fling_conns_counters_t *c = &self->counters;
    int fd = (int)value;
    switch (event) {
    case ZMQ_EVENT_ACCEPTED:
        accept_conn (self, fd, which, now_ms);
        break;
    case ZMQ_EVENT_DISCONNECTED:
        if (fd >= 0 && (size_t)fd < self->by_fd_size && self->by_fd[fd]) {
            forget (self, self->by_fd[fd]);
            c->closed++;
        }
        break;
    case ZMQ_EVENT_HANDSHAKE_SUCCEEDED:
        c->handshake_succeeded++;
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        c->handshake_failed_auth++;
        FLING_LOG_LIMITED (FLING_LOG_WARN, "handshake refused: key not allowed (ZAP %u) socket=%s",
                           value, which == FLING_CONNS_WORKER ? "worker" : "producer");
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        c->handshake_failed_protocol++;
        FLING_LOG_LIMITED (FLING_LOG_INFO, "handshake failed: protocol error 0x%x socket=%s", value,
                           which == FLING_CONNS_WORKER ? "worker" : "producer");
        break;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        c->handshake_failed_no_detail++;
        break;
    default:
        break;
    }
}

void fling_conns_events (fling_conns_t *self, int64_t now_ms)
{
    for (int which = 0; which < FLING_CONNS_SOCKETS; which++) {
        if (!self->monitors[which])
            continue;
        uint16_t event;
        uint32_t value;
        while (fling_monitor_next (self->monitors[which], &event, &value))
            on_event (self, (uint8_t)which, event, value, now_ms);
    }
}

/* ---- messages ------------------------------------------------------------- */

/* The connection's first message: it is no longer silent; with CURVE it
   joins its key's group, within that key's limit. */
static fling_conn_verdict_t bind_conn (fling_conns_t *self, conn_t *conn, const uint8_t *rid,
                                       size_t rid_size, const fling_principal_t *principal,
                                       int64_t now_ms)
{
    if (!conn->spoke) {
        fling_dlist_remove (&self->silent, &conn->silent_all);
        if (conn->group)
            fling_dlist_remove (&conn->group->silent, &conn->silent_group);
        conn->spoke = true;
        conn->rid_size = (uint8_t)rid_size;
        memcpy (conn->rid, rid, rid_size);
    }
    if (!principal)
        return FLING_CONN_OK;
    if (principal->revoked) {
        close_conn (self, conn, &self->counters.revoked_closed, now_ms);
        return FLING_CONN_DROP;
    }
    group_leave (self, conn); /* its address's group: from now on its key's */
    char key[GROUP_KEY_SIZE];
    snprintf (key, sizeof key, "k:%s", principal->key);
    group_t *group = group_of (self, key);
    if (!group || group->count >= self->limits.max_key_connections) {
        close_conn (self, conn, &self->counters.refused_key, now_ms);
        FLING_LOG_LIMITED (FLING_LOG_WARN,
                           "connection closed: key name=%s has %zu open, the "
                           "limit (--max-key-connections)",
                           principal->name, group ? group->count : 0);
        return FLING_CONN_DROP;
    }
    group_join (conn, group);
    conn->principal = principal;
    conn->epoch = principal->epoch;
    return FLING_CONN_OK;
}

static conn_t *find_conn (fling_conns_t *self, uint8_t which, int fd, const uint8_t *rid,
                          size_t rid_size, int64_t now_ms)
{
    conn_t *conn = (size_t)fd < self->by_fd_size ? self->by_fd[fd] : NULL;
    bool stale = conn && conn->spoke &&
                 (conn->rid_size != rid_size || memcmp (conn->rid, rid, rid_size) != 0);
    if (conn && !stale)
        return conn;
    /* Its events may still wait in the monitor pipe: read them first. */
    fling_conns_events (self, now_ms);
    conn = (size_t)fd < self->by_fd_size ? self->by_fd[fd] : NULL;
    if (conn && conn->spoke && (conn->rid_size != rid_size || memcmp (conn->rid, rid, rid_size)))
        forget (self, conn); /* another connection had this descriptor */
    else if (conn)
        return conn;
    return accept_conn (self, fd, which, now_ms);
}

fling_conn_verdict_t fling_conns_message (fling_conns_t *self, fling_conns_socket_t which, int fd,
                                          const uint8_t *rid, size_t rid_size, const char *user_id,
                                          const fling_principal_t **principal, int64_t now_ms)
{
    *principal = NULL;
    const fling_principal_t *key = NULL;
    if (self->auth) {
        key = user_id ? fling_auth_find (self->auth, user_id, now_ms) : NULL;
        if (!key) {
            self->counters.unknown_key++;
            return user_id ? FLING_CONN_UNKNOWN_KEY : FLING_CONN_DROP;
        }
    }
    conn_t *conn = fd >= 0 ? find_conn (self, (uint8_t)which, fd, rid, rid_size, now_ms) : NULL;
    if (conn && conn->closing)
        return FLING_CONN_DROP;
    if (conn) {
        conn->last_ms = now_ms;
        if (!conn->spoke || (key && !conn->principal)) {
            if (bind_conn (self, conn, rid, rid_size, key, now_ms) != FLING_CONN_OK)
                return FLING_CONN_DROP;
        } else if (key && key != conn->principal) {
            /* Cannot happen: a connection has one key. Cut it anyway. */
            close_conn (self, conn, &self->counters.key_mismatch, now_ms);
            return FLING_CONN_DROP;
        }
    }
    if (key && (key->revoked || (conn && conn->epoch != key->epoch))) {
        if (conn)
            close_conn (self, conn, &self->counters.revoked_closed, now_ms);
        return FLING_CONN_DROP;
    }
    *principal = key;
    return FLING_CONN_OK;
}

void fling_conns_close (fling_conns_t *self, int fd, const uint8_t *rid, size_t rid_size)
{
    if (fd < 0 || (size_t)fd >= self->by_fd_size || !self->by_fd[fd])
        return;
    conn_t *conn = self->by_fd[fd];
    if (conn->rid_size == rid_size && memcmp (conn->rid, rid, rid_size) == 0)
        close_conn (self, conn, &self->counters.policy_closed, fling_clock_ms ());
}

void fling_conns_tick (fling_conns_t *self, int64_t now_ms, fling_conns_closed_fn *closed,
                       void *arg)
{
    for (size_t fd = 0; fd < self->by_fd_size; fd++) {
        conn_t *conn = self->by_fd[fd];
        if (!conn)
            continue;
        if (conn->closing) {
            if (now_ms - conn->last_ms >= CLOSING_FORGET_MS)
                forget (self, conn);
            continue;
        }
        uint64_t *counter = NULL;
        const fling_principal_t *p = conn->principal;
        if (p && (p->revoked || p->epoch != conn->epoch))
            counter = &self->counters.revoked_closed;
        else if (self->limits.idle_timeout_ms &&
                 now_ms - conn->last_ms >= (int64_t)self->limits.idle_timeout_ms)
            counter = &self->counters.idle_closed;
        if (!counter)
            continue;
        FLING_LOG_LIMITED (FLING_LOG_INFO, "connection closed: %s fd=%d key=%s",
                           counter == &self->counters.idle_closed ? "idle" : "key revoked",
                           conn->fd, p ? p->name : "-");
        close_conn (self, conn, counter, now_ms);
        if (conn->spoke && closed)
            closed ((fling_conns_socket_t)conn->which, conn->fd, conn->rid, conn->rid_size, arg);
    }
}

/* ---- life cycle ----------------------------------------------------------- */

static void destroy_group (void **item)
{
    free (*item);
    *item = NULL;
}

fling_conns_t *fling_conns_new (const fling_conns_limits_t *limits, fling_auth_t *auth)
{
    fling_conns_t *self = (fling_conns_t *)calloc (1, sizeof *self);
    if (!self || !(self->groups = zhashx_new ())) {
        free (self);
        errno = ENOMEM;
        return NULL;
    }
    zhashx_set_destructor (self->groups, destroy_group);
    self->limits = *limits;
    self->auth = auth;
    return self;
}

void fling_conns_destroy (fling_conns_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    fling_conns_t *self = *self_p;
    for (int which = 0; which < FLING_CONNS_SOCKETS; which++)
        fling_monitor_destroy (&self->monitors[which]);
    for (size_t fd = 0; fd < self->by_fd_size; fd++)
        free (self->by_fd[fd]);
    free (self->by_fd);
    zhashx_destroy (&self->groups);
    free (self);
    *self_p = NULL;
}

int fling_conns_watch (fling_conns_t *self, fling_conns_socket_t which, zsock_t *sock)
{
    self->monitors[which] = fling_monitor_new (
        sock, ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_SUCCEEDED |
                  ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                  ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL);
    return self->monitors[which] ? 0 : -1;
}

void *fling_conns_monitor (fling_conns_t *self, fling_conns_socket_t which)
{
    return self->monitors[which] ? fling_monitor_handle (self->monitors[which]) : NULL;
}

size_t fling_conns_open (const fling_conns_t *self)
{
    return self->open;
}

size_t fling_conns_open_on (const fling_conns_t *self, fling_conns_socket_t which)
{
    return self->open_on[which];
}

const fling_conns_counters_t *fling_conns_counters (const fling_conns_t *self)
{
    return &self->counters;
}

const fling_conns_limits_t *fling_conns_limits (const fling_conns_t *self)
{
    return &self->limits;
}
