"""Faults in the store (issue 21, point 3): its disk full, its PostgreSQL server gone for a
minute. Messages do not pass through the store (only their id map, written in batches), so
they keep flowing; what needs the store (a registration) is refused with an error that says
why, and works again once the store is back, without a restart. The log says what happened
without repeating itself for every failed write."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path

import pytest

from harness.client import error_condition, error_text
from harness.gateway import (TRANSPORT, echo_roundtrip, get_registration_form, register_and_login,
                             submit_registration)
from harness.postgres import Postgres
from harness.web import Http


def mount_tmpfs(path: Path, size: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    cp = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                        capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, (
        f"could not mount a tmpfs for the full-disk test (needs root, as scripts/test has): {cp.stderr}")


def fill(path: Path) -> Path:
    """Writes a file until the file system is full; returns it."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            for _ in range(100_000):  # bounded: 6 GiB, far more than the tmpfs holds
                f.write(chunk)
        except OSError:
            pass
    # Whatever a partial page left: fill it with small writes.
    with open(path / "filler2", "wb", buffering=0) as f:
        try:
            for _ in range(100_000):
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


@pytest.fixture
def small_disk(tmp_path):
    disk = tmp_path / "disk"
    mount_tmpfs(disk, "3m")
    yield disk
    # Lazy: the Pontoon fixture stops the process after this teardown has run.
    subprocess.run(["umount", "-l", str(disk)], capture_output=True, timeout=30)


async def test_full_disk_refuses_registration_and_messages_flow(make_pontoon, small_disk, connect):
    pontoon = make_pontoon(store_url=f"sqlite://{small_disk}/pontoon.db")
    u1 = await connect("user1")
    await register_and_login(u1, "alice", "secret")
    await echo_roundtrip(u1, "before the disk is full")

    offset = pontoon.log_offset()
    await asyncio.to_thread(fill, small_disk)
    st = os.statvfs(small_disk)
    assert st.f_bavail == 0, f"the tmpfs still has {st.f_bavail} blocks free"

    # Messages keep flowing (their id map cannot be written: logged, not fatal).
    for i in range(20):
        await echo_roundtrip(u1, f"while full {i}")
    # A registration needs the store: refused, saying why.
    u2 = await connect("user2")
    reply = await submit_registration(u2, "bob", "secret")
    assert reply.get("type") == "error", reply
    assert error_condition(reply) == "resource-constraint", error_condition(reply)
    assert reply.find("{jabber:client}error").get("type") == "wait"
    assert "full" in error_text(reply).lower(), error_text(reply)
    assert pontoon.running()
    log = pontoon.log_text(offset)
    print(f"\nlog lines while full: {len(log.splitlines())}")
    assert "full" in log.lower(), f"the log does not say the storage is full:\n{log[-3000:]}"

    # Space again: the same registration works, without a restart.
    for f in small_disk.glob("filler*"):
        f.unlink()
    await register_and_login(u2, "bob", "secret")
    await echo_roundtrip(u2, "after")
    await echo_roundtrip(u1, "after")
    listed = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user2@localhost" in listed, listed


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own (the suite's shared one must stay up)."""
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.mark.timeout(180)
async def test_postgres_gone_for_a_minute(make_pontoon, own_postgres, connect):
    pontoon = make_pontoon(store_url=own_postgres.new_database())
    u1 = await connect("user1")
    await register_and_login(u1, "alice", "secret")
    u3 = await connect("user3")
    await register_and_login(u3, "carol", "secret")
    await echo_roundtrip(u1, "before")

    offset = pontoon.log_offset()
    loop = asyncio.get_running_loop()
    await asyncio.to_thread(own_postgres.pause)
    down_at = loop.time()

    # Messages keep flowing.
    await echo_roundtrip(u1, "while the store is down")
    # The operator's readiness probe says so (without details: it answers anyone).
    anon = Http(pontoon.admin_url)
    ready = await asyncio.to_thread(anon.get, "/readyz")
    assert ready.status == 503 and "store unavailable" in ready.body, (ready.status, ready.body)
    # A registration is refused, saying to wait (already its form: it needs to know whether
    # the user is registered), once the gateway knows the store is down (its health check,
    # a second or two; a call made before that waits for a connection, up to 10 s).
    await pontoon.wait_log_async(r"the store's database does not answer", 15, since=offset,
                                 what="the store's health check seeing the database gone")
    u2 = await connect("user2")
    reply = await get_registration_form(u2)
    assert reply.get("type") == "error", reply
    assert error_condition(reply) == "internal-server-error", error_condition(reply)
    assert reply.find("{jabber:client}error").get("type") == "wait"
    assert "storage" in error_text(reply), error_text(reply)
    # A registered user coming online meanwhile: told (an error presence), not left waiting
    # in silence; logged in by the gateway once the store is back.
    await u3.disconnect()
    u3 = await connect("user3")
    refused = await u3.expect(lambda s: s.kind == "presence" and s.from_bare == TRANSPORT and s.type == "error",
                              15, what="the transport's error presence to a login while the store is down")
    assert refused.condition == "internal-server-error", refused

    # The rest of the minute: messages still flow.
    i = 0
    while loop.time() - down_at < 60:
        await echo_roundtrip(u1, f"still down {i}")
        i += 1
        await asyncio.sleep(5)

    await asyncio.to_thread(own_postgres.resume)
    # Back, without a restart: the user trying again gets the form within seconds (the store
    # pings its server every second), and the registration works.
    resumed = loop.time()
    while (await get_registration_form(u2)).get("type") != "result":
        assert loop.time() - resumed < 10, "the store did not come back within 10 s of PostgreSQL"
        await asyncio.sleep(0.5)
    print(f"registration form again {loop.time() - resumed:.1f} s after PostgreSQL was back")
    await register_and_login(u2, "bob", "secret")
    await echo_roundtrip(u2, "after")
    await u3.expect_presence(TRANSPORT, "available", timeout=10)
    assert (await asyncio.to_thread(anon.get, "/readyz")).status == 200
    await echo_roundtrip(u3, "logged in by the gateway once the store was back")
    await echo_roundtrip(u1, "after")
    log = pontoon.log_text(offset)
    warn = [line for line in log.splitlines() if " WARN " in line or " ERROR " in line]
    print(f"warnings and errors in the log over the minute: {len(warn)}")
    print("\n".join(warn[:30]))
    assert len(warn) < 100, f"{len(warn)} warnings and errors: the log repeats itself"
