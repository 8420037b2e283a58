/*  fling_json_check.c - see fling_json_check.h.

    An explicit state machine (no recursion) over a pointer into the
    buffer. Containers open at once are at most FLING_JSON_DEPTH_MAX, so
    their kinds fit in one bit mask. Every rule below is jansson 2.14's
    (src/load.c, src/utf.c, src/strconv.c); the differential fuzzer
    fuzz/fuzz_json.c holds the two to the same answers. Inside strings,
    UTF-8 and escapes are fling_json_text.c's.
*/
#include "fling_json_check.h"
#include "fling_json_text.h"
#include "fling_validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#if FLING_JSON_DEPTH_MAX > 64
#error "container kinds are kept in a 64-bit mask"
#endif

typedef struct {
    const unsigned char *start, *end;
    fling_json_error_t *error;
    size_t key_slots;
    size_t key_count;
    bool undecided; /* a key found no free slot: duplicates left to jansson */
    uint32_t key_hash[FLING_JSON_KEY_SLOTS];
    uint32_t key_offset[FLING_JSON_KEY_SLOTS];
    uint32_t key_size[FLING_JSON_KEY_SLOTS]; /* raw size; top bit: has escapes */
} check_t;

#define KEY_ESCAPED 0x80000000u

/* 1 for the bytes a string may hold as they are: printable ASCII but the
   quote and the backslash. */
static const unsigned char plain[256] = {
#define R4(x)  x, x, x, x
#define R16(x) R4 (x), R4 (x), R4 (x), R4 (x)
    R16 (0), R16 (0),                                                       /* 0x00-0x1f */
    1,       1,       0,       1,       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
    R16 (1),                                                                /* 0x30-0x3f */
    R16 (1),                                                                /* 0x40-0x4f */
    1,       1,       1,       1,       1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5f: '\\' */
    R16 (1), R16 (1),                                                       /* 0x60-0x7f */
    R16 (0), R16 (0), R16 (0), R16 (0),                                     /* 0x80-0xbf */
    R16 (0), R16 (0), R16 (0), R16 (0)                                      /* 0xc0-0xff */
#undef R16
#undef R4
};

/* Reals at or above this (2^1024 - 2^970, 309 digits) round to infinity:
   strtod says ERANGE and jansson refuses them. */
