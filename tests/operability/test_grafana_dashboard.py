#!/usr/bin/env python3
"""The Grafana dashboard in monitoring/grafana/dashboards/fling.json asks
only for metrics that fling serves: every fling_* name in its queries is a
series that a real broker's or worker's /metrics has (scraped here after a
short run with failures, so every family has samples), and the JSON is what
Grafana provisions (panels with queries on the provisioned datasource)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ops_support  # noqa: E402

ops_support.use_venv()
from ops_support import ROOT, scrape  # noqa: E402
from fling_harness import Cluster, run  # noqa: E402

DASHBOARD = os.path.join(ROOT, "monitoring", "grafana", "dashboards", "fling.json")


def served_names(*scrapes):
    names = set()
    for s in scrapes:
        for name, kind in s.declared.items():
            names.add(name)
            if kind == "histogram":
                names.update(name + suffix for suffix in ("_bucket", "_sum", "_count"))
    return names


def test():
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    queries = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    assert len(queries) >= 15, queries
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "fling-prometheus", panel["title"]
    wanted = {name for q in queries for name in re.findall(r"\bfling_[a-z0-9_]+", q)}
    with Cluster("grafana") as c:
        c.start_broker("--max-attempts", "1")
        worker = c.start_worker(http=True)
        load = c.start_load("--count", "200", "--name", "test.noop,test.block")
        c.load_summary(load, timeout=60)
        assert c.fling("send", "test.fail", "{}").returncode == 0
        c.wait_done(200, timeout=60)
        served = served_names(scrape(c.http_addr), scrape(worker.http_addr))
    missing = sorted(wanted - served)
    assert not missing, "the dashboard queries metrics nobody serves: %s" % missing
    print("dashboard: %d queries over %d metrics, all served" % (len(queries), len(wanted)))


run(test)
