/*  fling_options.c - see fling_options.h. */
#include "fling_options.h"
#include "fling_log.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int fling_number_parse (const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!text || *text < '0' || *text > '9')
        return -1;
    char *end;
    errno = 0;
    unsigned long long value = strtoull (text, &end, 10);
    if (errno || *end || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

static int check_tcp (const char *address, char *why, size_t why_size)
{
    const char *colon = strrchr (address, ':');
    if (!colon || colon == address) {
        snprintf (why, why_size, "needs HOST:PORT after tcp://");
        return -1;
    }
    if (address[0] == '[' && colon[-1] != ']') {
        snprintf (why, why_size, "an IPv6 address goes in brackets: tcp://[::1]:5555");
        return -1;
    }
    bool bracketed = address[0] == '[';
    for (const char *p = address; p < colon; p++)
        if (*p <= ' ' || *p == '/' || (*p == ':' && !bracketed)) {
            snprintf (why, why_size,
                      *p == ':' ? "an IPv6 address goes in brackets: tcp://[::1]:5555"
                                : "bad character in the host");
            return -1;
        }
    uint64_t port;
    if (strcmp (colon + 1, "*") != 0 && fling_number_parse (colon + 1, 1, 65535, &port)) {
        snprintf (why, why_size, "the port must be a number from 1 to 65535 (or * to bind any)");
        return -1;
    }
    return 0;
}

int fling_endpoint_check (const char *endpoint, char *why, size_t why_size)
{
    static const char *const others[] = {"ipc://", "inproc://"};
    if (strncmp (endpoint, "tcp://", 6) == 0)
        return check_tcp (endpoint + 6, why, why_size);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        size_t prefix = strlen (others[i]);
        if (strncmp (endpoint, others[i], prefix) == 0) {
            if (endpoint[prefix])
                return 0;
            snprintf (why, why_size, "nothing after %s", others[i]);
            return -1;
        }
    }
    snprintf (why, why_size, "not tcp://HOST:PORT, ipc://PATH or inproc://NAME");
    return -1;
}

static int parse_bool (const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"}, *const no[] = {"0", "false", "no",
                                                                                "off"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp (text, yes[i]) == 0)
            return *out = true, 0;
        if (strcasecmp (text, no[i]) == 0)
            return *out = false, 0;
    }
    return -1;
}

static int store_text (const fling_option_t *option, char *field, const char *value)
{
    if (!*value)
        return -1;
    if (option->size == 0) {
        if (option->max && strlen (value) > option->max)
            return -1;
        *(const char **)field = value;
        return 0;
    }
    if (strlen (value) >= option->size)
        return -1;
    strcpy (field, value);
    return 0;
}

/* Stores one value. `source` names it in messages: the flag or the env. */
static int apply (const fling_option_t *option, void *config, const char *source, const char *value,
                  bool from_env, char *error, size_t error_size)
{
    char *field = (char *)config + option->offset;
    char why[160] = "";
    uint64_t number = 0;
    int level;
    switch (option->type) {
    case FLING_OPT_FLAG:
        if (parse_bool (value, (bool *)field) == 0)
            return 0;
        snprintf (why, sizeof why, "not one of 1, true, yes, on, 0, false, no, off");
        break;
    case FLING_OPT_UINT:
    case FLING_OPT_U64:
    case FLING_OPT_FD:
        if (fling_number_parse (value, option->min, option->max, &number) == 0) {
            if (option->type == FLING_OPT_U64)
                *(uint64_t *)field = number;
            else if (option->type == FLING_OPT_UINT)
                *(unsigned *)field = (unsigned)number;
            else if (fcntl ((int)number, F_GETFD) != -1)
                *(int *)field = (int)number;
            else {
                snprintf (why, sizeof why, "not an open file descriptor");
                break;
            }
            return 0;
        }
        snprintf (why, sizeof why, "not a number from %" PRIu64 " to %" PRIu64, option->min,
                  option->max);
        break;
    case FLING_OPT_ENDPOINT:
        if (fling_endpoint_check (value, why, sizeof why))
            break;
        /* fall through */
    case FLING_OPT_TEXT:
        if (store_text (option, field, value) == 0)
            return 0;
        snprintf (why, sizeof why, *value ? "longer than %zu bytes" : "empty",
                  option->size ? option->size - 1 : (size_t)option->max);
        break;
    case FLING_OPT_LEVEL:
        if ((level = fling_log_level_parse (value)) >= 0) {
            *(fling_log_level_t *)field = (fling_log_level_t)level;
            return 0;
        }
        snprintf (why, sizeof why, "not one of debug, info, warn, error");
        break;
    case FLING_OPT_CUSTOM:
        if (option->parse (config, value, from_env, why, sizeof why) == 0)
            return 0;
        break;
    }
    snprintf (error, error_size, "%s: bad value \"%s\": %s", source, value, why);
    return -1;
}

static const fling_option_t *find (const fling_options_t *self, const char *arg, size_t length)
{
    for (size_t i = 0; i < self->count; i++)
        if (strlen (self->options[i].flag) == length &&
            strncmp (self->options[i].flag, arg, length) == 0)
            return &self->options[i];
    return NULL;
}

