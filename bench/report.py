#!/usr/bin/env python3
"""Turns the drivers' raw JSON into the comparison tables (stdout), bench/results.json, and the
table section of bench/README.md (between the RESULTS markers).

  report.py ISOLATED.json [OUT.json [README.md [COMMAND]]] [--real REAL.json] [--floor FLOOR.json]
            [--matrix MATRIX.json] [--backends BACKENDS.json]

ISOLATED is bench/isolated.py's output, REAL bench/real_peers.py's, FLOOR bench/floor.py's
(criterion and callgrind figures of crates/pontoon-bench); MATRIX (bench/matrix.py's) and
BACKENDS (bench/isolated.py's run of the backend gateways) add the table of the other
transports (bench/other_transports.py).

With several rounds (bench/isolated.py and bench/real_peers.py --rounds), each figure of a
table is "median (min-max)" over the rounds (one value where the rounds agree, or with one
round); the ratio columns are ratios of medians, and the targets are judged on medians.
results.json keeps the medians where a single pass had its value ("values", "pontoon",
"biboumi_best", ...) and adds the extremes ("min", "max", "..._min", "..._max") and every
round's value ("per_round").

Targets (issue 8) are judged against the *best* biboumi figure of the run (history off on
tmpfs, normally), so a pass is never won against biboumi's slow default; both biboumi
columns are shown.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import other_transports
from common import get, median_of

HERE = Path(__file__).resolve().parent


def load(path: str | None) -> dict | None:
    """A driver's JSON, or None when not given or not written (its section failed)."""
    return json.loads(Path(path).read_text()) if path and Path(path).exists() else None


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


def rounds_of(g) -> list:
    """A gateway's results per round, each in the shape of a single pass's (a JSON written
    before rounds existed: its one pass)."""
    rs = g.get("rounds") if isinstance(g, dict) else None
    return rs if isinstance(rs, list) and rs else ([g] if g else [])


def is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def stat(samples: list) -> tuple:
    """(median, min, max) of a figure over the rounds that have it; a text figure (x/y) gives
    its distinct values, in round order, and no extremes."""
    xs = [v for v in samples if v is not None]
    if not xs:
        return None, None, None
    if all(is_num(v) for v in xs):
        return median_of(xs), min(xs), max(xs)
    return ", ".join(dict.fromkeys(str(v) for v in xs)), None, None


def gstat(g, fn) -> tuple:
    """stat() of fn over the rounds of gateway g (None: (None, None, None))."""
    return stat([fn(r) for r in rounds_of(g)]) if g else (None, None, None)


def span(lo, hi) -> str:
    """" (min-max)" where the rounds differ (as printed), else nothing."""
    if lo is None or hi is None or fmt(lo) == fmt(hi):
        return ""
    return f" ({fmt(lo)}–{fmt(hi)})"


def fmt_stat(st: tuple, unit="") -> str:
    """A figure over the rounds: "median (min-max)", or one value where they agree."""
    med, lo, hi = st
    return fmt(med, unit) + span(lo, hi)


def scale(st: tuple, f) -> tuple:
    return tuple(None if v is None else f(v) for v in st)


def make_row(gws: dict, metric: str, fn, unit="", lower_better=True, **extra) -> dict:
    """One table row: per gateway the median over the rounds ("values", in a single pass's
    place), the extremes ("min", "max") and every round's value ("per_round")."""
    per = {k: [fn(r) for r in rounds_of(g)] for k, g in gws.items()}
    st = {k: stat(v) for k, v in per.items()}
    return dict({"metric": metric, "unit": unit, "values": {k: s[0] for k, s in st.items()},
                 "min": {k: s[1] for k, s in st.items()}, "max": {k: s[2] for k, s in st.items()},
                 "per_round": per, "lower_is_better": lower_better}, **extra)


