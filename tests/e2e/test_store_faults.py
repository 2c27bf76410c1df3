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
from harness.gateway import TRANSPORT, echo_roundtrip, register, register_and_login, submit_registration


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
