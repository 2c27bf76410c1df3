#!/usr/bin/env python3
"""Why idle Matrix sessions wake up (bench/README.md, "Where the memory of an idle Matrix
session goes"): two users long-poll /sync (150 s timeout) on a fresh Synapse for 150 s, one
with no filter and one whose filter leaves out its own presence; prints when each request
returned and what it carried. About 2.5 minutes; needs $SYNAPSE_VENV as bench/matrix.py does.
"""

import json
import shutil
import sys
import threading
import time
import urllib.parse
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "e2e"))
from harness.synapse import Synapse  # noqa: E402

WORK = HERE / "tmp" / "probe"


def run(syn: Synapse, name: str, flt: dict, out: dict):
    tok = syn.register(name, "pw")["access_token"]
    q = urllib.parse.quote(json.dumps(flt))
    _, r = syn.request("GET", f"/_matrix/client/v3/sync?timeout=0&filter={q}", token=tok)
    since, t0, seen = r["next_batch"], time.monotonic(), []
    for _ in range(6):  # bounded: at most 6 requests or 150 s
        if time.monotonic() - t0 > 150:
            break
        a = time.monotonic()
        _, r = syn.request("GET", f"/_matrix/client/v3/sync?timeout=150000&since={urllib.parse.quote(since)}"
                           f"&filter={q}", token=tok, timeout=200)
        since = r["next_batch"]
        seen.append({"sent_at_s": round(a - t0, 1), "took_s": round(time.monotonic() - a, 1),
                     "presence": r.get("presence", {}).get("events", [])})
    out[name] = seen


def main():
    shutil.rmtree(WORK, ignore_errors=True)
    syn = Synapse(WORK / "synapse")
    syn.start(timeout=60)
    out: dict = {}
    try:
        ts = [threading.Thread(target=run, args=(syn, "plain", {}, out)),
              threading.Thread(target=run, args=(syn, "noself", {"presence": {"not_senders": ["@noself:localhost"]}},
                                                 out))]
        for t in ts:
            t.start()
        for t in ts:
            t.join(400)
    finally:
        syn.stop()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