def build(raw: dict, real: dict | None = None, floor: dict | None = None) -> dict:
    gws = raw["gateways"]
    sizes = sorted({int(n) for g in gws.values() for n in g["sizes"]})
    traffic_at = raw["params"]["traffic_at"]
    big = max(sizes) if sizes else None
    rows = []

    def row(metric, path_fn, unit="", lower_better=True, target=None):
        rows.append(make_row(gws, metric, path_fn, unit, lower_better, target=target))

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

    P = gws.get("pontoon")
    best_biboumi = lambda fn: best_of(gws, bib, fn)  # noqa: E731
    target = lambda *a, **kw: add_target(targets, *a, **kw)  # noqa: E731

    for d, name in (("sat_xmpp_to_irc", "XMPP->IRC"), ("sat_irc_to_xmpp", "IRC->XMPP")):
        f = lambda g, d=d: get(g, "sizes", s, d, "cpu_s_per_10k_gross")  # noqa: E731
        ps, bs = gstat(P, f), best_biboumi(f)
        fn = lambda g, d=d: get(g, "sizes", s, d, "cpu_s_per_10k_net")  # noqa: E731
        pn, bn = gstat(P, fn)[0], best_biboumi(fn)[0]
        pv, bv = ps[0], bs[0]
        target(f"CPU per message {name} <= 0.5x biboumi (CPU s per 10k msgs, gross)", ps, bs,
               None if pv is None or bv is None else pv <= 0.5 * bv,
               f"ratio {fmt(ratio(pv, bv))}; net of idle: Pontoon {fmt(pn)}, best biboumi {fmt(bn)}")
    f = lambda g: get(g, "sizes", s, "rss_per_session_kib")  # noqa: E731
    ps, bs = gstat(P, f), best_biboumi(f)
    pv, bv = ps[0], bs[0]
    target(f"memory per session <= 0.5x biboumi (at {traffic_at})", ps, bs,
           None if pv is None or bv is None else pv <= 0.5 * bv, f"KiB; ratio {fmt(ratio(pv, bv))}")
    if big and big != traffic_at:
        f = lambda g: get(g, "sizes", str(big), "rss_per_session_kib")  # noqa: E731
        ps, bs = gstat(P, f), best_biboumi(f)
        pv, bv = ps[0], bs[0]
        online = {k: gstat(gws[k], lambda g: get(g, "sizes", str(big), "join", "online")) for k in bib}
        seen = ", ".join(f"{k}: {v[0]}{span(v[1], v[2])}" for k, v in online.items() if v[0] is not None)
        target(f"memory per session <= 0.5x biboumi (at {big})", ps, bs,
               None if pv is None or bv is None else pv <= 0.5 * bv,
               f"KiB; ratio {fmt(ratio(pv, bv))}; per session online ({seen or 'biboumi not run'})"
               + rounds_note(P, lambda g: get(g, "sizes", str(big), "rss_per_session_kib"), raw))
    for d, name in (("xmpp_to_irc", "XMPP->IRC"), ("irc_to_xmpp", "IRC->XMPP")):
        f = lambda g, d=d: get(g, "sizes", s, "latency", d, "p99_ms")  # noqa: E731
        ps, bs = gstat(P, f), best_biboumi(f)
        pv, bv = ps[0], bs[0]
        target(f"p99 latency {name} no worse than biboumi", ps, bs,
               None if pv is None or bv is None else pv <= bv, f"ms; ratio {fmt(ratio(pv, bv))}")
    if P and big:
        f = lambda g: get(g, "sizes", str(big), "idle_cores")  # noqa: E731
        idle = gstat(P, f)
        if idle[0] is not None:
            idle10k = scale(idle, lambda v: v * 10000 / big * 100)
            target("idle joined sessions: < 1 % of a core for 10,000", idle10k, None, idle10k[0] < 1,
                   "% of a core" + ("" if big == 10000 else f"; linear extrapolation from {big} sessions")
                   + rounds_note(P, f, raw))

        def est(g):
            rss = get(g, "sizes", str(big), "rss_joined_kib")
            per = get(g, "sizes", str(big), "rss_per_session_kib")
            idle_rss = get(g, "sizes", str(big), "rss_idle_kib")
            if rss is None:
                return None
            return rss if big == 10000 else idle_rss + per * 10000
        e = gstat(P, est)
        if e[0] is not None:
            target("10,000 sessions under 1 GiB resident", scale(e, kib_mib), None, e[0] < 1024 * 1024,
                   "MiB" + ("" if big == 10000 else f"; extrapolated from {big} sessions") + rounds_note(P, est, raw))
    if P and get(P, "sizes", "1000"):
        secs = gstat(P, lambda g: get(g, "sizes", "1000", "join", "seconds"))
        online = gstat(P, lambda g: get(g, "sizes", "1000", "join", "online"))
        if secs[0] is not None:
            target("1,000 sessions online in under 10 s", secs, None, secs[0] < 10 and online[1] == 1000,
                   f"s; {online[0]} online" + (f" (at least {online[1]})" if online[1] != online[0] else ""))
    real_rows, real_labels = build_real(real, target) if real else ([], {})
    floor_rows = build_floor(floor, P, s, get(real, "gateways", "pontoon") if real else None, target)

    return {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "machine": raw["machine"], "params": raw["params"],
            "rounds": raw.get("rounds", 1), "real_rounds": (real or {}).get("rounds", 1) if real else None,
            "labels": {k: g.get("label", k) for k, g in gws.items()}, "rows": rows, "targets": targets,
            "real_labels": real_labels, "real_rows": real_rows, "floor_rows": floor_rows,
            "raw": raw, "raw_real": real, "raw_floor": floor}


