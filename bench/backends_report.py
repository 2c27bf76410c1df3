#!/usr/bin/env python3
"""The backends table (issue 15): what a process boundary costs. Reads bench/isolated.py's
JSON of a run with the in-process IRC transport, the same IRC workload through backend
processes (`pontoon-py`: a Python SDK backend; `pontoon-purple`: libpurple's prpl-irc) and
biboumi beside them, prints a Markdown table, writes bench/backends-results.json and
replaces the table between the markers in bench/README.md. CPU and memory of a backend
column are Pontoon's and its backend processes' together (bench/common.py `family`).

    backends_report.py ISOLATED_JSON OUT_JSON README "COMMAND" [--provenance PATH]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from common import provenance, replace_section

BEGIN = "<!-- backends-table begin -->"
END = "<!-- backends-table end -->"
ORDER = ["pontoon", "pontoon-py", "pontoon-purple", "biboumi-nohist"]


def fmt(v, nd=2):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    return str(v)


def table(res: dict) -> str:
    gws = [g for g in ORDER if g in res.get("gateways", {})]
    size = str(res.get("params", {}).get("traffic_at"))
    rows = {g: res["gateways"][g]["sizes"].get(size, {}) for g in gws}
    head = "| at " + size + " sessions | " + " | ".join(res["gateways"][g]["label"] for g in gws) + " |"
    lines = [head, "|---|" + "---|" * len(gws)]

    def add(name, get):
        vals = []
        for g in gws:
            try:
                vals.append(get(rows[g]))
            except (KeyError, TypeError):
                vals.append("-")
        lines.append(f"| {name} | " + " | ".join(vals) + " |")

    add("sessions online", lambda r: f"{r['join']['online']} in {r['join']['seconds']:.2f} s")
    add("memory per session (KiB)", lambda r: fmt(r["rss_per_session_kib"], 1))
    add("memory idle (MiB)", lambda r: fmt(r["rss_idle_kib"] / 1024, 1))
    add("idle CPU (% of a core)", lambda r: fmt(r["idle_cores"] * 100, 2))
    for way, label in (("xmpp_to_irc", "XMPP -> IRC"), ("irc_to_xmpp", "IRC -> XMPP")):
        add(f"{label} latency p50 / p99 (ms)",
            lambda r, w=way: f"{fmt(r['latency'][w]['p50_ms'])} / {fmt(r['latency'][w]['p99_ms'])}")
        key = "sat_xmpp_to_irc" if way == "xmpp_to_irc" else "sat_irc_to_xmpp"
        add(f"{label} CPU s per 10k messages (gross)", lambda r, k=key: fmt(r[k]["cpu_s_per_10k_gross"], 3))
        add(f"{label} messages/s at saturation", lambda r, k=key: fmt(r[k]["msgs_per_s"], 0))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("isolated_json")
    ap.add_argument("out_json")
    ap.add_argument("readme")
    ap.add_argument("command")
    ap.add_argument("--provenance", default="")
    a = ap.parse_args()
    res = json.loads(Path(a.isolated_json).read_text())
    prov = provenance(a.provenance)
    t = table(res)
    print(t)
    Path(a.out_json).write_text(json.dumps({"command": a.command, "pontoon_binary": prov, "isolated": res},
                                           indent=2) + "\n")
    note = (f"`{a.command}`, {res.get('machine', {}).get('cpus')} cores, load average before "
            f"{prov.get('loadavg_before', '?')}; raw figures in `bench/backends-results.json`."
            + (f" {prov['note_other_work']}." if prov.get("note_other_work") else ""))
    replace_section(Path(a.readme), BEGIN, END, f"{note}\n\n{t}")


if __name__ == "__main__":
    main()
