/*  fling_options.h - the one command-line and environment parser of fling's
    programs (fling-broker, fling-worker, fling, fling-load).

    Each program describes its options in a table: flag, environment
    variable, type, where the value lands in the program's config struct,
    bounds and help. The parser then behaves the same everywhere:

    - numbers are decimal, without sign or spaces, and inside [min, max];
    - a flag always beats its environment variable, and an environment
      variable whose flag is given is not even parsed (a bad value in the
      environment cannot stop a program that was told otherwise);
    - endpoints are checked (transport, host, port 1-65535 or `*`) before a
      socket ever sees them: libzmq takes `tcp://host:99999` modulo 65536;
    - descriptors must be open when the program starts;
    - defaults are written once, in the program's init function: the help
      prints each option's default from a freshly initialised config.

    `--` ends the options; `-h` and `--help` ask for help.
*/
#ifndef FLING_OPTIONS_H_INCLUDED
#define FLING_OPTIONS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    FLING_OPT_FLAG,     /* bool; takes no value (env: 1/true/yes or 0/false/no) */
    FLING_OPT_UINT,     /* unsigned in [min, max] */
    FLING_OPT_U64,      /* uint64_t in [min, max] */
    FLING_OPT_TEXT,     /* non-empty text: const char * (size 0) or char[size] */
    FLING_OPT_ENDPOINT, /* a ZeroMQ endpoint, checked; stored as FLING_OPT_TEXT */
    FLING_OPT_FD,       /* int: an open file descriptor */
    FLING_OPT_LEVEL,    /* fling_log_level_t: debug, info, warn, error */
    FLING_OPT_CUSTOM    /* parse() decides; may be given many times */
} fling_opt_type_t;

/*  For FLING_OPT_CUSTOM: stores `value` into `config`. `from_env` says the
    value is a whole environment variable (a list, for a repeatable flag:
    the environment is read only when no such flag is given, so flags
    replace its list). 0, or -1 after writing why into `why`. */
typedef int (fling_opt_parse_fn) (void *config, const char *value, bool from_env, char *why,
                                  size_t why_size);

typedef struct {
    const char *flag; /* "--max-tasks" */
    const char *env;  /* "FLING_MAX_TASKS"; NULL: flag only */
    fling_opt_type_t type;
    size_t offset;     /* of the field in the config struct */
    size_t size;       /* FLING_OPT_TEXT/ENDPOINT: char[size]; 0 = const char * */
    uint64_t min, max; /* numbers; text in a const char *: max bytes (0 = any) */
    fling_opt_parse_fn *parse;
    const char *value_name;   /* in the help: "N", "URL"; NULL for flags */
    const char *help;         /* one line or more ('\n'); the default is added */
    const char *default_text; /* shown instead of the field's value; "" = none */
} fling_option_t;

typedef struct {
    const char *program; /* "fling-worker", for messages */
    const fling_option_t *options;
    size_t count;
    const char **positional; /* NULL: none allowed */
    size_t positional_max;
    size_t positional_count; /* out */
} fling_options_t;

/*  Parses argv (and the environment) into `config`, which holds its
    defaults already. Returns 0, 1 when help was asked for, or -1 with a
    one-line reason in `error`. */
int fling_options_parse (fling_options_t *self, void *config, int argc, char *const argv[],
                         char *error, size_t error_size);

/*  Prints one block per option: flag, value name, help, environment
    variable and the default read from `defaults` (an initialised config). */
void fling_options_usage (const fling_options_t *self, const void *defaults, FILE *out);

/*  Checks a ZeroMQ endpoint: tcp://HOST:PORT (PORT 1-65535, or * to bind an
    ephemeral port; HOST a name, an address, [IPv6] or *), ipc://PATH or
    inproc://NAME. 0, or -1 with the reason in `why`. */
int fling_endpoint_check (const char *endpoint, char *why, size_t why_size);

/*  Parses a decimal number in [min, max]: no sign, no spaces, no suffix.
    0, or -1. */
int fling_number_parse (const char *text, uint64_t min, uint64_t max, uint64_t *out);

#endif
