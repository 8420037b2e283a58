/*  fling_api.h - what fling's public headers share.

    Included by fling_producer.h, fling_worker.h and fling_error.h (installed
    with them) and by the internal codec, so each definition is written once.
*/
#ifndef FLING_API_H_INCLUDED
#define FLING_API_H_INCLUDED

/*  Marks a function the library exports. libfling is built with hidden
    visibility, so only what its headers declare with this mark is in its
    dynamic symbol table (`nm -D`); the rest stays inside it. */
#if defined(__GNUC__) || defined(__clang__)
#define FLING_EXPORT __attribute__ ((visibility ("default")))
#else
#define FLING_EXPORT
#endif

/*  Room for a task id's text form and its NUL: 16 hex digits of producer id,
    ':', the decimal sequence number (up to 20 digits), e.g.
    "9f86d081884c7d65:42". fling_send_ex writes one; fling_task_id returns one. */
#define FLING_TASK_ID_TEXT_SIZE 40

#endif
