/*  fling_keygen.c - `fling keygen`: one party's CURVE key pair.

    NAME.pub is the public certificate (czmq format) with two metadata
    fields, `role` and `name`: the broker admits it by finding it in its
    allowed directory, and takes the role from there. NAME.secret holds
    both keys and is written with mode 0600; a client and the broker refuse
    a secret file that group or others may read. Existing files are never
    overwritten: rotating a key is a new name (SECURITY.md).
*/
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "fling_cli.h"

#define NAME_MAX_LEN 63 /* zauth copies metadata into a small buffer: keep it short */

static bool valid_name (const char *name)
{
    size_t size = strlen (name);
    if (size == 0 || size > NAME_MAX_LEN || name[0] == '.')
        return false;
    for (size_t i = 0; i < size; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

static bool valid_role (const char *role)
{
    static const char *roles[] = {"producer", "worker", "admin", "broker"};
    for (size_t i = 0; role && i < sizeof roles / sizeof roles[0]; i++)
        if (strcmp (role, roles[i]) == 0)
            return true;
    return false;
}

static bool exists (const char *path)
{
    struct stat st;
    return lstat (path, &st) == 0;
}

int fling_cli_keygen (const fling_cli_t *cli, const char *name)
{
    if (!valid_role (cli->role)) {
        fprintf (stderr, "fling: keygen needs --role producer, worker, admin or broker\n");
        return FLING_CLI_EXIT_USAGE;
    }
    if (!valid_name (name)) {
        fprintf (stderr,
                 "fling: bad key name '%s' (1-%d of A-Z a-z 0-9 . _ -, not starting "
                 "with '.')\n",
                 name, NAME_MAX_LEN);
        return FLING_CLI_EXIT_USAGE;
    }
    const char *dir = cli->dir ? cli->dir : ".";
    char pub[4096], secret[4096];
    snprintf (pub, sizeof pub, "%s/%s.pub", dir, name);
    snprintf (secret, sizeof secret, "%s/%s.secret", dir, name);
    if (exists (pub) || exists (secret)) {
        fprintf (stderr, "fling: %s or %s exists already: not overwritten\n", pub, secret);
        return FLING_CLI_EXIT_FAIL;
    }
    zsys_handler_set (NULL);
    zcert_t *cert = zcert_new ();
    if (!cert) {
        fprintf (stderr, "fling: cannot make a key pair\n");
        return FLING_CLI_EXIT_FAIL;
    }
    zcert_set_meta (cert, "role", "%s", cli->role);
    zcert_set_meta (cert, "name", "%s", name);
    /* The secret first, under a private umask, then checked: a key pair
       whose secret ended up readable by others is useless. */
    mode_t old = umask (077);
    int rc = zcert_save_secret (cert, secret);
    umask (old);
    struct stat st;
    if (rc != 0 || stat (secret, &st) != 0 || (st.st_mode & 077)) {
        fprintf (stderr, "fling: cannot write %s privately: %s\n", secret, strerror (errno));
        remove (secret);
        zcert_destroy (&cert);
        return FLING_CLI_EXIT_FAIL;
    }
    if (zcert_save_public (cert, pub) != 0) {
        fprintf (stderr, "fling: cannot write %s: %s\n", pub, strerror (errno));
        remove (secret);
        zcert_destroy (&cert);
        return FLING_CLI_EXIT_FAIL;
    }
    printf ("%s: role %s, public key %s, task id prefix %016llx\n", pub, cli->role,
            zcert_public_txt (cert), (unsigned long long)fling_curve_tag (zcert_public_key (cert)));
    printf ("%s: keep it private (mode 0600)\n", secret);
    zcert_destroy (&cert);
    return FLING_CLI_EXIT_OK;
}
