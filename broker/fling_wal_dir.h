/*  fling_wal_dir.h - the names in a log directory: its segments, and the
    quarantine where segments that could not be read in full are kept.

    A segment that could not be read in full (bad header, damaged records,
    a read error, or not a regular file at all) is never deleted and never
    written again: once no live task depends on it, the log moves it to
    <dir>/quarantine/ under its own name, where it stays, named at ERROR at
    every start, until an operator removes it.
*/
#ifndef FLING_WAL_DIR_H_INCLUDED
#define FLING_WAL_DIR_H_INCLUDED

#include "fling_wal_format.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FLING_WAL_QUARANTINE "quarantine"

typedef struct {
    uint32_t id;
    bool regular; /* a regular file (else a directory, a device...: not a segment) */
} fling_wal_entry_t;

/*  Lists the segments of `dir`, ascending ids, into a new array (free it).
    Only the names the log makes ("<16 hex digits>.seg", id 1..2^32-1): a
    stray "1.seg" must not load segment 1 twice. 0, or -1 + errno. */
int fling_wal_dir_list (const char *dir, fling_wal_entry_t **entries, size_t *count);

void fling_wal_segment_path (const char *dir, uint32_t id, char *path, size_t size);

/*  Opens segment `id` (a regular file) read-write, or read-only for the
    checker, which still requires the access a broker would need, so both
    refuse the same store. The descriptor, or -1 + errno, logged at ERROR. */
int fling_wal_segment_open (const char *dir, uint32_t id, bool read_only);

/*  Reads segment `id` from `fd` (-1: not a regular file, nothing to read)
    and scans it (fling_wal_scan). *damage: why it could not be read in
    full (bad header, damaged records, read error, not a regular file),
    logged at ERROR with what was recovered; NULL if it could. 0, or -1 +
    errno: ENOMEM, or ENOTSUP for a segment of a newer store format (logged
    at ERROR: the store is not opened). */
int fling_wal_segment_read (const char *dir, uint32_t id, int fd, bool newest,
                            fling_wal_record_fn *fn, void *arg, fling_wal_scan_t *scan,
                            const char **damage);

/*  Moves segment `id` (whatever kind of file it is) into the quarantine
    directory, made if needed; a name already taken there gets ".1", ".2"...
    Logs an ERROR naming where it went and `why`. 0, or -1 + errno. */
int fling_wal_quarantine (const char *dir, uint32_t id, const char *why);

/*  Names each file in the quarantine at ERROR; returns how many there are. */
size_t fling_wal_quarantine_report (const char *dir);

#endif
