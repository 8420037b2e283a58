#!/usr/bin/env python3
"""The `fuzz` label of an ordinary (gcc) build: builds the libFuzzer targets
with clang in a build directory of their own (FLING_FUZZ=ON, only the fuzz
targets), then runs that build's fuzz tests: every committed seed replayed,
and each target fuzzed for FLING_FUZZ_SECONDS.

  run_clang.py SOURCE_DIR FUZZ_BUILD_DIR

Without clang or its libFuzzer runtime the test is skipped with one line
saying what to install (fling_harness.skip; FLING_REQUIRE_ALL=1 fails it).
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "harness"))
from fling_harness import skip  # noqa: E402

INSTALL = "apt-get install clang libclang-rt-14-dev (tools/install-deps does)"
PROBE = b"""#include <stddef.h>
#include <stdint.h>
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size) { return 0; }
"""


def step(argv, timeout):
    print("+ " + " ".join(argv), flush=True)
    return subprocess.run(argv, timeout=timeout).returncode


def require_libfuzzer(cc):
    if not shutil.which(cc):
        skip("no `%s`: the fuzz targets need clang's libFuzzer" % cc, INSTALL)
    with tempfile.TemporaryDirectory() as scratch:
        source = os.path.join(scratch, "probe.c")
        with open(source, "wb") as f:
            f.write(PROBE)
        probe = subprocess.run([cc, "-fsanitize=fuzzer,address,undefined", source, "-o",
                                os.path.join(scratch, "probe")], capture_output=True, text=True,
                               timeout=120)
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        skip("`%s -fsanitize=fuzzer` cannot link (%s)" % (cc, last[:200]), INSTALL)


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    source_dir, build_dir = argv
    cc = os.environ.get("FLING_FUZZ_CC", "clang")
    require_libfuzzer(cc)
    seconds = os.environ.get("FLING_FUZZ_SECONDS", "15")
    if step(["cmake", "-S", source_dir, "-B", build_dir, "-DCMAKE_C_COMPILER=" + cc,
             "-DFLING_FUZZ=ON", "-DFLING_FUZZ_SECONDS=" + seconds,
             "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], 300) != 0:
        return 1
    if step(["cmake", "--build", build_dir, "-j2", "--target", "fuzz_proto", "fuzz_json",
             "fuzz_broker"], 900) != 0:
        return 1
    return step(["ctest", "--test-dir", build_dir, "-L", "fuzz", "--output-on-failure"], 1200)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
