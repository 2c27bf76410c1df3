"""GET /metrics as an operator's Prometheus sees it, against Pontoon in server mode: the
standard process metrics, the message latency per direction, the client connections, and
every metric that contrib/monitoring's dashboard and alert rules use (so they cannot drift
from the code). The exposition and the rules are checked with promtool (Debian package
`prometheus`, installed by scripts/test)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import time
from pathlib import Path

from harness.web import Http

TEST = "test.localhost"
MONITORING = Path(__file__).resolve().parents[3] / "contrib" / "monitoring"
# Series Prometheus makes itself, not Pontoon.
PROMETHEUS_OWN = {"up"}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """The samples of a text exposition; fails on a line that is neither a sample nor a comment."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        samples.append((m.group(1), dict(LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


def value(samples, name: str, **labels) -> float | None:
    for n, ls, v in samples:
        if n == name and all(ls.get(k) == want for k, want in labels.items()):
            return v
    return None


def scrape(server) -> list[tuple[str, dict[str, str], float]]:
    r = Http(server.admin_url).get("/metrics")
    assert r.status == 200, r
    return parse(r.body)


async def until(server, predicate, what: str, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while True:
        samples = await asyncio.to_thread(scrape, server)
        if predicate(samples):
            return samples
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/test installs it (Debian package prometheus)"
    return path


def latency(samples, direction: str) -> tuple[list[tuple[float, float]], float, float]:
    """(buckets as (le, count) in order, count, sum) of the test transport's histogram."""
    name = "pontoon_message_latency_seconds"
    labels = {"transport": "test", "direction": direction}
    buckets = [(float(ls["le"]), v) for n, ls, v in samples
               if n == f"{name}_bucket" and all(ls.get(k) == w for k, w in labels.items())]
    count = value(samples, f"{name}_count", **labels)
    total = value(samples, f"{name}_sum", **labels)
    assert buckets and count is not None and total is not None, f"no {name} for {labels}"
    return buckets, count, total


async def test_process_metrics_latency_and_client_connections(make_server, sconnect):
    server = make_server()
    started = time.time()
    samples = await asyncio.to_thread(scrape, server)
    # The standard process metrics, with values that make sense for this process.
    assert value(samples, "process_resident_memory_bytes") > 1_000_000
    assert value(samples, "process_virtual_memory_bytes") >= value(samples, "process_resident_memory_bytes")
    assert value(samples, "process_open_fds") > 3
    assert value(samples, "process_max_fds") >= value(samples, "process_open_fds")
    assert value(samples, "process_threads") >= 1
    assert value(samples, "process_cpu_seconds_total") > 0
    # It started a moment ago (the fixture waited for readiness).
    assert started - 120 < value(samples, "process_start_time_seconds") <= started + 1
    assert value(samples, "pontoon_ready") == 1
    assert value(samples, "pontoon_client_connections") == 0
    assert value(samples, "pontoon_client_users") == 0

    # Two clients of one user, then one of another: the gauges follow.
    a1 = await sconnect(server, f"alice@{TEST}", "secret", resource="one")
    await until(server, lambda s: value(s, "pontoon_client_connections") == 1, "one client connection")
    a2 = await sconnect(server, f"alice@{TEST}", "secret", resource="two")
    bob = await sconnect(server, f"bob@{TEST}", "secret")
    samples = await until(server, lambda s: value(s, "pontoon_client_connections") == 3, "three connections")
    assert value(samples, "pontoon_client_users") == 2

    # One message each way (the test network echoes): each direction's histogram counts
    # exactly one more, like pontoon_messages_total.
    before = {d: latency(samples, d)[1] for d in ("to_legacy", "to_xmpp")}
    bob.send_message(f"echo@{TEST}", "timed")
    await bob.expect_message(f"echo@{TEST}", "echo: timed")
    samples = await until(server, lambda s: latency(s, "to_xmpp")[1] == before["to_xmpp"] + 1,
                          "the echo's latency to be recorded")
    for direction in ("to_legacy", "to_xmpp"):
        buckets, count, total = latency(samples, direction)
        assert count == before[direction] + 1, (direction, count, before)
        assert count == value(samples, "pontoon_messages_total", transport="test", direction=direction)
        bounds = [le for le, _ in buckets]
        assert bounds == sorted(bounds) and bounds[0] == 0.0005 and bounds[-1] == float("inf"), bounds
        counts = [n for _, n in buckets]
        assert counts == sorted(counts), f"buckets are not cumulative: {buckets}"
        assert counts[-1] == count
        # Through the gateway on loopback: well under a second each, and not zero.
        assert 0 < total < count * 1.0, (direction, total, count)

    # Clients leave: the gauges go back down.
    await a2.disconnect()
    await until(server, lambda s: value(s, "pontoon_client_connections") == 2, "two connections")
    await a1.disconnect()
    await bob.disconnect()
    samples = await until(server, lambda s: value(s, "pontoon_client_connections") == 0, "no connection")
    assert value(samples, "pontoon_client_users") == 0

    # The exposition is what Prometheus parses.
    text = Http(server.admin_url).get("/metrics").body
    checked = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True,
                             timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def names_in(expr: str) -> set[str]:
    """The metric names in a PromQL expression (identifiers that are not functions, keywords
    or label names)."""
    expr = re.sub(r'\{[^}]*\}', "", expr)            # label matchers
    expr = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', "", expr)
    expr = re.sub(r'"[^"]*"', "", expr)
    expr = re.sub(r'\[[^\]]*\]', "", expr)           # ranges
    words = set(re.findall(r'\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()', expr))
    return {w for w in words if w not in {"and", "or", "unless", "offset", "bool", "le"}} - {"e"}


def dashboard_exprs() -> list[str]:
    board = json.loads((MONITORING / "pontoon-dashboard.json").read_text())
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("expr", "query") and isinstance(v, str):
                    exprs.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(board)
    return exprs


def rule_exprs() -> list[str]:
    text = (MONITORING / "pontoon-alerts.yml").read_text()
    return [m.group(1).strip() for m in re.finditer(r'^\s+expr:\s*(.+)$', text, re.M)]


async def test_dashboard_and_alert_rules_use_only_real_metrics(make_server, sconnect):
    server = make_server()
    # A client and a message, so that every family has its series.
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    alice.send_message(f"echo@{TEST}", "x")
    await alice.expect_message(f"echo@{TEST}", "echo: x")
    served = {n for n, _, _ in await asyncio.to_thread(scrape, server)}

    # The extraction finds a metric wherever an expression may hide it.
    assert names_in('histogram_quantile(0.9, sum by (le) (rate(pontoon_nope_bucket{a="b"}[5m]))) > 1e9 '
                    'and on (instance) process_gone offset 6h') == {"pontoon_nope_bucket", "process_gone"}
    board = dashboard_exprs()
    rules = rule_exprs()
    assert len(board) >= 15, board
    assert len(rules) >= 9, rules
    for origin, exprs in (("dashboard", board), ("alert rules", rules)):
        used = set().union(*(names_in(e) for e in exprs)) - PROMETHEUS_OWN
        # Template variables and functions are not metrics.
        used = {u for u in used if u.startswith(("pontoon_", "process_"))}
        assert used, origin
        missing = sorted(used - served)
        assert not missing, f"the {origin} use metrics that /metrics does not serve: {missing}"

    # The rules file is valid for Prometheus (syntax, PromQL, templates), and its alerts fire
    # when they should (pontoon-alerts.test.yml: made-up series, expected alerts).
    for args in (["check", "rules", "pontoon-alerts.yml"], ["test", "rules", "pontoon-alerts.test.yml"]):
        checked = subprocess.run([promtool(), *args], cwd=MONITORING, capture_output=True, text=True, timeout=60)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # The dashboard is one importable Grafana dashboard with the data source as an input.
    board = json.loads((MONITORING / "pontoon-dashboard.json").read_text())
    assert board["__inputs"][0]["type"] == "datasource" and board["__inputs"][0]["pluginId"] == "prometheus"
    assert board["title"] and board["panels"] and board["uid"]
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
