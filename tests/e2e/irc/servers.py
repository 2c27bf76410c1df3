"""Fixtures for the real IRC servers (ngircd; InspIRCd + Atheme) and raw IRC clients, shared by
the IRC tests and the server-mode tests: a conftest imports them (`from servers import ...`)
to make them its own. Each server is stopped by its fixture's teardown; on failure the tail
of its log is printed."""

from __future__ import annotations

import os

import pytest

from harness.util import outcome_failed
from ircd import InspircdAtheme, Ngircd
from rawirc import RawIrc


@pytest.fixture
def ngircd(tmp_path, request):
    s = Ngircd(tmp_path / "ngircd")
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
            print(f"\n--- tail of {s.log_path} ---\n{s.log_tail(30)}")


@pytest.fixture
def inspircd(tmp_path, request):
    s = InspircdAtheme(tmp_path / "inspircd")
    try:
        s.start()
        yield s
    finally:
        s.stop()
        if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
            print("\n" + s.log_tail(30))


@pytest.fixture
async def raw_irc(ngircd):
    """await raw_irc("nick", port=None) -> a registered raw IRC client (default: the ngircd)."""
    clients: list[RawIrc] = []

    async def make(nick: str, port: int | None = None) -> RawIrc:
        c = RawIrc(port or ngircd.port, nick)
        clients.append(c)
        await c.connect()
        return c

    yield make
    for c in clients:
        await c.close()
