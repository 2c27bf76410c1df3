"""The console under a hostile client (issue 21): each case checks the answer the attacker
gets, that another administrator is served meanwhile, and that memory comes back down.

Cases here: headers sent too slowly (slowloris) get `408` and are cut off, while others are
served; failed logins in parallel from many addresses keep the process's memory bounded
(argon2 takes about 19 MiB per check), and the log keeps every failure but not every refusal.
"""

from __future__ import annotations

import asyncio
import time

from harness.web import Http

ADMIN, PASSWORD = "root", "correct horse battery staple"
# The console's header timeout (not configurable; the default of crates/pontoon-admin).
HEADER_TIMEOUT = 10


async def test_slow_headers_get_408_while_others_are_served(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    host, port = pontoon.admin_url.split("//", 1)[1].rstrip("/").split(":")
    slow = []
    for _ in range(20):
        r, w = await asyncio.open_connection(host, int(port))
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append((r, w))
    started = time.monotonic()
    # Meanwhile an administrator logs in and sees the overview.
    web = Http(pontoon.admin_url)
    page = await asyncio.to_thread(web.login, ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page
    # The slow ones trickle a byte every second, and are answered 408 after the timeout.
    async def trickle(r, w) -> bytes:
        got = b""
        while not got:
            try:
                w.write(b"a")
                await w.drain()
            except ConnectionError:
                pass
            try:
                got = await asyncio.wait_for(r.read(4096), 1.0)
                if not got:
                    return b""
            except asyncio.TimeoutError:
                continue
        while True:
            more = await asyncio.wait_for(r.read(4096), 5.0)
            if not more:
                return got
            got += more
    answers = await asyncio.wait_for(asyncio.gather(*(trickle(r, w) for r, w in slow)), HEADER_TIMEOUT + 10)
    took = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[:3]
    assert took < HEADER_TIMEOUT + 5, f"cut off after {took:.1f} s"
    for _, w in slow:
        w.close()
    assert (await asyncio.to_thread(web.get, "/")).status == 200


async def test_failed_logins_in_parallel_keep_memory_bounded(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    # One check first, so the hashing threads and their memory are there.
    assert (await asyncio.to_thread(Http(pontoon.admin_url).login, ADMIN, "wrong")).status == 401
    base = pontoon.rss_mib()

    def attempts(n: int) -> list[int]:
        # Each from its own address, so the per-address limit lets every one be checked.
        web = Http(pontoon.admin_url, source=f"127.0.0.{10 + n}")
        statuses = []
        for _ in range(4):
            statuses.append(web.login(ADMIN, f"wrong{n}").status)
            if statuses[-1] != 503:
                break
            time.sleep(0.2)
        return statuses

    checked = 0
    all_statuses: list[list[int]] = []
    peak = base
    started = time.monotonic()
    for wave in range(3):
        results = await asyncio.gather(*(asyncio.to_thread(attempts, wave * 16 + i) for i in range(16)))
        peak = max(peak, pontoon.rss_mib())
        all_statuses.extend(results)
        for statuses in results:
            assert set(statuses) <= {401, 503, 429}, statuses
            checked += statuses.count(401)
    assert checked >= 24, f"only {checked} passwords were checked"
    after = pontoon.rss_mib()
    print(f"RSS {base:.0f} MiB before, {peak:.0f} MiB at most during, {after:.0f} MiB after {checked} checks")
    # Two hashing threads, each with one buffer of about 19 MiB that it keeps (one of them
    # was there already): the process grows by that much, whatever the number of attempts.
    # (Before, each check allocated anew and glibc kept it: 31 -> 183 MiB here.)
    assert after - base < 40, f"RSS grew from {base:.0f} to {after:.0f} MiB"
    # The log: every failed check is there for fail2ban and the like (audit lines are never
    # held back); the refusals of logins beyond the two at a time, repeated in a burst, are
    # shown a few times and then counted.
    assert pontoon.count_log(r"WARN pontoon::audit: console login failed") == checked + 1
    busy = sum(s.count(503) for s in all_statuses)
    shown = pontoon.count_log(r"console login refused: too many logins in progress")
    # At most 5 per 10-second window of the log rule (however long a loaded machine took).
    windows = int((time.monotonic() - started) // 10) + 2
    if busy > 5:
        assert shown <= 5 * windows, f"{shown} of {busy} refusals logged in {windows} windows"
        await pontoon.wait_log_async(r"a log line kept repeating; \d+ more were held back", 15)
    # And the right password still works.
    page = await asyncio.to_thread(Http(pontoon.admin_url, source="127.0.0.200").login, ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page