static const char real_overflow_digits[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977"
    "587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845"
    "817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559"
    "699508093042880177904174497792";
#define REAL_OVERFLOW_EXP 309 /* its number of digits before the point */

static bool fail (check_t *c, const unsigned char *at, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static bool fail (check_t *c, const unsigned char *at, const char *fmt, ...)
{
    fling_json_error_t *e = c->error;
    if (!e)
        return false;
    e->offset = (size_t)(at - c->start);
    e->line = 1;
    const unsigned char *line_start = c->start;
    for (const unsigned char *q = c->start; q < at; q++)
        if (*q == '\n') {
            e->line++;
            line_start = q + 1;
        }
    e->column = (int)(at - line_start) + 1;
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (e->text, sizeof e->text, fmt, ap);
    va_end (ap);
    return false;
}

static inline bool is_digit (unsigned char ch)
{
    return ch >= '0' && ch <= '9';
}

static inline const unsigned char *skip_space (const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r'))
        p++;
    return p;
}

/* ---- strings ------------------------------------------------------------- */

/* unescape for the checker: an invalid escape is the payload's error. */
static const unsigned char *checked_unescape (check_t *c, const unsigned char *p,
                                              unsigned char out[4], int *out_size)
{
    const char *why;
    const unsigned char *next = fling_json_unescape (p, c->end, out, out_size, &why);
    if (!next)
        fail (c, p, "%s", why);
    return next;
}

/* Refuses the byte at p inside a string (not plain, not '"', not '\\'). */
static bool bad_string_byte (check_t *c, const unsigned char *p)
{
    if (p == c->end)
        return fail (c, p, "premature end of input in a string");
    if (*p == 0)
        return fail (c, p, "NUL byte in payload");
    if (*p == '\n')
        return fail (c, p, "unexpected newline in a string");
    if (*p < 0x20)
        return fail (c, p, "control character 0x%x in a string", *p);
    return fail (c, p, "invalid UTF-8 byte 0x%x", *p);
}

/* A string value; p is past its opening quote. Returns the byte after the
   closing quote, or NULL. */
static const unsigned char *scan_string (check_t *c, const unsigned char *p)
{
    const unsigned char *end = c->end;
    for (;;) {
        while (p < end && plain[*p])
            p++;
        if (p == end)
            break;
        if (*p == '"')
            return p + 1;
        if (*p == '\\') {
            unsigned char out[4];
            int n;
            if (!(p = checked_unescape (c, p, out, &n)))
                return NULL;
        } else if (*p >= 0x80) {
            size_t n = fling_json_utf8_length (p, end);
            if (!n)
                break;
            p += n;
        } else
            break;
    }
    bad_string_byte (c, p);
    return NULL;
}

/* ---- keys and duplicates ------------------------------------------------- */

#define FNV_OFFSET 2166136261u
#define FNV_PRIME  16777619u

static inline uint32_t hash_bytes (uint32_t h, const unsigned char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * FNV_PRIME;
    return h;
}

/* Walks a checked key's decoded bytes. */
typedef struct {
    const unsigned char *p, *end;
    unsigned char buf[4];
    int size, next;
} key_walk_t;

static int key_walk_byte (key_walk_t *w)
{
    if (w->next < w->size)
        return w->buf[w->next++];
    if (w->p == w->end)
        return -1;
    if (*w->p != '\\')
        return *w->p++;
    const char *why;
    w->p = fling_json_unescape (w->p, w->end, w->buf, &w->size, &why);
    w->next = 1;
    return w->buf[0];
}

static bool same_key (const check_t *c, size_t slot, const unsigned char *key, uint32_t key_size)
{
    const unsigned char *other = c->start + c->key_offset[slot];
    uint32_t other_size = c->key_size[slot];
    if (!((other_size | key_size) & KEY_ESCAPED))
        return other_size == key_size && memcmp (other, key, key_size) == 0;
    key_walk_t a = {.p = key, .end = key + (key_size & ~KEY_ESCAPED)};
    key_walk_t b = {.p = other, .end = other + (other_size & ~KEY_ESCAPED)};
    for (;;) {
        int x = key_walk_byte (&a), y = key_walk_byte (&b);
        if (x != y)
            return false;
        if (x < 0)
            return true;
    }
}

/* Checks the key [key, key + size) (raw, between the quotes) against the
   earlier keys of its object (slots from `base`) and remembers it. */
static bool add_key (check_t *c, size_t base, const unsigned char *key, uint32_t size,
                     uint32_t hash)
{
    if (c->undecided)
        return true;
    for (size_t i = base; i < c->key_count; i++)
        if (c->key_hash[i] == hash && same_key (c, i, key, size))
            return fail (c, key - 1, "duplicate object key");
    if (c->key_count == c->key_slots) {
        c->undecided = true;
        return true;
    }
    c->key_hash[c->key_count] = hash;
    c->key_offset[c->key_count] = (uint32_t)(key - c->start);
    c->key_size[c->key_count] = size;
    c->key_count++;
    return true;
}

/* A key; p is past its opening quote. Like scan_string, plus a hash of the
   decoded bytes and the duplicate check. */
static const unsigned char *scan_key (check_t *c, const unsigned char *p, size_t base)
{
    const unsigned char *key = p, *end = c->end;
    uint32_t hash = FNV_OFFSET, escaped = 0;
    for (;;) {
        const unsigned char *run = p;
        while (p < end && plain[*p])
            p++;
        hash = hash_bytes (hash, run, (size_t)(p - run));
        if (p == end)
            break;
        if (*p == '"') {
            uint32_t size = (uint32_t)(p - key) | escaped;
            return add_key (c, base, key, size, hash) ? p + 1 : NULL;
        }
        if (*p == '\\') {
            unsigned char out[4];
            int n;
            if (!(p = checked_unescape (c, p, out, &n)))
                return NULL;
            hash = hash_bytes (hash, out, (size_t)n);
            escaped = KEY_ESCAPED;
        } else if (*p >= 0x80) {
            size_t n = fling_json_utf8_length (p, end);
            if (!n)
                break;
            hash = hash_bytes (hash, p, n);
            p += n;
        } else
            break;
    }
    bad_string_byte (c, p);
    return NULL;
}

/* ---- numbers and literals ------------------------------------------------ */

/* Would strtod round the real with these digits (digits, then frac, the
   point between them) and decimal exponent to infinity? Exact: compares
   the significant digits with the overflow threshold's. */
static bool real_overflows (const unsigned char *digits, size_t digits_size,
                            const unsigned char *frac, size_t frac_size, long exponent)
{
    /* Skip leading zeros; `magnitude` counts the digits before the point. */
    long magnitude = (long)digits_size;
    const unsigned char *d = digits, *d_end = digits + digits_size;
    while (d < d_end && *d == '0') {
        d++;
        magnitude--;
    }
    if (d == d_end) {
        d = frac;
        d_end = frac + frac_size;
        while (d < d_end && *d == '0') {
            d++;
            magnitude--;
        }
        if (d == d_end)
            return false; /* zero */
    }
    long scale = magnitude + exponent;
    if (scale != REAL_OVERFLOW_EXP)
        return scale > REAL_OVERFLOW_EXP;
    for (size_t i = 0; i < REAL_OVERFLOW_EXP; i++) {
        if (d == d_end && d_end != frac + frac_size) {
            d = frac; /* from the integer digits on to the fraction */
            d_end = frac + frac_size;
        }
        unsigned char digit = d < d_end ? *d++ : '0';
        if (digit != (unsigned char)real_overflow_digits[i])
            return digit > (unsigned char)real_overflow_digits[i];
    }
    return true; /* equal to the threshold or above it */
}

/* A number at p ('-' or a digit). Returns the byte after it, or NULL. */
static const unsigned char *scan_number (check_t *c, const unsigned char *p)
{
    const unsigned char *start = p, *end = c->end;
    bool negative = *p == '-';
    if (negative)
        p++;
    const unsigned char *digits = p;
    if (p == end || !is_digit (*p))
        return fail (c, start, "invalid number"), NULL;
    if (*p == '0') {
        p++;
        if (p < end && is_digit (*p))
            return fail (c, start, "invalid number (leading zero)"), NULL;
    } else
        while (p < end && is_digit (*p))
            p++;
    size_t digits_size = (size_t)(p - digits);
    const unsigned char *frac = p;
    size_t frac_size = 0;
    bool real = false;
    if (p < end && *p == '.') {
        frac = ++p;
        while (p < end && is_digit (*p))
            p++;
        frac_size = (size_t)(p - frac);
        if (!frac_size)
            return fail (c, start, "invalid number (no digit after the point)"), NULL;
        real = true;
    }
    long exponent = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        bool exp_negative = p < end && *p == '-';
        if (p < end && (*p == '-' || *p == '+'))
            p++;
        if (p == end || !is_digit (*p))
            return fail (c, start, "invalid number (no digit in the exponent)"), NULL;
        /* Saturates far beyond anything a 1 MiB payload can offset. */
        for (; p < end && is_digit (*p); p++)
            if (exponent < 100000000L)
                exponent = exponent * 10 + (*p - '0');
        if (exp_negative)
            exponent = -exponent;
        real = true;
    }
    if (real) {
        if (real_overflows (digits, digits_size, frac, frac_size, exponent))
            return fail (c, start, "real number overflow"), NULL;
        return p;
    }
    /* jansson's json_int_t is long long: strtoll's range. */
    static const char max_pos[] = "9223372036854775807", max_neg[] = "9223372036854775808";
    if (digits_size > 19 ||
        (digits_size == 19 && memcmp (digits, negative ? max_neg : max_pos, 19) > 0))
        return fail (c, start, negative ? "too big negative integer" : "too big integer"), NULL;
    return p;
}

static const unsigned char *scan_literal (check_t *c, const unsigned char *p)
{
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen (words[i]);
        if ((size_t)(c->end - p) >= n && memcmp (p, words[i], n) == 0)
            return p + n;
    }
    return fail (c, p, "invalid token"), NULL;
}

