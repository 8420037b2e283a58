#!/usr/bin/env python3
"""The dashboard in headless Chromium (Selenium, Debian's chromium and
chromium-driver), under load: the page loads from the broker's HTTP port
with no script error, shows live throughput, and once the run settles its
numbers equal `fling stats` (queues, workers, held and dead counts). A
Retry button moves a dead task back to its queue, a Purge button (after
its confirmation) removes one; peer text (payloads, errors) is shown as
text, never run as HTML. Screenshots are kept in build/test-artifacts/."""
import json
import os
import re
import shutil
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
from fling_harness import Cluster, run, skip, wait_until  # noqa: E402

FAILING = 6
LOAD = 15000
ARTIFACTS = os.path.join(os.path.dirname(os.environ.get("FLING_TEST_TMP", "/tmp/x")),
                         "test-artifacts")


def browser():
    chrome = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chrome or not driver:
        skip("no Chromium or chromedriver", "apt-get install chromium chromium-driver "
             "(tools/install-deps does)")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    options = Options()
    options.binary_location = chrome
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1300,1700", "--hide-scrollbars"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


def css(page, selector):
    from selenium.webdriver.common.by import By
    return page.find_elements(By.CSS_SELECTOR, selector)


def number(text):
    text = text.replace(",", "").strip()
    return None if text in ("-", "") else float(text.split()[0])


def shown(page):
    """What the page shows: queues and workers by name, the summary cards."""
    page_state = page.execute_script("""
        const cells = (row) => Object.fromEntries([...row.querySelectorAll('td[data-key]')]
            .map((td) => [td.dataset.key, td.textContent]));
        return {
          refreshes: Number(document.body.dataset.refreshes || 0),
          queues: [...document.querySelectorAll('#queues tbody tr:not(.empty)')].map(cells),
          workers: [...document.querySelectorAll('#workers tbody tr:not(.empty)')].map(cells),
          dead: [...document.querySelectorAll('#dead-letters tbody tr:not(.empty)')]
              .map((r) => r.dataset.id),
          held: document.getElementById('held').textContent,
          deadCount: document.getElementById('dead').textContent,
          status: document.getElementById('status').textContent,
        };""")
    return page_state


def matches_stats(page, stats):
    """The page's numbers equal `fling stats`, field by field; the first
    difference, or None."""
    s = shown(page)
    if number(s["held"]) != stats["tasks"] or number(s["deadCount"]) != stats["dead"]:
        return "held %s/%s dead %s/%s" % (s["held"], stats["tasks"], s["deadCount"], stats["dead"])
    page_queues = {q["name"].replace("no worker", ""): q for q in s["queues"]}
    for q in stats["queues"]:
        row = page_queues.get(q["name"])
        for key in ("queued", "inflight", "delayed", "dead", "done", "failed", "retried", "workers"):
            if row is None or number(row[key]) != q[key]:
                return "queue %s %s: page %s, stats %s" % (q["name"], key, row and row[key], q[key])
    page_workers = {w["name"]: w for w in s["workers"]}
    for w in stats["workers"]:
        row = page_workers.get(w["name"])
        if row is None or number(row["done"]) != w["done"] or \
                row["pool"].replace(",", "") != "%d / %d" % (w["inflight"]["pool"], w["capacity"]["pool"]):
            return "worker %s: page %s, stats %s" % (w["name"], row, w)
    if len(page_workers) != len(stats["workers"]):
        return "workers: page %s, stats %s" % (sorted(page_workers), stats["workers"])
    return None


def wait_matches(c, page, what):
    last = [None]

    def check():
        last[0] = matches_stats(page, c.stats())
        return last[0] is None
    wait_until(check, 30, what="the page to match fling stats (%s): %s" % (what, last))


def shot(page, name):
    os.makedirs(ARTIFACTS, exist_ok=True)
    path = os.path.join(ARTIFACTS, name)
    page.save_screenshot(path)
    print("screenshot:", path, flush=True)


def task_state(c, task_id):
    return json.loads(c.fling("task", task_id, "--json").stdout)["state"]


def test():
    page = None
    with Cluster("dashboard") as c:
        c.start_broker("--max-attempts", "1")
        workers = [c.start_worker("--pool-size", "2", "--async-limit", "200") for _ in range(2)]
        failing = c.start_load("--count", str(FAILING), "--name", "test.fail",
                               "--payload-extra", '"html":"<img src=x onerror=alert(1)>"')
        assert c.load_summary(failing, timeout=60)["accepted"] == FAILING
        assert c.fling("send", "nobody.home", "{}").returncode == 0
        load = c.start_load("--count", str(LOAD), "--rate", "1000", "--name", "test.async,test.block",
                            "--ms", "3")
        try:
            page = browser()
            page.set_page_load_timeout(60)
            page.get("http://%s/" % c.http_addr)
            wait_until(lambda: shown(page)["refreshes"] >= 2, 30, what="the page's first refreshes")
            assert shown(page)["status"] == "live", shown(page)
            # Live under load: the done rate and the chart move.
            wait_until(lambda: (number(css(page, "#rate-done")[0].text) or 0) > 50, 30,
                       what="a done rate on the page")
            wait_until(lambda: int(css(page, "#chart")[0].get_attribute("data-points") or 0) >= 8,
                       30, what="points on the chart")
            shot(page, "dashboard-under-load.png")
            assert c.load_summary(load, timeout=120)["accepted"] == LOAD
            c.wait_done(LOAD, timeout=120)
            wait_matches(c, page, "after the load")
            row = [q for q in shown(page)["queues"] if q["name"].startswith("nobody.home")][0]
            assert "no worker" in row["name"], row

            # Peer text stays text.
            assert css(page, "#dead-letters img") == []
            payloads = [td.text for td in css(page, '#dead-letters td[data-key="payload"]')]
            assert any("<img src=x onerror=alert(1)>" in p for p in payloads), payloads

            # Without workers, a retried task stays queued where we can see it.
            for proc in workers:
                c.stop(proc)
            wait_matches(c, page, "workers gone")
            assert "no workers registered" in css(page, "#workers tbody")[0].text
            dead = shown(page)["dead"]
            assert len(dead) == FAILING, dead
            retried, purged = dead[0], dead[1]
            css(page, 'tr[data-id="%s"] button.retry' % retried)[0].click()
            wait_until(lambda: task_state(c, retried) == "queued", 15, what="the retried task queued")
            wait_until(lambda: retried not in shown(page)["dead"], 15, what="the row gone")
            assert "retried 1" in css(page, "#dead-message")[0].text
            css(page, 'tr[data-id="%s"] button.purge' % purged)[0].click()
            page.switch_to.alert.accept()
            wait_until(lambda: task_state(c, purged) == "ended", 15, what="the purged task ended")
            wait_matches(c, page, "after retry and purge")
            stats = c.stats()
            assert stats["counters"]["dead_retried"] == 1 and stats["counters"]["dead_purged"] == 1
            assert stats["dead"] == FAILING - 2

            # Task lookup from the page.
            box = css(page, "#lookup-id")[0]
            box.send_keys(retried)
            css(page, "#lookup button")[0].click()
            wait_until(lambda: '"state": "queued"' in css(page, "#lookup-result")[0].text, 15,
                       what="the lookup's answer")

            errors = [entry for entry in page.get_log("browser") if entry["level"] == "SEVERE"]
            assert not errors, errors
            shot(page, "dashboard.png")
        finally:
            if page:
                page.quit()


run(test)
