#!/usr/bin/env python3
"""The per-message floor (issue 8, point 5): Pontoon's message path alone, one message at a
time, no network, no scheduler (crates/pontoon-bench; see its src/lib.rs for exactly which
steps are the real functions).

1. `cargo bench -p pontoon-bench --bench message_path` (criterion): nanoseconds per message,
   read from criterion's estimates (target/criterion/message_path/<bench>/new/estimates.json).
2. `valgrind --tool=callgrind` on the `message-path` binary, N and 2N messages per
   direction: instructions per message = (Ir(2N) - Ir(N)) / N, which leaves start-up and
   set-up out. Stable to well under 1 % on a noisy machine.

Writes a JSON file (default bench/tmp/floor.json). Standard library only; every command has
a time limit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
BENCHES = {  # criterion function -> message-path direction
    "xmpp_to_irc": "xmpp-to-irc",
    "xmpp_to_irc_with_reflection": "xmpp-to-irc-reflect",
    "irc_to_xmpp": "irc-to-xmpp",
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def target_dir() -> Path:
    return Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target")).resolve()


def criterion(args) -> dict:
    cmd = ["cargo", "bench", "-p", "pontoon-bench", "--bench", "message_path", "--",
           "--warm-up-time", str(args.warm_up), "--measurement-time", str(args.measurement), "--noplot"]
    log(" ".join(cmd))
    subprocess.run(cmd, cwd=REPO, check=True, timeout=args.build_timeout)
    out = {}
    for name in BENCHES:
        est = target_dir() / "criterion" / "message_path" / name / "new" / "estimates.json"
        e = json.loads(est.read_text())
        out[name] = {
            "median_ns": e["median"]["point_estimate"],
            "mean_ns": e["mean"]["point_estimate"],
            "mean_ci95_ns": [e["mean"]["confidence_interval"]["lower_bound"],
                             e["mean"]["confidence_interval"]["upper_bound"]],
        }
    return out


def callgrind_ir(binary: Path, direction: str, n: int, workdir: Path) -> int:
    out = workdir / f"{direction}-{n}.cg"
    subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", str(binary), direction, str(n)],
                   check=True, capture_output=True, timeout=600)
    for line in out.read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    raise RuntimeError(f"no instruction total in {out}")


def instructions(args) -> dict:
    cmd = ["cargo", "build", "--release", "-p", "pontoon-bench", "--bin", "message-path"]
    log(" ".join(cmd))
    subprocess.run(cmd, cwd=REPO, check=True, timeout=args.build_timeout)
    binary = target_dir() / "release" / "message-path"
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    n = args.iterations
    for name, direction in BENCHES.items():
        a = callgrind_ir(binary, direction, n, work)
        b = callgrind_ir(binary, direction, 2 * n, work)
        out[name] = {"ir_per_msg": (b - a) / n, "ir_n": a, "ir_2n": b, "n": n}
        log(f"  {name}: {out[name]['ir_per_msg']:,.0f} instructions per message")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(HERE / "tmp" / "floor.json"))
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "floor"))
    ap.add_argument("--warm-up", type=float, default=1.0, help="criterion warm-up seconds per benchmark")
    ap.add_argument("--measurement", type=float, default=3.0, help="criterion measurement seconds per benchmark")
    ap.add_argument("--iterations", type=int, default=4000, help="N of the callgrind runs (N and 2N)")
    ap.add_argument("--build-timeout", type=float, default=1200)
    ap.add_argument("--no-callgrind", action="store_true")
    ap.add_argument("--no-criterion", action="store_true", help="instruction counts only (bench/profile)")
    args = ap.parse_args()
    res = {"date": time.strftime("%Y-%m-%d %H:%M %Z")}
    if not args.no_criterion:
        res["criterion"] = criterion(args)
        for name, v in res["criterion"].items():
            log(f"  {name}: {v['median_ns']:,.0f} ns per message (median)")
    if not args.no_callgrind and shutil.which("valgrind"):
        res["callgrind"] = instructions(args)
    Path(args.out).write_text(json.dumps(res, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