/* ---- structure ----------------------------------------------------------- */

static fling_json_verdict_t check (check_t *c)
{
    const unsigned char *p = skip_space (c->start, c->end), *end = c->end;
    uint64_t objects = 0; /* bit d-1: the container at depth d is an object */
    size_t key_base[FLING_JSON_DEPTH_MAX + 1];
    int depth = 0;
    if (p == end)
        return fail (c, p, "empty payload"), FLING_JSON_INVALID;
    if (*p != '{')
        return fail (c, p, "top level is not an object"), FLING_JSON_INVALID;

value: /* p: a value, whitespace skipped */
    if (p == end)
        return fail (c, p, "premature end of input"), FLING_JSON_INVALID;
    switch (*p) {
    case '{':
    case '[':
        if (depth == FLING_JSON_DEPTH_MAX)
            return fail (c, p, "nesting deeper than %d", FLING_JSON_DEPTH_MAX), FLING_JSON_INVALID;
        depth++;
        if (*p++ == '{') {
            objects |= UINT64_C (1) << (depth - 1);
            key_base[depth] = c->key_count;
            p = skip_space (p, end);
            if (p < end && *p == '}') {
                p++;
                goto close;
            }
            goto key;
        }
        objects &= ~(UINT64_C (1) << (depth - 1));
        p = skip_space (p, end);
        if (p < end && *p == ']') {
            p++;
            goto close;
        }
        goto value;
    case '"':
        p = scan_string (c, p + 1);
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        p = scan_number (c, p);
        break;
    case 't':
    case 'f':
    case 'n':
        p = scan_literal (c, p);
        break;
    default:
        return fail (c, p, "invalid token"), FLING_JSON_INVALID;
    }
    if (!p)
        return FLING_JSON_INVALID;
    goto after;

key: /* p: a key, whitespace skipped */
    if (p == end || *p != '"')
        return fail (c, p, "string or '}' expected"), FLING_JSON_INVALID;
    p = scan_key (c, p + 1, key_base[depth]);
    if (!p)
        return FLING_JSON_INVALID;
    p = skip_space (p, end);
    if (p == end || *p != ':')
        return fail (c, p, "':' expected"), FLING_JSON_INVALID;
    p = skip_space (p + 1, end);
    goto value;

close: /* a container just ended */
    if (objects >> (depth - 1) & 1)
        c->key_count = key_base[depth];
    if (--depth == 0) {
        p = skip_space (p, end);
        if (p != end)
            return fail (c, p, "end of input expected"), FLING_JSON_INVALID;
        return c->undecided ? FLING_JSON_UNDECIDED : FLING_JSON_VALID;
    }

after: /* a value just ended inside the container at `depth` */
    p = skip_space (p, end);
    if (p == end)
        return fail (c, p, "premature end of input"), FLING_JSON_INVALID;
    bool object = objects >> (depth - 1) & 1;
    if (*p == ',') {
        p = skip_space (p + 1, end);
        if (object)
            goto key;
        goto value;
    }
    if (*p == (object ? '}' : ']')) {
        p++;
        goto close;
    }
    return fail (c, p, object ? "',' or '}' expected" : "',' or ']' expected"), FLING_JSON_INVALID;
}

fling_json_verdict_t fling_json_check (const char *json, size_t size, size_t key_slots,
                                       fling_json_error_t *error)
{
    check_t c;
    c.start = (const unsigned char *)json;
    c.end = c.start + size;
    c.error = error;
    c.key_slots = key_slots < FLING_JSON_KEY_SLOTS ? key_slots : FLING_JSON_KEY_SLOTS;
    if (size >= KEY_ESCAPED)
        c.key_slots = 0; /* key offsets and sizes are 31-bit: leave duplicates to jansson */
    c.key_count = 0;
    c.undecided = false;
    return check (&c);
}
