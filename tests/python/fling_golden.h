/*  fling_golden.h - shared by fling_golden.c (the program, its modes and
    the rendering of a decoded message) and fling_golden_vectors.c (the
    vectors its `write` mode prints). */
#ifndef FLING_GOLDEN_H_INCLUDED
#define FLING_GOLDEN_H_INCLUDED

#include <czmq.h>
#include <jansson.h>

/*  Prints one vector line: `msg`'s frames and what fling_msg_decode makes
    of them ("good" with the rendered message, or "bad" with the reason).
    Takes `msg`. */
void fling_golden_emit (const char *name, zmsg_t *msg);

/*  `size` bytes as a JSON string of lowercase hex. */
json_t *fling_golden_hex (const void *data, size_t size);

/*  Prints every vector (write mode). */
void fling_golden_write (void);

#endif
