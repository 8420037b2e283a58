/*  fling_logfmt.c - see fling_logfmt.h. */
#include "fling_logfmt.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *const format_names[] = {"text", "logfmt", "json"};

int fling_log_format_parse (const char *text)
{
    for (int i = 0; i < 3; i++)
        if (strcmp (text, format_names[i]) == 0)
            return i;
    return -1;
}

const char *fling_log_format_name (int format)
{
    return format >= 0 && format < 3 ? format_names[format] : "unknown";
}

int fling_log_format_option (int *out, const char *value, char *why, size_t why_size)
{
    int format = fling_log_format_parse (value);
    if (format < 0) {
        snprintf (why, why_size, "not one of text, logfmt, json");
        return -1;
    }
    *out = format;
    return 0;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0. */
static size_t utf8_length (const unsigned char *p, size_t left)
{
    size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || n > left)
        return 0;
    for (size_t i = 1; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if ((n == 3 && p[0] == 0xe0 && p[1] < 0xa0) || (n == 3 && p[0] == 0xed && p[1] >= 0xa0) ||
        (n == 4 && p[0] == 0xf0 && p[1] < 0x90) || (n == 4 && p[0] == 0xf4 && p[1] >= 0x90))
        return 0; /* overlong, surrogate, above U+10FFFF */
    return n;
}

char *fling_logfmt_quote (char *out, size_t out_size, const char *text, size_t size)
{
    if (out_size < 3) {
        if (out_size)
            out[0] = '\0';
        return out;
    }
    const unsigned char *p = (const unsigned char *)text;
    size_t n = 0, room = out_size - 2; /* the closing quote and NUL */
    out[n++] = '"';
    for (size_t i = 0; i < size;) {
        char escape[8] = "";
        size_t take = 1;
        if (p[i] == '"' || p[i] == '\\')
            snprintf (escape, sizeof escape, "\\%c", p[i]);
        else if (p[i] == '\n' || p[i] == '\r' || p[i] == '\t')
            snprintf (escape, sizeof escape, "\\%c", p[i] == '\n' ? 'n' : p[i] == '\r' ? 'r' : 't');
        else if (p[i] < 0x20 || p[i] == 0x7f)
            snprintf (escape, sizeof escape, "\\u%04x", p[i]);
        else if (p[i] >= 0x80 && (take = utf8_length (p + i, size - i)) == 0) {
            snprintf (escape, sizeof escape, "\\ufffd");
            take = 1;
        }
        size_t len = escape[0] ? strlen (escape) : take;
        if (n + len > room)
            break;
        memcpy (out + n, escape[0] ? escape : (const char *)p + i, len);
        n += len;
        i += take;
    }
    out[n++] = '"';
    out[n] = '\0';
    return out;
}

/* ---- lines ------------------------------------------------------------------ */

typedef struct {
    char *out;
    size_t size, used;
} buf_t;

static void put (buf_t *b, const char *text, size_t len)
{
    if (b->used + len >= b->size)
        len = b->size - b->used - 1;
    memcpy (b->out + b->used, text, len);
    b->used += len;
    b->out[b->used] = '\0';
}

static void put_quoted (buf_t *b, const char *text, size_t len)
{
    char quoted[2048];
    fling_logfmt_quote (quoted, sizeof quoted, text, len);
    put (b, quoted, strlen (quoted));
}

/* "key=" at p: the key's length, else 0. */
static size_t key_at (const char *p)
{
    size_t n = 0;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || p[n] == '_' ||
           (n && ((p[n] >= '0' && p[n] <= '9') || p[n] == '.' || p[n] == '-')))
        n++;
    return n && p[n] == '=' ? n : 0;
}

/* A quoted value from '"' to its closing '"' (escapes skipped); its length. */
static size_t quoted_at (const char *p)
{
    size_t n = 1;
    while (p[n] && p[n] != '"')
        n += p[n] == '\\' && p[n + 1] ? 2 : 1;
    return p[n] == '"' ? n + 1 : 0;
}

static bool is_integer (const char *p, size_t len)
{
    size_t i = p[0] == '-' ? 1 : 0;
    if (i == len || len - i > 18 || (p[i] == '0' && len - i > 1))
        return false;
    for (; i < len; i++)
        if (p[i] < '0' || p[i] > '9')
            return false;
    return true;
}

/* A logfmt value that can stand bare: not empty, nothing a reader would
   take for the end of it or for a quote. */
static bool bare_safe (const char *value, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f)
            return false;
    }
    return len > 0;
}

static void put_pair (buf_t *b, fling_log_format_t format, const char *key, size_t key_len,
                      const char *value, size_t value_len, bool quoted)
{
    bool json = format == FLING_LOG_FORMAT_JSON;
    put (b, json ? ",\"" : " ", json ? 2 : 1);
    put (b, key, key_len);
    put (b, json ? "\":" : "=", json ? 2 : 1);
    if (quoted || (json ? is_integer (value, value_len) : bare_safe (value, value_len)))
        put (b, value, value_len); /* quoted by fling_logfmt_quote already, or safe bare */
    else
        put_quoted (b, value, value_len);
}

void fling_logfmt_line (char *out, size_t out_size, fling_log_format_t format, const char *time,
                        const char *level, const char *component, const char *body)
{
    buf_t b = {out, out_size, 0};
    out[0] = '\0';
    if (out_size < 2)
        return;
    bool json = format == FLING_LOG_FORMAT_JSON;
    /* The message: up to the first word that is key=value. */
    const char *p = body, *msg_end = body + strlen (body);
    for (const char *word = body; *word;) {
        if (key_at (word) && (word == body || word[-1] == ' ')) {
            msg_end = word;
            break;
        }
        const char *space = strchr (word, ' ');
        if (!space)
            break;
        word = space + 1;
    }
    size_t msg_len = (size_t)(msg_end - body);
    while (msg_len && body[msg_len - 1] == ' ')
        msg_len--;
    put (&b, json ? "{\"time\":\"" : "time=", json ? 9 : 5);
    put (&b, time, strlen (time));
    put (&b, json ? "\",\"level\":\"" : " level=", json ? 11 : 7);
    put (&b, level, strlen (level));
    put (&b, json ? "\",\"component\":\"" : " component=", json ? 15 : 11);
    put (&b, component, strlen (component));
    put (&b, json ? "\",\"msg\":" : " msg=", json ? 8 : 5);
    put_quoted (&b, body, msg_len);
    for (p = msg_end; *p;) {
        while (*p == ' ')
            p++;
        size_t key_len = key_at (p);
        if (!key_len) { /* not key=value: keep it, as "rest" */
            size_t len = strlen (p);
            if (len)
                put_pair (&b, format, "rest", 4, p, len, false);
            break;
        }
        const char *value = p + key_len + 1;
        size_t quoted = *value == '"' ? quoted_at (value) : 0;
        size_t len = quoted ? quoted : strcspn (value, " \n\r\t");
        put_pair (&b, format, p, key_len, value, len, quoted > 0);
        p = value + len;
    }
    if (json)
        put (&b, "}", 1);
}
