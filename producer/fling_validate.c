/*  fling_validate.c - see fling_validate.h. */
#include "fling_validate.h"
#include "fling_json_check.h"
#include "fling_error.h"
#include "fling_proto.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

int fling_validate_name (const char *name, size_t name_size)
{
    if (!name || !fling_name_valid (name, name_size)) {
        fling_set_last_error (FLING_EBADNAME, NULL);
        return -1;
    }
    return 0;
}

static int bad_json (const char *detail)
{
    fling_set_last_error (FLING_EBADJSON, detail);
    return -1;
}

/*  jansson has no run-time depth limit (its compile-time one is 2048), so
    one cheap pass counts brackets outside strings first. The same pass
    refuses NUL bytes, which jansson would otherwise read as the end of
    the text in places. Unbalanced brackets are left to the parser. */
static int prescan (const char *json, size_t size)
{
    const unsigned char *p = (const unsigned char *)json, *end = p + size;
    int depth = 0;
    char detail[64];
    while (p < end) {
        unsigned char c = *p++;
        if (c == '"') {
            /* Skip the string, escapes included. */
            while (p < end && *p != '"') {
                if (*p == 0)
                    return bad_json ("NUL byte in payload");
                if (*p == '\\' && end - p > 1)
                    p++;
                p++;
            }
            if (p < end)
                p++;
        } else if (c == '{' || c == '[') {
            if (++depth > FLING_JSON_DEPTH_MAX) {
                snprintf (detail, sizeof detail, "nesting deeper than %d at byte %zu",
                          FLING_JSON_DEPTH_MAX, (size_t)(p - 1 - (const unsigned char *)json));
                return bad_json (detail);
            }
        } else if (c == '}' || c == ']') {
            depth--;
        } else if (c == 0) {
            return bad_json ("NUL byte in payload");
        }
    }
    return 0;
}

/*  The old rules, kept as the reference the new check must equal: the
    prescan above, then jansson builds (and frees) a whole tree. */
int fling_validate_payload_reference (const char *json, size_t json_size)
{
    if (!json)
        return bad_json ("no payload");
    if (json_size > FLING_PAYLOAD_MAX) {
        fling_set_last_error (FLING_ETOOLARGE, "payload above 1 MiB");
        return -1;
    }
    if (prescan (json, json_size))
        return -1;
    /* No JSON_DECODE_ANY: the top level must be an object or array; no
       JSON_ALLOW_NUL: "\u0000" in a string is refused; EOF check on:
       trailing garbage is refused. */
    json_error_t error;
    json_t *root = json_loadb (json, json_size, JSON_REJECT_DUPLICATES, &error);
    if (!root) {
        char detail[sizeof error.text + 64];
        snprintf (detail, sizeof detail, "%s at line %d column %d (byte %d)", error.text,
                  error.line, error.column, error.position);
        return bad_json (detail);
    }
    bool object = json_is_object (root);
    json_decref (root);
    return object ? 0 : bad_json ("top level is not an object");
}

int fling_validate_payload (const char *json, size_t json_size)
{
    if (!json)
        return bad_json ("no payload");
    if (json_size > FLING_PAYLOAD_MAX) {
        fling_set_last_error (FLING_ETOOLARGE, "payload above 1 MiB");
        return -1;
    }
    fling_json_error_t error;
    switch (fling_json_check (json, json_size, FLING_JSON_KEY_SLOTS, &error)) {
    case FLING_JSON_VALID:
        return 0;
    case FLING_JSON_UNDECIDED:
        /* More keys open at once than the check has slots for: jansson
           decides duplicates (same semantics, slower, rare). */
        return fling_validate_payload_reference (json, json_size);
    default:
        break;
    }
    /* The old prescan named a NUL byte first, wherever it was: keep that,
       it is the likelier mistake (a C string built with a length). */
    char detail[sizeof error.text + 64];
    const char *nul = (const char *)memchr (json, 0, json_size);
    if (nul) {
        snprintf (detail, sizeof detail, "NUL byte in payload (byte %zu)", (size_t)(nul - json));
        return bad_json (detail);
    }
    snprintf (detail, sizeof detail, "%s at line %d column %d (byte %zu)", error.text, error.line,
              error.column, error.offset);
    return bad_json (detail);
}

int fling_validate_task (const char *name, const char *json, size_t json_size, size_t *name_size,
                         size_t *json_size_out)
{
    size_t nsize = name ? strnlen (name, FLING_NAME_MAX + 1) : 0;
    if (fling_validate_name (name, nsize))
        return -1;
    if (json && json_size == 0)
        json_size = strnlen (json, (size_t)FLING_PAYLOAD_MAX + 1);
    if (fling_validate_payload (json, json_size))
        return -1;
    if (name_size)
        *name_size = nsize;
    if (json_size_out)
        *json_size_out = json_size;
    return 0;
}
