#!/usr/bin/env python3
"""The Matrix table (issue 23): reads bench/matrix.py's JSON and, where given, the IRC runs of
bench/real_peers.py (Pontoon alone, same sizes, same binary), prints a Markdown table, writes
bench/matrix-results.json and replaces the table between the markers in bench/README.md.

    matrix_report.py MATRIX_JSON OUT_JSON README "COMMAND" [--irc N=REAL_JSON ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import provenance, replace_section

BEGIN = "<!-- matrix-table begin -->"
END = "<!-- matrix-table end -->"


def fmt(v, unit="", nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}{unit}"
    return f"{v}{unit}"


def matrix_rows(m: dict) -> dict[int, dict]:
    """Per size, the median-free first run (bench/matrix.py --repeats 1 is the default); with
    repeats, the run with the median per-session RSS."""
    by: dict[int, list] = {}
    for r in m["runs"]:
        by.setdefault(r["n"], []).append(r)
    out = {}
    for n, runs in by.items():
        runs = sorted(runs, key=lambda r: r.get("rss_per_session_kib", 0))
        out[n] = runs[len(runs) // 2]
        out[n]["all_per_session_kib"] = [r.get("rss_per_session_kib") for r in by[n]]
    return out


def irc_row(path: Path) -> dict | None:
    try:
        d = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return d.get("gateways", {}).get("pontoon")


def table(m: dict, irc: dict[int, dict]) -> str:
    rows = matrix_rows(m)
    sizes = sorted(rows)
    head = "| figure | " + " | ".join(f"Matrix, N = {n}" for n in sizes)
    head += "".join(f" | IRC, N = {n}" for n in sizes if n in irc) + " |"
    sep = "|---" * (1 + len(sizes) + sum(1 for n in sizes if n in irc)) + "|"
    lines = [head, sep]

    def add(name, mf, irf=None):
        cells = [mf(rows[n]) for n in sizes]
        cells += [irf(irc[n]) if irf else "" for n in sizes if n in irc]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    def idle_pct(cpu_s, secs):
        return None if cpu_s is None or not secs else cpu_s / secs * 100

    add("sessions online of N", lambda r: f"{r['online']['online']}/{r['n']}",
        lambda r: f"{r['join']['online']}/{r['users']}")
    add("time to bring them online", lambda r: fmt(r["online"]["seconds"], " s"),
        lambda r: fmt(r["join"]["seconds"], " s", 2))
    add("Pontoon RSS before sessions", lambda r: fmt(r["rss_base_kib"] / 1024, " MiB"),
        lambda r: fmt(r["rss_idle_kib"] / 1024, " MiB"))
    add("Pontoon RSS with N idle sessions", lambda r: fmt(r["rss_online_kib"] / 1024, " MiB"),
        lambda r: fmt(r["rss_joined_kib"] / 1024, " MiB"))
    add("**RSS per idle session**", lambda r: "**" + fmt(r["rss_per_session_kib"], " KiB") + "**",
        lambda r: "**" + fmt(r["rss_per_session_kib"], " KiB") + "**")
    add("  anonymous memory per idle session (without the code's pages)",
        lambda r: fmt(r.get("anon_per_session_kib"), " KiB"))
    add("  the same after the idle minute", lambda r: fmt(r.get("rss_per_session_after_idle_kib"), " KiB"))
    add("  sockets / threads of Pontoon", lambda r: f"{r['online_fds'].get('sockets')} / {r['online_fds'].get('threads')}")
    add("Pontoon CPU over the idle minute", lambda r: fmt(r["idle"]["pontoon_cpu_s"], " s", 2)
        + f" ({fmt(idle_pct(r['idle']['pontoon_cpu_s'], r['idle']['seconds']), ' %', 2)})",
        lambda r: f"{fmt(r['idle_cores']['gateway'] * 100, ' %', 2)} (10 s)")
    add("  Synapse CPU meanwhile", lambda r: fmt(r["idle"]["synapse_cpu_s"], " s", 2)
        + f" ({fmt(idle_pct(r['idle']['synapse_cpu_s'], r['idle']['seconds']), ' %', 1)})",
        lambda r: "ngircd " + fmt(r["idle_cores"]["ngircd"] * 100, " %", 2))
    add("  /sync requests served meanwhile", lambda r: str(r["idle"]["sync_requests"]))
    add("Synapse RSS at the end", lambda r: fmt(r["synapse_rss_kib"] / 1024, " MiB"),
        lambda r: "ngircd " + fmt(r["ngircd_rss_kib"] / 1024, " MiB"))

    def lat(key, q):
        def f(r):
            la = r.get("latency", {}).get(key)
            return "-" if not la else fmt(la[q], " ms")
        return f

    def irc_lat(key, q):
        return lambda r: fmt(r["latency"][key][q], " ms", 2)

    add("Matrix -> XMPP p50 / p95", lambda r: lat("matrix_to_xmpp", "p50_ms")(r) + " / " + lat("matrix_to_xmpp", "p95_ms")(r),
        lambda r: irc_lat("irc_to_xmpp", "p50_ms")(r) + " / p99 " + irc_lat("irc_to_xmpp", "p99_ms")(r))
    add("XMPP -> Matrix p50 / p95", lambda r: lat("xmpp_to_matrix", "p50_ms")(r) + " / " + lat("xmpp_to_matrix", "p95_ms")(r),
        lambda r: irc_lat("xmpp_to_irc", "p50_ms")(r) + " / p99 " + irc_lat("xmpp_to_irc", "p99_ms")(r))
    add("  messages timed each way", lambda r: "{}/{} and {}/{}".format(
        r.get("latency", {}).get("matrix_to_xmpp", {}).get("n", 0), r.get("latency", {}).get("sent_each_way", 0),
        r.get("latency", {}).get("xmpp_to_matrix", {}).get("n", 0), r.get("latency", {}).get("sent_each_way", 0)),
        lambda r: f"{r['latency']['irc_to_xmpp']['received']}/{r['latency']['irc_to_xmpp']['sent']} and "
                  f"{r['latency']['xmpp_to_irc']['received']}/{r['latency']['xmpp_to_irc']['sent']}")

    def tp(way, key, nd=3):
        def f(r):
            v = r.get("throughput", {}).get(way, {}).get(key)
            return fmt(v, "", nd)
        return f

    add("Pontoon CPU s per 10k msgs, Matrix -> XMPP (gross)", tp("matrix_to_xmpp", "cpu_s_per_10k_gross"),
        lambda r: fmt(r["sat_irc_to_xmpp"]["cpu_s_per_10k_gross"], "", 3) + " (IRC -> XMPP)")
    add("Pontoon CPU s per 10k msgs, XMPP -> Matrix (gross)", tp("xmpp_to_matrix", "cpu_s_per_10k_gross"),
        lambda r: fmt(r["sat_xmpp_to_irc"]["cpu_s_per_10k_gross"], "", 3) + " (XMPP -> IRC)")
    add("  Synapse CPU s per 10k msgs meanwhile (to XMPP / to Matrix)",
        lambda r: tp("matrix_to_xmpp", "synapse_cpu_s_per_10k", 0)(r) + " / "
        + tp("xmpp_to_matrix", "synapse_cpu_s_per_10k", 0)(r),
        lambda r: "Prosody " + fmt(r["sat_irc_to_xmpp"]["cpu_s_per_10k_by_process"]["prosody"], "", 2) + " / "
        + fmt(r["sat_xmpp_to_irc"]["cpu_s_per_10k_by_process"]["prosody"], "", 2))
    add("  messages/s (to XMPP / to Matrix), with the window in flight",
        lambda r: tp("matrix_to_xmpp", "msgs_per_s", 0)(r) + " / " + tp("xmpp_to_matrix", "msgs_per_s", 0)(r)
        + f" ({r.get('throughput', {}).get('window', '-')})",
        lambda r: fmt(r["sat_irc_to_xmpp"]["msgs_per_s"], "", 0) + " / " + fmt(r["sat_xmpp_to_irc"]["msgs_per_s"], "", 0))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("matrix_json")
    ap.add_argument("out_json")
    ap.add_argument("readme")
    ap.add_argument("command")
    ap.add_argument("--irc", action="append", default=[], help="N=path of a real_peers.py JSON")
    ap.add_argument("--provenance", default="")
    a = ap.parse_args()
    m = json.loads(Path(a.matrix_json).read_text())
    irc = {}
    raw_irc = {}
    for spec in a.irc:
        n, _, p = spec.partition("=")
        row = irc_row(Path(p))
        if row:
            irc[int(n)] = row
            raw_irc[n] = json.loads(Path(p).read_text())
    prov = provenance(a.provenance)
    t = table(m, irc)
    print(t)
    Path(a.out_json).write_text(json.dumps({"command": a.command, "date": m.get("date"), "machine": m.get("machine"),
                                            "pontoon_binary": prov, "matrix": m, "irc": raw_irc}, indent=2) + "\n")
    note = (f"`{a.command}`, {m.get('date')}, {m.get('machine', {}).get('cpus')} cores, load average before "
            f"{' '.join(m.get('machine', {}).get('loadavg_before', []))}; sync_timeout_secs "
            f"{m.get('args', {}).get('sync_timeout')}; raw figures in `bench/matrix-results.json`."
            + (f" {prov['note_other_work']}." if prov.get("note_other_work") else ""))
    replace_section(Path(a.readme), BEGIN, END, f"{note}\n\n{t}")


if __name__ == "__main__":
    main()
