#!/usr/bin/env python3
"""Turns the driver's raw JSON into the comparison table (stdout), bench/results.json, and the
table section of bench/README.md (between the RESULTS markers).

Targets (issue 8) are judged against the *best* biboumi figure of the run (history off on
tmpfs, normally), so a pass is never won against biboumi's slow default; both biboumi
columns are shown.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def get(d, *path):
    for p in path:
        if d is None:
            return None
        d = d.get(p) if isinstance(d, dict) else None
    return d


def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = f"{v:,.0f}"
        elif abs(v) >= 10:
            s = f"{v:.1f}"
        else:
            s = f"{v:.3g}"
    else:
        s = f"{v:,}" if isinstance(v, int) else str(v)
    return s + unit


def ratio(a, b):
    if a is None or b is None or b == 0:
        return None
    return a / b


def build(raw: dict) -> dict:
    gws = raw["gateways"]
    sizes = sorted({int(n) for g in gws.values() for n in g["sizes"]})
    traffic_at = raw["params"]["traffic_at"]
    big = max(sizes) if sizes else None
    rows = []

    def row(metric, path_fn, unit="", lower_better=True, target=None):
        vals = {k: path_fn(g) for k, g in gws.items()}
        rows.append({"metric": metric, "unit": unit, "values": vals, "lower_is_better": lower_better,
                     "target": target})

    for n in sizes:
        s = str(n)
        row(f"time to bring {n} sessions online", lambda g, s=s: get(g, "sizes", s, "join", "seconds"), " s")
        row(f"sessions online of {n}", lambda g, s=s: get(g, "sizes", s, "join", "online"), "", lower_better=False)
        row(f"RSS idle (before sessions), run {n}", lambda g, s=s: kib_mib(get(g, "sizes", s, "rss_idle_kib")), " MiB")
        row(f"RSS with {n} sessions joined", lambda g, s=s: kib_mib(get(g, "sizes", s, "rss_joined_kib")), " MiB")
        row(f"RSS per session at {n}", lambda g, s=s: get(g, "sizes", s, "rss_per_session_kib"), " KiB")
        row(f"CPU of {n} idle joined sessions (10 s)", lambda g, s=s: pct(get(g, "sizes", s, "idle_cores")),
            " % of a core")
    s = str(traffic_at)
    for d, name in (("sat_xmpp_to_irc", "XMPP->IRC"), ("sat_irc_to_xmpp", "IRC->XMPP")):
        row(f"{name} msgs/s at saturation ({traffic_at} sessions)", lambda g, d=d: get(g, "sizes", s, d, "msgs_per_s"),
            "/s", lower_better=False)
        row(f"{name} delivered of sent at saturation", lambda g, d=d: frac(get(g, "sizes", s, d)), "", lower_better=False)
        row(f"{name} CPU s per 10k msgs, gross", lambda g, d=d: get(g, "sizes", s, d, "cpu_s_per_10k_gross"), " s")
        row(f"{name} CPU s per 10k msgs, net of idle", lambda g, d=d: get(g, "sizes", s, d, "cpu_s_per_10k_net"), " s")
        row(f"{name} of which kernel (stime) per 10k msgs", lambda g, d=d: per10k(get(g, "sizes", s, d), "sys_s"), " s")
    for d, name in (("xmpp_to_irc", "XMPP->IRC"), ("irc_to_xmpp", "IRC->XMPP")):
        rate = None
        for g in gws.values():
            rate = rate or get(g, "sizes", s, "latency", d, "rate")
        row(f"{name} p50 latency at {fmt(rate)} msg/s", lambda g, d=d: get(g, "sizes", s, "latency", d, "p50_ms"), " ms")
        row(f"{name} p99 latency at {fmt(rate)} msg/s", lambda g, d=d: get(g, "sizes", s, "latency", d, "p99_ms"), " ms")
        row(f"{name} delivered of sent at {fmt(rate)} msg/s", lambda g, d=d: lat_frac(get(g, "sizes", s, "latency", d)),
            "", lower_better=False)

    # Targets: Pontoon against the best biboumi of the run.
    bib = [k for k in gws if k.startswith("biboumi")]
    targets = []

    def best_biboumi(fn, lower=True):
        vals = [fn(gws[k]) for k in bib]
        vals = [v for v in vals if v is not None]
        if not vals:
            return None
        return min(vals) if lower else max(vals)

    P = gws.get("pontoon")

    def target(name, pv, bv, ok, note=""):
        targets.append({"target": name, "pontoon": pv, "biboumi_best": bv,
                        "result": None if ok is None else ("pass" if ok else "FAIL"), "note": note})

    for d, name in (("sat_xmpp_to_irc", "XMPP->IRC"), ("sat_irc_to_xmpp", "IRC->XMPP")):
        for kind in ("gross",):
            f = lambda g, d=d, kind=kind: get(g, "sizes", s, d, f"cpu_s_per_10k_{kind}")  # noqa: E731
            pv, bv = f(P) if P else None, best_biboumi(f)
            fn = lambda g, d=d: get(g, "sizes", s, d, "cpu_s_per_10k_net")  # noqa: E731
            pn, bn = fn(P) if P else None, best_biboumi(fn)
            target(f"CPU per message {name} <= 0.5x biboumi (CPU s per 10k msgs, gross)", pv, bv,
                   None if pv is None or bv is None else pv <= 0.5 * bv,
                   f"ratio {fmt(ratio(pv, bv))}; net of idle: Pontoon {fmt(pn)}, best biboumi {fmt(bn)}")
    f = lambda g: get(g, "sizes", s, "rss_per_session_kib")  # noqa: E731
    pv, bv = f(P) if P else None, best_biboumi(f)
    target(f"memory per session <= 0.5x biboumi (at {traffic_at})", pv, bv,
           None if pv is None or bv is None else pv <= 0.5 * bv, f"KiB; ratio {fmt(ratio(pv, bv))}")
    for d, name in (("xmpp_to_irc", "XMPP->IRC"), ("irc_to_xmpp", "IRC->XMPP")):
        f = lambda g, d=d: get(g, "sizes", s, "latency", d, "p99_ms")  # noqa: E731
        pv, bv = f(P) if P else None, best_biboumi(f)
        target(f"p99 latency {name} no worse than biboumi", pv, bv,
               None if pv is None or bv is None else pv <= bv, f"ms; ratio {fmt(ratio(pv, bv))}")
    if P and big:
        idle = get(P, "sizes", str(big), "idle_cores")
        if idle is not None:
            idle10k = idle * 10000 / big
            target("idle joined sessions: < 1 % of a core for 10,000", pct(idle10k), None, idle10k < 0.01,
                   "% of a core" + ("" if big == 10000 else f"; linear extrapolation from {big} sessions"))
        rss = get(P, "sizes", str(big), "rss_joined_kib")
        per = get(P, "sizes", str(big), "rss_per_session_kib")
        idle_rss = get(P, "sizes", str(big), "rss_idle_kib")
        if rss is not None:
            est = rss if big == 10000 else idle_rss + per * 10000
            target("10,000 sessions under 1 GiB resident", kib_mib(est), None, est < 1024 * 1024,
                   "MiB" + ("" if big == 10000 else f"; extrapolated from {big} sessions"))
    if P and get(P, "sizes", "1000"):
        j = get(P, "sizes", "1000", "join")
        target("1,000 sessions online in under 10 s", j["seconds"], None, j["seconds"] < 10 and j["online"] == 1000,
               f"s; {j['online']} online")
    target("distance to the per-message floor (criterion micro-benchmark)", None, None, None, "not built yet")

    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": raw["machine"], "params": raw["params"],
            "labels": {k: g.get("label", k) for k, g in gws.items()}, "rows": rows, "targets": targets, "raw": raw}


def per10k(r, key):
    if not r or r.get(key) is None or not r.get("received"):
        return None
    return r[key] / r["received"] * 10_000


def kib_mib(v):
    return None if v is None else v / 1024


def pct(v):
    return None if v is None else v * 100


def frac(r):
    if not r:
        return None
    return f"{r['received']}/{r['sent']}"


def lat_frac(r):
    if not r:
        return None
    sent = r.get("sent", r.get("deliveries_expected"))
    return f"{r['received']}/{sent}"


def table(res: dict) -> str:
    keys = list(res["labels"])
    has_p = "pontoon" in keys
    bib = [k for k in keys if k != "pontoon"]
    head = ["metric"] + [res["labels"][k] for k in keys] + ([f"ratio Pontoon/{k}" for k in bib] if has_p else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in res["rows"]:
        vals = [fmt(r["values"].get(k), r["unit"]) for k in keys]
        rats = []
        if has_p:
            for k in bib:
                a, b = r["values"].get("pontoon"), r["values"].get(k)
                rats.append(fmt(ratio(a, b)) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "-")
        lines.append("| " + " | ".join([r["metric"]] + vals + rats) + " |")
    lines.append("")
    lines.append("| target (issue 8) | Pontoon | best biboumi | result | note |")
    lines.append("|---|---|---|---|---|")
    for t in res["targets"]:
        lines.append(f"| {t['target']} | {fmt(t['pontoon'])} | {fmt(t['biboumi_best'])} | "
                     f"{t['result'] or 'not measured'} | {t['note']} |")
    return "\n".join(lines)


def main():
    raw_path = Path(sys.argv[1])
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else HERE / "results.json"
    readme = Path(sys.argv[3]) if len(sys.argv) > 3 else HERE / "README.md"
    cmdline = sys.argv[4] if len(sys.argv) > 4 else "bench/run"
    raw = json.loads(raw_path.read_text())
    res = build(raw)
    res["command"] = cmdline
    prov = raw_path.parent / "provenance.json"
    res["pontoon_binary"] = json.loads(prov.read_text()) if prov.exists() else None
    res["biboumi_version"] = raw.get("biboumi_version")
    t = table(res)
    print(t)
    out.write_text(json.dumps({k: v for k, v in res.items()}, indent=2))
    if readme.exists():
        text = readme.read_text()
        a, b = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
        if a in text and b in text:
            m = res["machine"]
            pb = res["pontoon_binary"] or {}
            section = (f"{a}\nLatest run: {res['date']}, {m['cpus']} cores, Linux {m['kernel']}, "
                       f"command `{cmdline}`; "
                       + (f"Pontoon built by the run at {pb.get('git_head_at_run', '?')} "
                          f"({pb.get('git_dirty_files_at_run', '?')} uncommitted files under crates/), "
                          if pb.get("built_by_this_run") else
                          f"Pontoon binary given with PONTOON_BIN ({pb.get('note') or 'built ' + str(pb.get('binary_mtime'))}), ")
                       + 
                       f"biboumi {res['biboumi_version'] or '?'}.\n\n{t}\n{b}")
            pre, rest = text.split(a, 1)
            _, post = rest.split(b, 1)
            readme.write_text(pre + section + post)


if __name__ == "__main__":
    main()
