/*  fling_wal_dir.c - see fling_wal_dir.h. */
#include "fling_fdreserve.h"
#include "fling_wal_dir.h"
#include "fling_log.h"
#include "fling_wal_io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void fling_wal_segment_path (const char *dir, uint32_t id, char *path, size_t size)
{
    snprintf (path, size, "%s/%016" PRIx32 ".seg", dir, id);
}

int fling_wal_segment_open (const char *dir, uint32_t id, bool read_only)
{
    char path[4096];
    fling_wal_segment_path (dir, id, path, sizeof path);
    int fd =
        fling_fdreserve_open (path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW, 0);
    if (fd >= 0 && read_only && access (path, R_OK | W_OK) != 0) {
        int err = errno;
        close (fd);
        fd = -1;
        errno = err;
    }
    if (fd < 0)
        fling_error ("store: cannot open the segment %s: %s", path, strerror (errno));
    return fd;
}

static const char *damage_of (const fling_wal_scan_t *scan, int read_error)
{
    if (read_error)
        return "read error";
    if (!scan->version)
        return "bad header";
    return scan->damaged ? "damaged records" : NULL;
}

int fling_wal_segment_read (const char *dir, uint32_t id, int fd, bool newest,
                            fling_wal_record_fn *fn, void *arg, fling_wal_scan_t *scan,
                            const char **damage)
{
    memset (scan, 0, sizeof *scan);
    int read_error = 0;
    *damage = "not a regular file";
    if (fd >= 0) {
        size_t size;
        uint8_t *data = fling_io_read_all (fd, &size, &read_error);
        if (!data)
            return -1;
        fling_wal_scan (data, size, id, newest, fn, arg, scan);
        free (data);
        if (scan->version > FLING_WAL_VERSION) {
            char path[4096];
            fling_wal_segment_path (dir, id, path, sizeof path);
            fling_error ("store: %s was written by a newer fling (store format %d; this one reads "
                         "formats 1 to %d): not opening the store; run the newer version",
                         path, scan->version, FLING_WAL_VERSION);
            errno = ENOTSUP;
            return -1;
        }
        *damage = damage_of (scan, read_error);
    }
    if (*damage) {
        char path[4096];
        fling_wal_segment_path (dir, id, path, sizeof path);
        fling_error ("store: %s could not be read in full (%s%s%s): %" PRIu64 " intact records "
                     "recovered from it; it is kept as it is, never written again, and moved to "
                     "%s/%s once no live task depends on it",
                     path, *damage, read_error ? ": " : "", read_error ? strerror (read_error) : "",
                     scan->records, dir, FLING_WAL_QUARANTINE);
    }
    return 0;
}

static int by_id (const void *a, const void *b)
{
    uint32_t x = ((const fling_wal_entry_t *)a)->id, y = ((const fling_wal_entry_t *)b)->id;
    return x < y ? -1 : x > y;
}

static bool segment_name (const char *name, uint32_t *id)
{
    if (strlen (name) != 20 || strcmp (name + 16, ".seg") != 0 ||
        strspn (name, "0123456789abcdef") != 16)
        return false;
    unsigned long long value = strtoull (name, NULL, 16);
    if (value == 0 || value > UINT32_MAX)
        return false;
    *id = (uint32_t)value;
    return true;
}

int fling_wal_dir_list (const char *dir, fling_wal_entry_t **entries, size_t *count)
{
    *entries = NULL;
    *count = 0;
    DIR *d = opendir (dir);
    if (!d)
        return -1;
    size_t cap = 0;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        uint32_t id;
        if (!segment_name (entry->d_name, &id))
            continue;
        struct stat st; /* no d_type trust: some file systems leave it DT_UNKNOWN */
        if (fstatat (dirfd (d), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue; /* gone meanwhile */
        if (*count == cap) {
            cap = cap ? cap * 2 : 16;
            fling_wal_entry_t *grown = realloc (*entries, cap * sizeof *grown);
            if (!grown) {
                free (*entries);
                *entries = NULL;
                closedir (d);
                errno = ENOMEM;
                return -1;
            }
            *entries = grown;
        }
        (*entries)[(*count)++] = (fling_wal_entry_t){.id = id, .regular = S_ISREG (st.st_mode)};
    }
    closedir (d);
    if (*count > 1)
        qsort (*entries, *count, sizeof **entries, by_id);
    return 0;
}

int fling_wal_quarantine (const char *dir, uint32_t id, const char *why)
{
    char from[4096], to[4200], place[4096];
    fling_wal_segment_path (dir, id, from, sizeof from);
    snprintf (place, sizeof place, "%s/%s", dir, FLING_WAL_QUARANTINE);
    if (mkdir (place, 0700) != 0 && errno != EEXIST)
        return -1;
    const char *name = strrchr (from, '/') + 1;
    snprintf (to, sizeof to, "%s/%s", place, name);
    for (int n = 1; access (to, F_OK) == 0 && n < 1000; n++)
        snprintf (to, sizeof to, "%s/%s.%d", place, name, n);
    if (rename (from, to) != 0)
        return -1;
    int fd = open (place, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) { /* the move is durable with the log's next directory sync; this one too */
        fsync (fd);
        close (fd);
    }
    fling_error ("store: moved %s to %s (%s): no live task depends on it any more; it is kept "
                 "for inspection until an operator removes it",
                 from, to, why);
    return 0;
}

size_t fling_wal_quarantine_report (const char *dir)
{
    char place[4096];
    snprintf (place, sizeof place, "%s/%s", dir, FLING_WAL_QUARANTINE);
    DIR *d = opendir (place);
    if (!d)
        return 0;
    size_t count = 0;
    struct dirent *entry;
    while ((entry = readdir (d))) {
        if (strcmp (entry->d_name, ".") == 0 || strcmp (entry->d_name, "..") == 0)
            continue;
        count++;
        fling_error ("store: %s/%s is in the quarantine: a segment that could not be read in "
                     "full, kept as it was found once no live task depended on it; inspect it, "
                     "then remove it",
                     place, entry->d_name);
    }
    closedir (d);
    return count;
}
