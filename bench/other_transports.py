"""The Matrix transport and the backends beside the IRC figures in the main table (issue 24,
item 4): one row per transport, the same columns (memory per session, idle CPU, CPU per
message each way), taken from the Matrix section's JSON (bench/matrix.py) and the backends
section's (bench/isolated.py with the backend gateways) of the same `bench/run`, and the
targets the Matrix issue set (issue 23: under 100 KiB per idle Matrix session, no CPU
between events). The set-ups differ (see their sections in bench/README.md): the columns say
which one a row comes from.

Standard library only; used by bench/report.py.
"""

from __future__ import annotations

from common import get

BACKEND_ROWS = [
    ("pontoon", "IRC, in process"),
    ("pontoon-py", "IRC through a Python SDK backend (bench/backends/irc_sdk.py)"),
    ("pontoon-purple", "IRC through the libpurple backend (prpl-irc)"),
    ("biboumi-nohist", "biboumi, for reference (history off)"),
]
MATRIX_TARGET_KIB = 100.0


def _num(v, nd=2):
    if v is None:
        return "-"
    return f"{v:,.{nd}f}"


def backend_rows(iso: dict) -> list[dict]:
    """One row per gateway of the backends run (isolated set-up, its traffic size)."""
    size = str(get(iso, "params", "traffic_at"))
    out = []
    for key, name in BACKEND_ROWS:
        r = get(iso, "gateways", key, "sizes", size)
        if not r:
            continue
        out.append({"transport": name, "setup": f"isolated, {size} sessions (backends section)",
                    "sessions": get(r, "join", "online"), "kib_per_session": r.get("rss_per_session_kib"),
                    "idle_pct": (r["idle_cores"] * 100) if r.get("idle_cores") is not None else None,
                    "to_network": get(r, "sat_xmpp_to_irc", "cpu_s_per_10k_gross"),
                    "from_network": get(r, "sat_irc_to_xmpp", "cpu_s_per_10k_gross"),
                    "peer_cpu": None})
    return out


def matrix_rows(m: dict) -> list[dict]:
    """One row per size of the Matrix run (the first run of each size)."""
    out, seen = [], set()
    for r in m.get("runs", []):
        if r["n"] in seen:
            continue
        seen.add(r["n"])
        idle = r.get("idle") or {}
        tp = r.get("throughput") or {}
        syn = [get(tp, w, "synapse_cpu_s_per_10k") for w in ("xmpp_to_matrix", "matrix_to_xmpp")]
        out.append({"transport": "Matrix", "setup": f"{r['n']} idle sessions against Synapse (Matrix section)",
                    "n": r["n"], "sessions": get(r, "online", "online"),
                    "kib_per_session": r.get("rss_per_session_kib"), "anon_kib": r.get("anon_per_session_kib"),
                    "idle_pct": (idle["pontoon_cpu_s"] / idle["seconds"] * 100) if idle.get("seconds") else None,
                    "to_network": get(tp, "xmpp_to_matrix", "cpu_s_per_10k_gross"),
                    "from_network": get(tp, "matrix_to_xmpp", "cpu_s_per_10k_gross"),
                    "peer_cpu": None if None in syn else f"Synapse {_num(syn[0], 0)} / {_num(syn[1], 0)}"})
    return out


def targets(mrows: list[dict]) -> list[dict]:
    """Issue 23's targets, judged at the largest size measured (RSS counts the Matrix stack's
    code pages, about 7.5 MiB a process, against the sessions: at the smaller size they weigh
    more per session; anonymous memory, without them, is in the note)."""
    if not mrows:
        return []
    big = max(mrows, key=lambda r: r["n"])
    kib = big["kib_per_session"]
    anon = ", ".join(f"{_num(r['anon_kib'], 1)} at {r['n']}" for r in mrows)
    rss = ", ".join(f"{_num(r['kib_per_session'], 1)} at {r['n']}" for r in mrows)
    return [
        {"target": f"Matrix: memory per idle session under {MATRIX_TARGET_KIB:.0f} KiB (issue 23; at {big['n']})",
         "pontoon": kib, "result": None if kib is None else ("pass" if kib < MATRIX_TARGET_KIB else "FAIL"),
         "note": f"KiB RSS; RSS {rss}; anonymous (without code pages) {anon}"},
        {"target": f"Matrix: no CPU between events (issue 23; {big['n']} idle sessions)",
         "pontoon": big["idle_pct"], "result": "measured",
         "note": "% of a core over the idle minute, the long-polls' renewals (every sync_timeout_secs) included"},
    ]


def summary(matrix: dict | None, backends: dict | None) -> dict:
    """Rows and targets for results.json and the table."""
    mrows = matrix_rows(matrix) if matrix else []
    rows = (backend_rows(backends) if backends else []) + mrows
    return {"rows": rows, "targets": targets(mrows)}


def table(s: dict) -> list[str]:
    """Markdown lines: the rows, then the targets (none when neither section ran)."""
    if not s.get("rows"):
        return []
    lines = ["", "**Other transports, same binary, same run** (issue 24 item 4; each set-up is described in its "
                 "section below: the backends' rows are the isolated set-up at 200 sessions, a backend's figures "
                 "are Pontoon's and its process's together; the Matrix rows are idle sessions against Synapse, CPU "
                 "per message on one conversation with 8 messages in flight):", "",
             "| transport | set-up | sessions online | memory per session (KiB) | idle CPU (% of a core) "
             "| CPU s per 10k msgs, XMPP -> network | CPU s per 10k msgs, network -> XMPP | the peer's CPU s per 10k "
             "(to / from) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in s["rows"]:
        lines.append(f"| {r['transport']} | {r['setup']} | {r['sessions'] if r['sessions'] is not None else '-'} "
                     f"| {_num(r['kib_per_session'], 1)} | {_num(r['idle_pct'])} | {_num(r['to_network'], 3)} "
                     f"| {_num(r['from_network'], 3)} | {r['peer_cpu'] or '-'} |")
    if s.get("targets"):
        lines += ["", "| target (issue 23) | Pontoon | result | note |", "|---|---|---|---|"]
        for t in s["targets"]:
            lines.append(f"| {t['target']} | {_num(t['pontoon'])} | {t['result'] or 'not measured'} | {t['note']} |")
    return lines
