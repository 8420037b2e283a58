#!/usr/bin/env python3
"""Each shared library exports its API and nothing else (`nm -D`).

  check_exports.py LIB_DIR SOURCE_DIR

libfling_producer and libfling_worker must export exactly the functions their
headers mark FLING_EXPORT (for libfling_worker also fling_worker_host.h, the
host's two functions); libfling_common must export fling_error.h's functions
and nothing that does not start with fling_ (its other functions are fling's
internal ABI, docs/versioning.md). Prints what is missing or extra."""
import os
import re
import subprocess
import sys

LIBS = {
    "libfling_producer.so": ["producer/fling_producer.h"],
    "libfling_worker.so": ["worker/fling_worker.h", "worker/fling_worker_host.h"],
}
COMMON = "libfling_common.so"
ERROR_HEADER = "proto/fling_error.h"
# Symbols a sanitizer or the toolchain adds to every shared object.
TOOLCHAIN = re.compile(r"^(__asan|__ubsan|__tsan|__sanitizer|__odr_asan|_init$|_fini$|_edata$|_end$|__bss_start$)")


def declared(source_dir, headers):
    names = set()
    for header in headers:
        with open(os.path.join(source_dir, header)) as f:
            text = f.read()
        names.update(re.findall(r"^FLING_EXPORT\b[^;(]*?\b(fling_\w+) \(", text, re.M))
    return names


def exported(path):
    out = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not TOOLCHAIN.match(parts[2]):
            names.add(parts[2].split("@")[0])
    return names


def main(lib_dir, source_dir):
    failures = []
    for lib, headers in LIBS.items():
        want, got = declared(source_dir, headers), exported(os.path.join(lib_dir, lib))
        print("%s: %d exported, %d declared" % (lib, len(got), len(want)))
        if not want:
            failures.append("%s: no FLING_EXPORT declarations found in %s" % (lib, headers))
        if got - want:
            failures.append("%s exports what its headers do not declare: %s"
                            % (lib, " ".join(sorted(got - want))))
        if want - got:
            failures.append("%s does not export: %s" % (lib, " ".join(sorted(want - got))))
    got = exported(os.path.join(lib_dir, COMMON))
    want = declared(source_dir, [ERROR_HEADER])
    print("%s: %d exported (fling_error.h: %d)" % (COMMON, len(got), len(want)))
    if want - got:
        failures.append("%s does not export: %s" % (COMMON, " ".join(sorted(want - got))))
    foreign = sorted(n for n in got if not n.startswith("fling_"))
    if foreign:
        failures.append("%s exports names without the fling_ prefix: %s" % (COMMON, " ".join(foreign)))
    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
