#!/usr/bin/env python3
"""Configuration cannot silently disagree: the real programs, as an operator
starts them. A flag beats a bad environment variable; an out-of-range port,
a closed --ready-fd, an absurd heartbeat or an over-long worker name stop the
program at start with a message naming the option, instead of binding
another port, failing later or being cut short."""
import os, subprocess, sys
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "harness"))
from fling_harness import Cluster, run


def refused(argv, env=None, expect_rc=1, must_say=()):
    full_env = dict(os.environ)
    full_env.update(env or {})
    result = subprocess.run(argv, capture_output=True, text=True, timeout=20, env=full_env)
    assert result.returncode == expect_rc, (argv, result.returncode, result.stderr)
    for text in must_say:
        assert text in result.stderr, (argv, text, result.stderr)
    return result


README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
UNITS = {"KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}


def help_defaults(program):
    """--help of a program -> {flag: default text}, read from its own table."""
    out = subprocess.run([program, "--help"], capture_output=True, text=True, timeout=10).stdout
    defaults, flag = {}, None
    for line in out.splitlines():
        words = line.split()
        if words and words[0].startswith("--") and line.startswith("  --"):
            flag = words[0]
        elif flag and "default " in line:
            defaults[flag] = line.split("default ", 1)[1].strip()
    return defaults


def readme_defaults(program_name):
    """The README's table for one program -> {flag: default}, units expanded."""
    text = open(README).read()
    table = text.split("`%s`\n" % program_name, 1)[1].strip().split("\n\n", 1)[0]
    found = {}
    for row in table.splitlines()[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        flags = [f.strip(" `").split(" ")[0] for f in cells[0].split(",")]
        values = [v.strip(" `") for v in cells[2].split(",")] if cells[2] else []
        for flag, value in zip(flags, values):
            number, _, unit = value.partition(" ")
            if number.isdigit() and unit in UNITS:
                value = str(int(number) * UNITS[unit])
            elif number.isdigit():
                value = number
            found[flag] = value
    return found


def check_readme_agrees(bin_dir):
    """Defaults are written once (the program's init); the README's tables
    must say the same, or this fails with the rows that disagree."""
    for program in ("fling-broker", "fling-worker"):
        told = help_defaults(os.path.join(bin_dir, program))
        written = readme_defaults(program)
        compared = [flag for flag in written if flag in told]
        assert len(compared) >= 5, (program, written, told)
        wrong = {flag: (written[flag], told[flag]) for flag in compared if written[flag] != told[flag]}
        assert not wrong, "%s: README default != --help default: %s" % (program, wrong)
        print(program, "README defaults agree with --help:", len(compared), "flags")


def test():
    with Cluster("config") as c:
        bin_dir = c.bin_dir
        broker = os.path.join(bin_dir, "fling-broker")
        worker = os.path.join(bin_dir, "fling-worker")
        fling = os.path.join(bin_dir, "fling")
        check_readme_agrees(bin_dir)
        refused([broker, "--store", "memory", "--producer-endpoint", "tcp://127.0.0.1:99999"],
                must_say=("--producer-endpoint", "65535"))
        refused([broker, "--store", "memory", "--ready-fd", "999"],
                must_say=("--ready-fd", "not an open file descriptor"))
        refused([broker, "--store", "memory"], env={"FLING_WORKER_ENDPOINT": "tcp://127.0.0.1:0"},
                must_say=("FLING_WORKER_ENDPOINT",))
        refused([worker, "--module", "x.so", "--heartbeat-ms", "4294967295"],
                must_say=("--heartbeat-ms", "60000"))
        refused([worker, "--module", "x.so", "--name", "w" * 200], must_say=("--name", "127"))
        refused([fling, "--endpoint", "tcp://127.0.0.1:99999", "ping"], expect_rc=2,
                must_say=("--endpoint",))
        refused([os.path.join(bin_dir, "fling-load"), "--endpoint", "tcp://h:123456"], expect_rc=2,
                must_say=("--endpoint",))

        # The flag wins, and the bad variable beside it is not even read.
        c.start_broker(store="memory")
        os.environ["FLING_HEARTBEAT_MS"] = "abc"
        try:
            w = c.start_worker("--heartbeat-ms", "500")   # waits for its ready line
        finally:
            del os.environ["FLING_HEARTBEAT_MS"]
        assert w.alive()
        refused([worker, "--module", "x.so"], env={"FLING_HEARTBEAT_MS": "abc"},
                must_say=("FLING_HEARTBEAT_MS",))


run(test)
