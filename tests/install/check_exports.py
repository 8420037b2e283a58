#!/usr/bin/env python3
"""libfling exports its API and nothing else, and a process holds one copy of it.

  check_exports.py BUILD_DIR SOURCE_DIR

- `nm -D --defined-only libfling.so` lists exactly the functions the headers
  mark FLING_EXPORT: the installed fling_producer.h, fling_worker.h and
  fling_error.h, and fling_worker_host.h (for fling-worker). No internal
  function, whatever its name.
- Its SONAME is libfling.so.FLING_SOVERSION (CMakeLists.txt).
- No other libfling*.so is built: a second library holding fling's code would
  hold a second copy of its state (the last error, the log).
- No program or module that loads libfling defines one of libfling's functions
  itself (as a static copy of fling_error.c would): its calls would reach its
  own copy of the state instead of the library's.
Prints what is missing or extra; exit 1 on any failure."""
import os
import re
import subprocess
import sys

LIBRARY = "libfling.so"
HEADERS = ["producer/fling_producer.h", "worker/fling_worker.h", "proto/fling_error.h",
           "worker/fling_worker_host.h"]
# Symbols a sanitizer or the toolchain adds to every shared object.
TOOLCHAIN = re.compile(r"^(__asan|__ubsan|__tsan|__sanitizer|__odr_asan|_init$|_fini$|_edata$|_end$|__bss_start$)")


def declared(source_dir):
    names = set()
    for header in HEADERS:
        with open(os.path.join(source_dir, header)) as f:
            text = f.read()
        names.update(re.findall(r"^FLING_EXPORT\b[^;(]*?\b(fling_\w+) \(", text, re.M))
    return names


def symbols(path, dynamic):
    args = ["nm", "-D", "--defined-only", path] if dynamic else ["nm", "--defined-only", path]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3 and not TOOLCHAIN.match(parts[2]):
            names.add(parts[2].split("@")[0])
    return names


def dynamic_section(path):
    """(SONAME or None, [NEEDED...]); None if `path` is not an ELF file."""
    run = subprocess.run(["readelf", "-d", path], capture_output=True, text=True)
    if run.returncode != 0:
        return None
    soname = re.findall(r"\(SONAME\).*\[(.*)\]", run.stdout)
    return (soname[0] if soname else None), re.findall(r"\(NEEDED\).*\[(.*)\]", run.stdout)


def soversion(source_dir):
    with open(os.path.join(source_dir, "CMakeLists.txt")) as f:
        return re.search(r"^set\(FLING_SOVERSION (\d+)\)", f.read(), re.M).group(1)


def main(build_dir, source_dir):
    failures = []
    lib_dir, bin_dir = os.path.join(build_dir, "lib"), os.path.join(build_dir, "bin")
    path = os.path.join(lib_dir, LIBRARY)
    want, got = declared(source_dir), symbols(path, True)
    print("%s: %d exported, %d declared FLING_EXPORT" % (LIBRARY, len(got), len(want)))
    if len(want) < 20:
        failures.append("only %d FLING_EXPORT declarations found in %s" % (len(want), HEADERS))
    if got - want:
        failures.append("%s exports what the headers do not declare: %s"
                        % (LIBRARY, " ".join(sorted(got - want))))
    if want - got:
        failures.append("%s does not export: %s" % (LIBRARY, " ".join(sorted(want - got))))

    soname = dynamic_section(path)[0]
    expected = "%s.%s" % (LIBRARY, soversion(source_dir))
    if soname != expected:
        failures.append("%s has SONAME %s, not %s" % (LIBRARY, soname, expected))

    others = sorted(name for name in os.listdir(lib_dir)
                    if name.startswith("libfling") and ".so" in name and not name.startswith(LIBRARY))
    if others:
        failures.append("shared libraries besides %s: %s" % (LIBRARY, " ".join(others)))

    users, copied = 0, 0
    for folder in (bin_dir, lib_dir):
        for name in sorted(os.listdir(folder)):
            file = os.path.join(folder, name)
            if not os.path.isfile(file) or name.startswith(LIBRARY) or name.endswith(".a"):
                continue
            dynamic = dynamic_section(file)
            if not dynamic or soname not in dynamic[1]:
                continue
            users += 1
            copies = symbols(file, False) & want
            if copies:
                copied += 1
                failures.append("%s loads %s and defines its own %s"
                                % (name, soname, " ".join(sorted(copies))))
    print("%d programs and modules load %s, %d of them with copies of its functions"
          % (users, soname, copied))
    if users < 2:  # fling-worker and the handler modules at least
        failures.append("only %d programs or modules load %s: is %s still the one library?"
                        % (users, soname, LIBRARY))

    for failure in failures:
        print("FAIL: " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
