#!/usr/bin/env python3
"""`fling top` in a real terminal (tmux, on a tmux server of this test's
own): it draws the broker's queues, rates and workers, refreshes once a
second, marks a queue nobody serves, fits a resized window, says so when
the broker goes away and recovers when it is back, and 'q' ends it with
exit status 0 and the terminal restored (alternate screen left)."""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "harness"))
from fling_harness import Cluster, run, skip, wait_until  # noqa: E402


class Tmux:
    def __init__(self, c):
        self.socket = "fling-top-%d" % os.getpid()  # never another user's server

    def __call__(self, *args, check=True):
        result = subprocess.run(["tmux", "-L", self.socket] + list(args), capture_output=True,
                                text=True, timeout=20)
        if check and result.returncode != 0:
            raise AssertionError("tmux %s: %s" % (args, result.stderr))
        return result.stdout

    def screen(self):
        return self("capture-pane", "-p", "-t", "top")

    def wait_for(self, pattern, timeout=20):
        wait_until(lambda: re.search(pattern, self.screen(), re.M), timeout,
                   what="%r on the screen:\n%s" % (pattern, self.screen()))
        return self.screen()

    def close(self):
        self("kill-server", check=False)


def test():
    if not shutil.which("tmux"):
        skip("tmux is not installed", "apt-get install tmux (tools/install-deps does)")
    with Cluster("top") as c:
        broker = c.start_broker()
        for _ in range(2):
            c.start_worker("--pool-size", "2")
        assert c.fling("send", "nobody.home", "{}").returncode == 0
        load = c.start_load("--count", "30000", "--rate", "1500", "--name", "test.async",
                            "--ms", "5")
        tmux = Tmux(c)
        try:
            fling = os.path.join(c.bin_dir, "fling")
            # The exit status goes to a file: tmux 3.3 sometimes marks the pane dead
            # without #{pane_dead_status} when the machine is loaded.
            status_path = c.path("top.status")
            tmux("-f", "/dev/null", "new-session", "-d", "-s", "top", "-x", "120", "-y", "40",
                 "sh", "-c", 'TERM=xterm "$0" --endpoint "$1" top; echo $? > "$2"',
                 fling, c.producer_endpoint, status_path)
            tmux("set-option", "-t", "top", "remain-on-exit", "on")
            screen = tmux.wait_for(r"^test\.async\s+\d+\s+\d+\s+\d+\s+\d+\s+\d+\.\d\s+2")
            assert re.search(r"^nobody\.home\s+1\s+0\s+0\s+0\s+\S+\s+0\s+no worker!", screen, re.M), screen
            assert re.search(r"^worker1\s+\d+\s+\d+/4\s+\d+/2000", screen, re.M), screen
            assert re.search(r"per second: accepted \d+\.\d", screen), screen
            # Once a second: the clock in the first line moves.
            first = re.search(r"up (\S+ \S+ \S+ \S+)", screen).group(1)
            wait_until(lambda: re.search(r"up (\S+ \S+ \S+ \S+)", tmux.screen()).group(1) != first,
                       10, what="a refresh")
            # Resized: every line fits the new width (tmux would wrap a longer one).
            tmux("resize-window", "-t", "top", "-x", "60", "-y", "15")

            def fits():
                lines = tmux.screen().splitlines()
                # tmux wraps the old frame's long lines; only a redraw puts "held" second
                return len(lines) > 1 and lines[0].startswith("fling top") and \
                    lines[1].startswith("held ") and all(len(line) <= 60 for line in lines)
            wait_until(fits, 15, what="a frame that fits 60x15:\n%s" % tmux.screen())
            tmux("resize-window", "-t", "top", "-x", "120", "-y", "40")
            # The broker goes away, then comes back on the same ports.
            c.load_summary(load, timeout=120)
            ports = [int(e.rsplit(":", 1)[1]) for e in (c.producer_endpoint, c.worker_endpoint)]
            c.stop(broker)
            tmux.wait_for(r"broker not answering", 30)
            c.start_broker(producer_port=ports[0], worker_port=ports[1], name="broker2")
            tmux.wait_for(r"^nobody\.home\s+1", 30)
            tmux("send-keys", "-t", "top", "q")
            wait_until(lambda: os.path.exists(status_path) and open(status_path).read().strip(),
                       30, what="top to exit")
            status = open(status_path).read().strip()
            assert status == "0", "fling top exited with %s" % status
            alternate = tmux("display-message", "-p", "-t", "top", "#{alternate_on}").strip()
            assert alternate == "0", "the alternate screen was not left"
        finally:
            tmux.close()


run(test)
