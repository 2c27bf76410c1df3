"""Health tells the truth (issue 20): when a loop every user depends on stops making progress,
`/readyz` fails and a WARN names the loop; when it moves again, it is ready again.

The stall is made for real: Pontoon runs on a PostgreSQL store, and the database backends
serving it are stopped (SIGSTOP), so the service loop's next store query hangs (a user's
request for the registration form, which reads whether they are registered; with
PostgreSQL's change feed the service no longer polls the store twice a second), as it would
on a wedged database server, until the store
gives up waiting for a connection (10 s; after that it counts the server as down and refuses
calls at once: test_store_faults.py). The process answers all along (`/healthz`), and SIGTERM
still ends it within its shutdown bound.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from urllib.parse import urlparse

from harness.gateway import NS_REGISTER, TRANSPORT
from harness.util import wait_until
from harness.web import Http


def backend_pids(url: str) -> list[int]:
    """The PostgreSQL backends connected to the database of `url` (Pontoon's pool)."""
    u = urlparse(url)
    db = u.path.lstrip("/")
    out = subprocess.run(
        ["psql", "-X", "-q", "-t", "-A", "-h", u.hostname, "-p", str(u.port), "-U", u.username or "pontoon",
         "-d", "postgres", "-c", f"SELECT pid FROM pg_stat_activity WHERE datname = '{db}'"],
        check=True, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
    ).stdout
    return [int(line) for line in out.split() if line.strip().isdigit()]


async def test_a_stalled_service_loop_is_not_ready_and_logged(make_pontoon, postgres_url, connect):
    pontoon = make_pontoon(store_url=postgres_url)
    web = Http(pontoon.admin_url, timeout=10)
    wait_until(lambda: web.get("/readyz").status == 200, 20, 0.25, "/readyz to be ready")
    user = await connect("user1")
    pids = backend_pids(postgres_url)
    assert pids, "Pontoon holds no connection to its database"
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        # A request that needs the store, handled in the service loop: it hangs there.
        asking = asyncio.create_task(user.iq("get", TRANSPORT, f"<query xmlns='{NS_REGISTER}'/>", timeout=60))
        r = await asyncio.to_thread(
            wait_until, lambda: (lambda r: r if r.status == 503 and "no progress" in r.body else None)(
                web.get("/readyz")), 20, 0.25, "/readyz to report the stalled loop")
        assert "service test: no progress for" in r.body, r.body
        assert web.get("/healthz").status == 200
        pontoon.wait_log(r"WARN.*a loop every user depends on has made no progress.*loop_name=\"?service test", 10,
                         what="the watchdog's warning")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    # Answered once the store is back (or the store gave up): not silence.
    reply = await asyncio.wait_for(asking, 30)
    assert reply.get("type") in ("result", "error"), reply
    wait_until(lambda: web.get("/readyz").status == 200, 20, 0.25, "/readyz to be ready again")
    pontoon.wait_log(r"the loop is making progress again", 10, what="the watchdog's all-clear")
    # And a wedged store at shutdown does not hang SIGTERM.
    pids = backend_pids(postgres_url)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        rc, in_time = pontoon.terminate_and_wait(timeout=20)
        assert in_time, "SIGTERM did not end Pontoon while its store was stalled"
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
