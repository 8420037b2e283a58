/*  fling_json_text.h - the text inside JSON strings, for the payload check
    (fling_json_check.c): UTF-8 sequences and backslash escapes, by the
    rules of jansson 2.14 (src/utf.c, src/load.c). No allocation; `end` is
    one past the last byte that may be read.
*/
#ifndef FLING_JSON_TEXT_H_INCLUDED
#define FLING_JSON_TEXT_H_INCLUDED

#include <stddef.h>
#include <stdint.h>

/*  Length of the valid UTF-8 sequence at p (lead byte >= 0x80), or 0. Same
    rules as jansson's utf8_check_first + utf8_check_full: no overlong
    form, no encoded surrogate, nothing above U+10FFFF. */
size_t fling_json_utf8_length (const unsigned char *p, const unsigned char *end);

/*  Decodes the escape at p (a backslash) into out[] (*out_size bytes, the
    UTF-8 of what it stands for) and returns the byte after it; NULL with
    *why on an invalid escape (a lone or unpaired surrogate, \u0000, an
    unknown letter). Both the checker and its key comparison use it, so a
    key compares as jansson stores it. */
const unsigned char *fling_json_unescape (const unsigned char *p, const unsigned char *end,
                                          unsigned char out[4], int *out_size, const char **why);

#endif
