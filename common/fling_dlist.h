/*  fling_dlist.h - an intrusive doubly linked list (internal).

    The link lives inside the listed object (a task), so putting an object
    on a list costs no allocation and taking it off, from anywhere in the
    list, costs O(1). An object may carry several links and sit on one
    list per link. FLING_DLIST_ITEM gets from a link back to its object.

    Used for the worker's tasks in flight, its backlogs and deadline lanes,
    and the broker's queues, leases, parked and dead tasks. Not thread
    safe: each list belongs to one thread.
*/
#ifndef FLING_DLIST_H_INCLUDED
#define FLING_DLIST_H_INCLUDED

#include <stddef.h>

typedef struct fling_dlink {
    struct fling_dlink *prev, *next;
} fling_dlink_t;

typedef struct {
    fling_dlink_t *head, *tail;
    size_t count;
} fling_dlist_t;

/*  The object of type `type` whose member `member` is `link`; NULL for a
    NULL link, so list walks can stop on it. `link` is evaluated once. */
#define FLING_DLIST_ITEM(link, type, member)                                                       \
    ((type *)fling_dlist_item_ ((link), offsetof (type, member)))

static inline void *fling_dlist_item_ (fling_dlink_t *link, size_t offset)
{
    return link ? (void *)((char *)link - offset) : NULL;
}

/*  Inserts `link` (on no list) after `after`, or at the head when `after`
    is NULL. */
static inline void fling_dlist_insert_after (fling_dlist_t *list, fling_dlink_t *after,
                                             fling_dlink_t *link)
{
    link->prev = after;
    link->next = after ? after->next : list->head;
    if (link->next)
        link->next->prev = link;
    else
        list->tail = link;
    if (after)
        after->next = link;
    else
        list->head = link;
    list->count++;
}

static inline void fling_dlist_push_head (fling_dlist_t *list, fling_dlink_t *link)
{
    fling_dlist_insert_after (list, NULL, link);
}

static inline void fling_dlist_push_tail (fling_dlist_t *list, fling_dlink_t *link)
{
    fling_dlist_insert_after (list, list->tail, link);
}

/*  Takes `link`, which must be on `list`, off it. */
static inline void fling_dlist_remove (fling_dlist_t *list, fling_dlink_t *link)
{
    if (link->prev)
        link->prev->next = link->next;
    else
        list->head = link->next;
    if (link->next)
        link->next->prev = link->prev;
    else
        list->tail = link->prev;
    link->prev = link->next = NULL;
    list->count--;
}

/*  Takes the head off and returns it; NULL when the list is empty. */
static inline fling_dlink_t *fling_dlist_pop_head (fling_dlist_t *list)
{
    fling_dlink_t *link = list->head;
    if (link)
        fling_dlist_remove (list, link);
    return link;
}

#endif