def best_of(gws: dict, keys: list, fn) -> tuple:
    """(median, min, max, key) of the gateway among `keys` with the lowest median of fn (the
    best biboumi of a figure), or Nones."""
    cands = [(gstat(gws[k], fn), k) for k in keys]
    cands = [(st, k) for st, k in cands if is_num(st[0])]
    if not cands:
        return None, None, None, None
    st, k = min(cands, key=lambda c: c[0][0])
    return st[0], st[1], st[2], k


def rounds_note(g, fn, raw) -> str:
    """"; 1 round" where a figure comes from fewer rounds than the run had."""
    total = raw.get("rounds", 1) if isinstance(raw, dict) else 1
    n = sum(1 for r in rounds_of(g) if fn(r) is not None) if g else 0
    return f"; {n} round{'s' if n != 1 else ''}" if 0 < n < total else ""


def add_target(targets: list, name, ps, bs, ok, note="", result_text=None):
    """A target row. `ps`/`bs` (Pontoon, best biboumi): (median, min, max[, key]) over the
    rounds, or None; judged on the medians."""
    ps = tuple(ps) if isinstance(ps, (tuple, list)) else (ps, None, None)
    bs = tuple(bs) if isinstance(bs, (tuple, list)) else (bs, None, None)
    t = {"target": name, "pontoon": ps[0], "biboumi_best": bs[0],
         "result": result_text if ok is None else ("pass" if ok else "FAIL"), "note": note,
         "pontoon_min": ps[1], "pontoon_max": ps[2], "biboumi_best_min": bs[1], "biboumi_best_max": bs[2]}
    if len(bs) > 3 and bs[3]:
        t["biboumi_best_gateway"] = bs[3]
    targets.append(t)


