/*  fling_json_text.c - UTF-8 and escapes inside JSON strings
    (fling_json_text.h), by jansson 2.14's rules (src/utf.c, src/load.c).
*/
#include "fling_json_text.h"

#include <stdbool.h>

static inline bool is_digit (unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static int hex_value (unsigned char ch)
{
    if (is_digit (ch))
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

size_t fling_json_utf8_length (const unsigned char *p, const unsigned char *end)
{
    unsigned char u = *p;
    size_t n;
    uint32_t value;
    if (u >= 0xc2 && u <= 0xdf) {
        n = 2;
        value = u & 0x1f;
    } else if (u >= 0xe0 && u <= 0xef) {
        n = 3;
        value = u & 0x0f;
    } else if (u >= 0xf0 && u <= 0xf4) {
        n = 4;
        value = u & 0x07;
    } else
        return 0;
    if ((size_t)(end - p) < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
        value = (value << 6) | (p[i] & 0x3f);
    }
    if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
        return 0;
    if ((n == 3 && value < 0x800) || (n == 4 && value < 0x10000))
        return 0;
    return n;
}

static int hex4 (const unsigned char *p, const unsigned char *end)
{
    if (end - p < 4)
        return -1;
    int value = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value (p[i]);
        if (h < 0)
            return -1;
        value = value << 4 | h;
    }
    return value;
}

static int utf8_encode (uint32_t cp, unsigned char out[4])
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xc0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xe0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        out[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    out[0] = (unsigned char)(0xf0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    out[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

const unsigned char *fling_json_unescape (const unsigned char *p, const unsigned char *end,
                                          unsigned char out[4], int *out_size, const char **why)
{
    *why = "invalid escape";
    if (end - p < 2)
        return NULL;
    *out_size = 1;
    switch (p[1]) {
    case '"':
    case '\\':
    case '/':
        out[0] = p[1];
        return p + 2;
    case 'b':
        out[0] = '\b';
        return p + 2;
    case 'f':
        out[0] = '\f';
        return p + 2;
    case 'n':
        out[0] = '\n';
        return p + 2;
    case 'r':
        out[0] = '\r';
        return p + 2;
    case 't':
        out[0] = '\t';
        return p + 2;
    case 'u':
        break;
    default:
        return NULL;
    }
    int cp = hex4 (p + 2, end);
    if (cp < 0)
        return NULL;
    p += 6;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        *why = "lone low surrogate in a \\u escape";
        return NULL;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (end - p < 2 || p[0] != '\\' || p[1] != 'u') {
            *why = "high surrogate \\u escape not followed by a \\u escape";
            return NULL;
        }
        int low = hex4 (p + 2, end);
        if (low < 0)
            return NULL;
        if (low < 0xdc00 || low > 0xdfff) {
            *why = "high surrogate \\u escape not followed by a low one";
            return NULL;
        }
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        p += 6;
    }
    if (cp == 0) {
        *why = "\\u0000 (NUL) in a string";
        return NULL;
    }
    *out_size = utf8_encode ((uint32_t)cp, out);
    return p;
}