static bool asks_help (int argc, char *const argv[])
{
    for (int i = 1; i < argc && strcmp (argv[i], "--") != 0; i++)
        if (strcmp (argv[i], "--help") == 0 || strcmp (argv[i], "-h") == 0)
            return true;
    return false;
}

typedef struct {
    const fling_option_t *option;
    const char *value;
} given_t;

/* Pass 1: which options argv gives, with their values; positionals. */
static int scan (fling_options_t *self, int argc, char *const argv[], given_t *given,
                 size_t *given_count, char *error, size_t error_size)
{
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp (arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (options_done || arg[0] != '-' || arg[1] == '\0') {
            if (self->positional_count == self->positional_max || !self->positional) {
                snprintf (error, error_size, "unexpected argument \"%s\"", arg);
                return -1;
            }
            self->positional[self->positional_count++] = arg;
            continue;
        }
        const char *equals = strchr (arg, '=');
        const fling_option_t *option =
            find (self, arg, equals ? (size_t)(equals - arg) : strlen (arg));
        if (!option) {
            snprintf (error, error_size, "unknown option \"%s\" (try --help)", arg);
            return -1;
        }
        const char *value = equals ? equals + 1 : NULL;
        if (option->type == FLING_OPT_FLAG && value) {
            snprintf (error, error_size, "%s takes no value", option->flag);
            return -1;
        }
        if (option->type == FLING_OPT_FLAG)
            value = "1";
        else if (!value && i + 1 < argc)
            value = argv[++i];
        else if (!value) {
            snprintf (error, error_size, "%s needs a value", option->flag);
            return -1;
        }
        given[(*given_count)++] = (given_t){option, value};
    }
    return 0;
}

static bool is_given (const given_t *given, size_t count, const fling_option_t *option)
{
    for (size_t i = 0; i < count; i++)
        if (given[i].option == option)
            return true;
    return false;
}

int fling_options_parse (fling_options_t *self, void *config, int argc, char *const argv[],
                         char *error, size_t error_size)
{
    self->positional_count = 0;
    if (asks_help (argc, argv))
        return 1;
    given_t *given = calloc ((size_t)(argc > 0 ? argc : 1), sizeof *given);
    size_t count = 0;
    int rc = given ? scan (self, argc, argv, given, &count, error, error_size) : -1;
    if (!given)
        snprintf (error, error_size, "out of memory");
    /* The environment first, for the options no flag gives. */
    for (size_t i = 0; rc == 0 && i < self->count; i++) {
        const fling_option_t *option = &self->options[i];
        const char *value = option->env ? getenv (option->env) : NULL;
        if (value && *value && !is_given (given, count, option))
            rc = apply (option, config, option->env, value, true, error, error_size);
    }
    for (size_t i = 0; rc == 0 && i < count; i++)
        rc = apply (given[i].option, config, given[i].option->flag, given[i].value, false, error,
                    error_size);
    free (given);
    return rc;
}

/* The default of one option, read from an initialised config; "" if none. */
static void format_default (const fling_option_t *option, const void *defaults, char *out,
                            size_t size)
{
    const char *field = (const char *)defaults + option->offset;
    const char *text = NULL;
    out[0] = '\0';
    if (option->default_text) {
        snprintf (out, size, "%s", option->default_text);
        return;
    }
    switch (option->type) {
    case FLING_OPT_UINT:
        snprintf (out, size, "%u", *(const unsigned *)field);
        return;
    case FLING_OPT_U64:
        snprintf (out, size, "%" PRIu64, *(const uint64_t *)field);
        return;
    case FLING_OPT_LEVEL:
        snprintf (out, size, "%s", fling_log_level_name (*(const fling_log_level_t *)field));
        return;
    case FLING_OPT_TEXT:
    case FLING_OPT_ENDPOINT:
        text = option->size ? field : *(const char *const *)field;
        snprintf (out, size, "%s", text ? text : "");
        return;
    default:
        return;
    }
}

void fling_options_usage (const fling_options_t *self, const void *defaults, FILE *out)
{
    for (size_t i = 0; i < self->count; i++) {
        const fling_option_t *option = &self->options[i];
        char head[64], fallback[300];
        snprintf (head, sizeof head, "%s%s%s", option->flag, option->value_name ? " " : "",
                  option->value_name ? option->value_name : "");
        format_default (option, defaults, fallback, sizeof fallback);
        const char *help = option->help;
        /* Help text may span lines; each is indented under the flag. */
        for (bool first = true; first || *help; first = false) {
            const char *newline = strchr (help, '\n');
            int length = newline ? (int)(newline - help) : (int)strlen (help);
            fprintf (out, "  %-28s %.*s\n", first ? head : "", length, help);
            help += length + (newline ? 1 : 0);
        }
        if (option->env || fallback[0])
            fprintf (out, "  %-28s %s%s%s%s%s\n", "", option->env ? "env " : "",
                     option->env ? option->env : "", option->env && fallback[0] ? "; " : "",
                     fallback[0] ? "default " : "", fallback);
    }
    fprintf (out, "  %-28s %s\n", "-h, --help", "print this text and exit");
}