def build_real(real: dict, target) -> tuple[list, dict]:
    """Rows of the real-peers set-up (one N), and its targets against the best biboumi."""
    gws = real["gateways"]
    n = real["params"]["users"]
    rows = []

    def row(metric, fn, unit="", lower_better=True):
        rows.append(make_row(gws, metric, fn, unit, lower_better))

    row(f"time to bring {n} sessions online", lambda g: get(g, "join", "seconds"), " s")
    row(f"sessions online of {n}", lambda g: get(g, "join", "online"), "", lower_better=False)
    row("  SYNs dropped by a full listen queue meanwhile (ngircd's backlog is 10)",
        lambda g: get(g, "join", "listen_drops"), "")
    row("RSS idle (before sessions)", lambda g: kib_mib(get(g, "rss_idle_kib")), " MiB")
    row(f"RSS with {n} sessions joined", lambda g: kib_mib(get(g, "rss_joined_kib")), " MiB")
    row(f"RSS per session at {n}", lambda g: get(g, "rss_per_session_kib"), " KiB")
    row(f"CPU of {n} idle joined sessions (10 s)", lambda g: pct(get(g, "idle_cores", "gateway")), " % of a core")
    row("  Prosody's CPU meanwhile", lambda g: pct(get(g, "idle_cores", "prosody")), " % of a core")
    for d, name in (("sat_xmpp_to_irc", "XMPP->IRC"), ("sat_irc_to_xmpp", "IRC->XMPP")):
        row(f"{name} msgs/s at saturation", lambda g, d=d: get(g, d, "msgs_per_s"), "/s", lower_better=False)
        row(f"{name} delivered of sent at saturation", lambda g, d=d: frac(get(g, d)), "", lower_better=False)
        row(f"{name} CPU s per 10k msgs, gross", lambda g, d=d: get(g, d, "cpu_s_per_10k_gross"), " s")
        row(f"{name} CPU s per 10k msgs, net of idle", lambda g, d=d: get(g, d, "cpu_s_per_10k_net"), " s")
        row(f"{name} of which kernel (stime) per 10k msgs", lambda g, d=d: per10k(get(g, d), "sys_s"), " s")
        for proc, label in (("prosody", "Prosody"), ("ngircd", "ngircd"), ("driver", "the load driver")):
            row(f"  {label}'s CPU s per 10k msgs meanwhile",
                lambda g, d=d, proc=proc: get(g, d, "cpu_s_per_10k_by_process", proc), " s")
    for d, name in (("xmpp_to_irc", "XMPP->IRC"), ("irc_to_xmpp", "IRC->XMPP")):
        rate = next((get(g, "latency", d, "rate") for g in gws.values() if get(g, "latency", d, "rate")), None)
        row(f"{name} p50 latency at {fmt(rate)} msg/s", lambda g, d=d: get(g, "latency", d, "p50_ms"), " ms")
        row(f"{name} p99 latency at {fmt(rate)} msg/s", lambda g, d=d: get(g, "latency", d, "p99_ms"), " ms")
        row(f"{name} delivered of sent at {fmt(rate)} msg/s", lambda g, d=d: lat_frac(get(g, "latency", d)), "",
            lower_better=False)

    P = gws.get("pontoon")
    bib = [k for k in gws if k.startswith("biboumi")]

    def best(fn):
        return best_of(gws, bib, fn)

    if P:
        for d, name in (("sat_xmpp_to_irc", "XMPP->IRC"), ("sat_irc_to_xmpp", "IRC->XMPP")):
            f = lambda g, d=d: get(g, d, "cpu_s_per_10k_gross")  # noqa: E731
            fn = lambda g, d=d: get(g, d, "cpu_s_per_10k_net")  # noqa: E731
            ps, bs = gstat(P, f), best(f)
            pv, bv = ps[0], bs[0]
            target(f"real peers: CPU per message {name} <= 0.5x biboumi (CPU s per 10k msgs, gross)", ps, bs,
                   None if pv is None or bv is None else pv <= 0.5 * bv,
                   f"ratio {fmt(ratio(pv, bv))}; net of idle: Pontoon {fmt(gstat(P, fn)[0])}, "
                   f"best biboumi {fmt(best(fn)[0])}")
        f = lambda g: get(g, "rss_per_session_kib")  # noqa: E731
        ps, bs = gstat(P, f), best(f)
        pv, bv = ps[0], bs[0]
        target(f"real peers: memory per session <= 0.5x biboumi (at {n})", ps, bs,
               None if pv is None or bv is None else pv <= 0.5 * bv, f"KiB; ratio {fmt(ratio(pv, bv))}")
        for d, name in (("xmpp_to_irc", "XMPP->IRC"), ("irc_to_xmpp", "IRC->XMPP")):
            f = lambda g, d=d: get(g, "latency", d, "p99_ms")  # noqa: E731
            ps, bs = gstat(P, f), best(f)
            pv, bv = ps[0], bs[0]
            target(f"real peers: p99 latency {name} no worse than biboumi", ps, bs,
                   None if pv is None or bv is None else pv <= bv, f"ms; ratio {fmt(ratio(pv, bv))}")
    return rows, {k: g.get("label", k) for k, g in gws.items()}


def build_floor(floor: dict | None, P: dict | None, s: str, real: dict | None, target) -> list:
    """The per-message floor (criterion, callgrind) of each direction, and how far Pontoon's
    end-to-end CPU per message (gross; the median over the rounds, with its extremes) is from
    it. `P`: Pontoon's isolated results, `s` the size with traffic, `real` its real-peers ones."""
    rows = []
    cases = (
        ("XMPP->IRC: stanza in, PRIVMSG out, reflection to the sender", "xmpp_to_irc_with_reflection", "sat_xmpp_to_irc"),
        ("IRC->XMPP: line in, groupchat stanza out", "irc_to_xmpp", "sat_irc_to_xmpp"),
        ("(XMPP->IRC without the reflection)", "xmpp_to_irc", None),
    )
    for label, bench, sat in cases:
        ns = get(floor, "criterion", bench, "median_ns")
        ir = get(floor, "callgrind", bench, "ir_per_msg")
        none = (None, None, None)
        # CPU s per 10k messages -> ns per message: x 1e9 / 1e4
        e_iso = scale(gstat(P, lambda g: get(g, "sizes", s, sat, "cpu_s_per_10k_gross")), lambda v: v * 1e5) \
            if sat else none
        e_real = scale(gstat(real, lambda g: get(g, sat, "cpu_s_per_10k_gross")), lambda v: v * 1e5) \
            if sat else none
        iso_ns, real_ns = e_iso[0], e_real[0]
        rows.append({"path": label, "floor_ns": ns, "floor_ir": ir, "isolated_ns": iso_ns,
                     "isolated_ratio": ratio(iso_ns, ns), "real_ns": real_ns, "real_ratio": ratio(real_ns, ns),
                     "isolated_ns_min": e_iso[1], "isolated_ns_max": e_iso[2],
                     "real_ns_min": e_real[1], "real_ns_max": e_real[2]})
        if sat:
            name = label.split(":")[0]
            target(f"distance to the per-message floor, {name} (end-to-end CPU / criterion floor)",
                   ratio(iso_ns, ns), None, None,
                   "x; isolated set-up, gross" + (f"; real peers {fmt(ratio(real_ns, ns))}x" if real_ns else "")
                   + ("" if ns else "; floor not measured"), result_text="measured" if ns else "not measured")
    return rows


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


