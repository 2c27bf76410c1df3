#!/usr/bin/env python3
"""Soak: Pontoon between a real Prosody and a real ngircd, 1,000 sessions under steady
traffic both ways for 10 minutes (issue 21). Not a timed test and not part of
scripts/test: run it by hand (`bench/soak`), it prints a verdict and writes
bench/tmp/soak.json.

The set-up is bench/real_peers.py's (imported, not copied): a private Prosody with N
accounts, ngircd on 127.0.0.2:6667, N small asyncio c2s clients in this process, each
joined through Pontoon to a channel (10 users per channel by default), and raw IRC peers in
the channels. Then, for the duration, one message XMPP->IRC and one IRC->XMPP every
1/rate seconds, each numbered; the gateway's RSS (and Prosody's and ngircd's) is sampled
every 10 s.

Verdict:
- memory **flat**: after the warm-up (the first 2 minutes), the gateway's RSS never grows
  more than the bound (8 MiB by default) above its level at the end of the warm-up;
- **no error in the log**: no ERROR or WARN line in the gateway's log (log level warn) after
  the joins;
- **every message delivered**: each numbered message reached the far end (after a drain of
  up to 30 s), or came back as an error to its sender (counted apart; none expected).

Every wait is bounded; only loopback; every process is stopped by pid on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import install_signal_handlers, log, rss_kib, until  # noqa: E402
from real_peers import Driver, Run  # noqa: E402


def log_problems(path: Path, since: int) -> list[str]:
    """ERROR and WARN lines of the gateway's log from byte `since` on."""
    try:
        with open(path, "rb") as f:
            f.seek(since)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if re.search(r"\b(ERROR|WARN)\b", line)]


async def soak(args) -> dict:
    drv = Driver(args)
    run = Run(drv, "pontoon", Path(args.workdir).resolve(), args)
    out: dict = {"users": args.users, "group": args.group, "minutes": args.minutes, "rate": args.rate}
    try:
        out["c2s_login"] = await run.start_servers(Path(args.pontoon_bin).resolve(), Path("/dev/shm"))
        drv.running = True
        await run.setup_users()
        j = await run.join_all()
        out["join"] = j
        log(f"soak: {j['online']}/{args.users} sessions online in {j['seconds']:.1f} s")
        if j["online"] < args.users:
            raise RuntimeError(f"only {j['online']} of {args.users} sessions came online")
        gw_log = run.gw.dir / "stdout.log"
        log_start = gw_log.stat().st_size if gw_log.exists() else 0
        pids = run.procs()
        samples = []
        x_sent = i_sent = 0
        x_keys: set[int] = set()
        i_keys: set[int] = set()
        duration = args.minutes * 60
        t0 = time.perf_counter()
        next_sample = t0
        k = 0
        while True:
            now = time.perf_counter()
            if now - t0 >= duration:
                break
            if now >= next_sample:
                samples.append({"t": round(now - t0, 1),
                                **{name: rss_kib(pid) for name, pid in pids.items()},
                                "x_delivered": x_sent - len(drv.x_sent), "i_delivered": i_sent - len(drv.i_sent)})
                next_sample += args.sample
                s = samples[-1]
                log(f"  t={s['t']:6.0f} s  gateway RSS {s['gateway'] / 1024:.1f} MiB, prosody "
                    f"{s['prosody'] / 1024:.1f} MiB; delivered {s['x_delivered']}/{x_sent} XMPP->IRC, "
                    f"{s['i_delivered']}/{i_sent} IRC->XMPP")
            delay = t0 + k / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seq_x, seq_i = 5_000_000 + k, 6_000_000 + k
            conn, data = run._x(seq_x)
            drv.x_sent[seq_x] = time.perf_counter()
            x_keys.add(seq_x)
            conn.send(data)
            peer, line = run._i(seq_i)
            drv.i_sent[seq_i] = time.perf_counter()
            i_keys.add(seq_i)
            peer.send(line)
            x_sent += 1
            i_sent += 1
            k += 1
        await until(lambda: not drv.x_sent and not drv.i_sent, args.drain)
        out["sent"] = {"xmpp_to_irc": x_sent, "irc_to_xmpp": i_sent}
        out["undelivered"] = {"xmpp_to_irc": len(drv.x_sent), "irc_to_xmpp": len(drv.i_sent)}
        out["bounced_to_sender"] = drv.msg_errors
        out["latency_ms"] = {"xmpp_to_irc_p50": round(sorted(drv.x_lat)[len(drv.x_lat) // 2] * 1000, 1)
                             if drv.x_lat else None,
                             "irc_to_xmpp_p50": round(sorted(drv.i_lat)[len(drv.i_lat) // 2] * 1000, 1)
                             if drv.i_lat else None}
        out["samples"] = samples
        after_warmup = [s for s in samples if s["t"] >= args.warmup]
        if not after_warmup:
            raise RuntimeError("the run ended before the warm-up did")
        level = after_warmup[0]["gateway"]
        peak = max(s["gateway"] for s in after_warmup)
        growth_mib = (peak - level) / 1024
        problems = log_problems(gw_log, log_start)
        out["rss_kib"] = {"after_warmup": level, "peak_after_warmup": peak,
                          "end": samples[-1]["gateway"], "per_session_end": samples[-1]["gateway"] / args.users}
        out["log_problems"] = problems[:50]
        out["verdict"] = {
            "memory_flat": growth_mib <= args.bound_mib,
            "growth_mib": round(growth_mib, 1),
            "no_log_errors": not problems,
            "all_delivered": not drv.x_sent and not drv.i_sent and drv.msg_errors == 0,
        }
    finally:
        drv.running = False
        run.stop()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pontoon-bin", default=str(HERE.parent / "target" / "release" / "pontoon"))
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--group", type=int, default=10, help="users per channel")
    ap.add_argument("--peers", type=int, default=10, help="raw IRC clients on ngircd")
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=50.0, help="messages per second in each direction")
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--warmup", type=float, default=120.0, help="seconds before the memory level is taken")
    ap.add_argument("--bound-mib", type=float, default=8.0, help="RSS growth allowed after the warm-up")
    ap.add_argument("--drain", type=float, default=30.0)
    ap.add_argument("--login-window", type=int, default=50)
    ap.add_argument("--join-window", type=int, default=200)
    ap.add_argument("--join-timeout", type=float, default=120.0)
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "soak"))
    ap.add_argument("--out", default=str(HERE / "tmp" / "soak.json"))
    args = ap.parse_args()
    install_signal_handlers()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res = asyncio.run(soak(args))
    Path(args.out).write_text(json.dumps(res, indent=2))
    v = res["verdict"]
    log(f"soak: memory {'flat' if v['memory_flat'] else 'NOT flat'} (growth {v['growth_mib']} MiB after the "
        f"warm-up, bound {args.bound_mib}); log {'clean' if v['no_log_errors'] else 'has ERROR/WARN lines'}; "
        f"{'every message delivered' if v['all_delivered'] else 'messages lost: ' + json.dumps(res['undelivered'])}; "
        f"wrote {args.out}")
    sys.exit(0 if all(v[k] for k in ("memory_flat", "no_log_errors", "all_delivered")) else 1)


if __name__ == "__main__":
    main()
