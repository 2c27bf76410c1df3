"""Fixtures of the IRC end-to-end tests: Prosody with an `irc.localhost` component, real IRC
servers (ngircd; InspIRCd + Atheme) on free loopback ports, Pontoon with `[transports.irc]`,
and raw-socket IRC clients. The parent conftest's fixtures (connect, make_pontoon...) apply.

Every server started here is stopped by its fixture's teardown; on failure the tails of the
IRC servers' logs are printed (Prosody's and Pontoon's are printed by their fixtures).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

from harness.pontoon import Pontoon, transport_pontoons  # noqa: E402
from harness.prosody import running as prosody_running  # noqa: E402
from ircxmpp import IRC  # noqa: E402
from rawirc import RawIrc  # noqa: E402
from servers import inspircd, ngircd, raw_irc  # noqa: E402,F401  (fixtures)

ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}


@pytest.fixture
def prosody(tmp_path, request):
    """The parent's Prosody, with a second component: irc.localhost."""
    with prosody_running(tmp_path / "prosody", request, ["test.localhost", IRC], ACCOUNTS) as p:
        yield p


@pytest.fixture
def make_irc_pontoon(tmp_path, prosody, request):
    """make_irc_pontoon(options={...}, irc={...}) -> a running Pontoon with [transports.irc] at
    irc.localhost (and the parent's test transport, untouched). Stopped at teardown."""
    with transport_pontoons(tmp_path, prosody, request, "irc", IRC, "IRC") as make:
        yield lambda options, irc=None, start=True, **store: make(options, irc, start, **store)


@pytest.fixture
def irc_options(ngircd) -> dict:
    """The transport fixed to the test's ngircd: rooms #chan@irc.localhost, contacts nick@irc.localhost."""
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


@pytest.fixture
def irc_pontoon(make_irc_pontoon, irc_options, request) -> Pontoon:
    """A running Pontoon fixed to the ngircd; @pytest.mark.irc_options(...) adds options."""
    marker = request.node.get_closest_marker("irc_options")
    options = dict(irc_options)
    if marker:
        options.update(marker.kwargs)
    return make_irc_pontoon(options)


@pytest.fixture
async def raw_irc_any():
    """Like raw_irc, for any server: await raw_irc_any(port, "nick")."""
    clients: list[RawIrc] = []

    async def make(port: int, nick: str) -> RawIrc:
        c = RawIrc(port, nick)
        clients.append(c)
        await c.connect()
        return c

    yield make
    for c in clients:
        await c.close()


def pytest_configure(config):
    config.addinivalue_line("markers", "irc_options(**options): more [transports.irc.options] for irc_pontoon")