def compare(labels: dict, rows: list, rounds: int = 1) -> list[str]:
    """A table: per gateway "median (min-max)" over the rounds, ratios of the medians. A row
    measured in fewer rounds than the run had says so ("(1 round)")."""
    keys = list(labels)
    has_p = "pontoon" in keys
    bib = [k for k in keys if k != "pontoon"]
    head = ["metric"] + [labels[k] for k in keys] + ([f"ratio Pontoon/{k}" for k in bib] if has_p else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        per = r.get("per_round") or {}
        counts = {k: sum(1 for v in per.get(k, []) if v is not None) for k in keys}
        seen = {c for c in counts.values() if c}
        metric = r["metric"]
        if rounds > 1 and len(seen) == 1 and (c := seen.pop()) < rounds:
            metric += f" ({c} round{'s' if c != 1 else ''})"
            counts = {}
        vals = []
        for k in keys:
            v = fmt_stat((r["values"].get(k), (r.get("min") or {}).get(k), (r.get("max") or {}).get(k)), r["unit"])
            if rounds > 1 and 0 < counts.get(k, rounds) < rounds:
                v += f" [{counts[k]} of {rounds} rounds]"
            vals.append(v)
        rats = []
        if has_p:
            for k in bib:
                a, b = r["values"].get("pontoon"), r["values"].get(k)
                rats.append(fmt(ratio(a, b)) if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "-")
        lines.append("| " + " | ".join([metric] + vals + rats) + " |")
    return lines


def rounds_text(n: int) -> str:
    return "" if n <= 1 else f"; {n} rounds, gateways interleaved, each figure median (min–max)"


def table(res: dict) -> str:
    rounds = res.get("rounds") or 1
    lines = []
    if rounds > 1 or (res.get("real_rounds") or 1) > 1:
        lines += ["Each figure is the median over the rounds, with the lowest and highest in brackets (one value "
                  "where every round gave the same); ratio columns are ratios of the medians, the targets are "
                  "judged on the medians.", ""]
    lines += [f"**Isolated gateway** (the driver is both the XMPP server and the IRC server{rounds_text(rounds)}):",
              ""]
    lines += compare(res["labels"], res["rows"], rounds)
    if res.get("real_rows"):
        rr = res.get("raw_real") or {}
        prm = rr.get("params", {})
        lines += ["", f"**Real peers** (Prosody {get(rr, 'versions', 'prosody') or '?'} + ngircd "
                      f"{get(rr, 'versions', 'ngircd') or '?'}, {prm.get('users')} XMPP users as c2s clients, "
                      f"{prm.get('group')} per channel, {prm.get('peers')} raw IRC peers; saturation "
                      f"{prm.get('messages')} messages per direction, at most {prm.get('window')} in flight"
                      f"{rounds_text(res.get('real_rounds') or 1)}):", ""]
        lines += compare(res["real_labels"], res["real_rows"], res.get("real_rounds") or 1)
    if res.get("floor_rows"):
        fl = res.get("raw_floor") or {}
        lines += ["", "**Per-message floor** (crates/pontoon-bench: one message through the real parsing, "
                      "routing and formatting functions, no I/O, no scheduler; criterion median and "
                      "callgrind instructions) against Pontoon's end-to-end CPU per message (gross, "
                      "saturation" + ("; median (min–max) over the rounds" if rounds > 1 else "") + "):", ""]
        lines.append("| Pontoon's path | floor, ns/msg | floor, instructions/msg | end-to-end, isolated, ns/msg "
                     "| isolated / floor | end-to-end, real peers, ns/msg | real peers / floor |")
        lines.append("|---|---|---|---|---|---|---|")
        for r in res["floor_rows"]:
            iso = fmt(r["isolated_ns"]) + span(r.get("isolated_ns_min"), r.get("isolated_ns_max"))
            real = fmt(r["real_ns"]) + span(r.get("real_ns_min"), r.get("real_ns_max"))
            lines.append(f"| {r['path']} | {fmt(r['floor_ns'])} | {fmt(r['floor_ir'])} | {iso} "
                         f"| {fmt(r['isolated_ratio'], 'x')} | {real} | {fmt(r['real_ratio'], 'x')} |")
        if not fl.get("callgrind"):
            lines.append("")
            lines.append("(callgrind not run: valgrind missing or --no-callgrind)")
    lines.append("")
    lines.append("| target (issue 8) | Pontoon | best biboumi | result | note |")
    lines.append("|---|---|---|---|---|")
    for t in res["targets"]:
        pv = fmt(t["pontoon"]) + span(t.get("pontoon_min"), t.get("pontoon_max"))
        bv = fmt(t["biboumi_best"]) + span(t.get("biboumi_best_min"), t.get("biboumi_best_max"))
        lines.append(f"| {t['target']} | {pv} | {bv} | {t['result'] or 'not measured'} | {t['note']} |")
    lines += other_transports.table(res.get("other_transports") or {})
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("isolated")
    ap.add_argument("out", nargs="?", default=str(HERE / "results.json"))
    ap.add_argument("readme", nargs="?", default=str(HERE / "README.md"))
    ap.add_argument("command", nargs="?", default="bench/run")
    ap.add_argument("--real", help="bench/real_peers.py's JSON")
    ap.add_argument("--floor", help="bench/floor.py's JSON")
    ap.add_argument("--matrix", help="bench/matrix.py's JSON (the Matrix section of the same run)")
    ap.add_argument("--backends", help="bench/isolated.py's JSON of the backends section of the same run")
    a = ap.parse_args()
    raw_path, out, readme, cmdline = Path(a.isolated), Path(a.out), Path(a.readme), a.command
    real = json.loads(Path(a.real).read_text()) if a.real and Path(a.real).exists() else None
    floor = json.loads(Path(a.floor).read_text()) if a.floor and Path(a.floor).exists() else None
    raw = json.loads(raw_path.read_text())
    res = build(raw, real, floor)
    res["other_transports"] = other_transports.summary(load(a.matrix), load(a.backends))
    res["command"] = cmdline
    prov = raw_path.parent / "provenance.json"
    res["pontoon_binary"] = json.loads(prov.read_text()) if prov.exists() else None
    res["biboumi_version"] = raw.get("biboumi_version")
    t = table(res)
    print(t)
    out.write_text(json.dumps({k: v for k, v in res.items()}, indent=2))
    if readme.exists():
        text = readme.read_text()
        ma, mb = "<!-- RESULTS:BEGIN -->", "<!-- RESULTS:END -->"
        if ma in text and mb in text:
            m = res["machine"]
            pb = res["pontoon_binary"] or {}
            section = (f"{ma}\nLatest run: {res['date']}, {m['cpus']} cores, Linux {m['kernel']}, "
                       f"command `{cmdline}`; "
                       + (f"Pontoon built by the run from {pb['source']}, "
                          if pb.get("built_by_this_run") and pb.get("source") else
                          f"Pontoon built by the run at {pb.get('git_head_at_run', '?')} "
                          f"({pb.get('git_dirty_files_at_run', '?')} uncommitted files under crates/), "
                          if pb.get("built_by_this_run") else
                          f"Pontoon binary given with PONTOON_BIN ({pb.get('note') or 'built ' + str(pb.get('binary_mtime'))}), ")
                       + f"biboumi {res['biboumi_version'] or '?'}"
                       + (f"; load average before the run {pb['loadavg_before']}" if pb.get("loadavg_before") else "")
                       + (f". {pb['note_other_work']}" if pb.get("note_other_work") else "")
                       + f".\n\n{t}\n{mb}")
            pre, rest = text.split(ma, 1)
            _, post = rest.split(mb, 1)
            readme.write_text(pre + section + post)


if __name__ == "__main__":
    main()
