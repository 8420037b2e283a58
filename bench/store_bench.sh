#!/bin/sh
# store_bench.sh - builds bench/store_bench.c by hand and runs every store x batch size twice.
# Usage (from the repository root): sh bench/store_bench.sh [results-file]
# Needs liblmdb-dev and libsqlite3-dev. Store files go to build-storebench/data (deleted after each run).
set -eu
cd "$(dirname "$0")/.."
out=${1:-build-storebench/results.txt}
mkdir -p build-storebench
gcc -O2 -std=c11 -D_GNU_SOURCE -Ibroker -Icommon bench/store_bench.c broker/fling_wal*.c \
    broker/fling_crc32c.c common/fling_log.c -llmdb -lsqlite3 -o build-storebench/store_bench
{
    echo "# $(date -u +%FT%TZ) kernel $(uname -r); $(grep -m1 'model name' /proc/cpuinfo); $(nproc) cores"
    echo "# $(df -T "$PWD" | tail -1)"
    echo "# sqlite $(pkg-config --modversion sqlite3 2>/dev/null || echo ?), lmdb $(dpkg-query -W -f='${Version}' liblmdb-dev 2>/dev/null || echo ?)"
} >"$out"
for run in 1 2; do
    for b in 1 100 1000; do
        for store in wal lmdb sqlite; do
            echo "# run $run store $store B $b loadavg $(cut -d' ' -f1 /proc/loadavg)" >>"$out"
            build-storebench/store_bench "$store" "$b" >>"$out" 2>>"$out.err"
            sleep 2
        done
    done
done
echo "results in $out"
