"""Fixtures of the libpurple backend's tests (test_purple.py, which imports them to make
them its own): the backend binary (built by scripts/build-purple when missing), the user's
Prosody with the two purple transports' components, Pontoon running the backend for IRC
(`purple-irc.localhost`, against the ngircd of tests/e2e/irc/servers.py) and for XMPP
(`purple-xmpp.localhost`, against a second Prosody standing in for a legacy network, with a
MUC service), in component and in server mode.

"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
E2E = HERE.parent
for path in (E2E, E2E / "irc"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from harness.client import User  # noqa: E402
from harness.pontoon import Pontoon, stop_all, transport_pontoons  # noqa: E402
from harness.prosody import Prosody  # noqa: E402
from harness.prosody import running as prosody_running  # noqa: E402
from harness.util import outcome_failed  # noqa: E402
from ircd import Ngircd  # noqa: E402
from rawirc import RawIrc  # noqa: E402
from servers import ngircd, raw_irc  # noqa: E402,F401  (fixtures)

REPO = E2E.parents[1]
PURPLE_BIN = REPO / "backends" / "purple" / "build" / "pontoon-purple"
BUILD_SCRIPT = REPO / "scripts" / "build-purple"

PIRC = "purple-irc.localhost"
PXMPP = "purple-xmpp.localhost"
MUC = "conference.localhost"  # the legacy XMPP network's MUC service
ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 4)}
LEGACY_ACCOUNTS = {"alice": "pw-alice", "bob": "pw-bob"}


def purple_binary() -> Path:
    """The backend, built by scripts/build-purple if it is not there: never skipped."""
    if not PURPLE_BIN.exists():
        subprocess.run([str(BUILD_SCRIPT)], check=True, timeout=900, cwd=REPO)
    assert PURPLE_BIN.exists(), f"{PURPLE_BIN} was not built by {BUILD_SCRIPT}"
    return PURPLE_BIN


@pytest.fixture(scope="session")
def purple_bin() -> Path:
    return purple_binary()


def irc_table(purple_bin: Path, ngircd_port: int) -> dict:
    """[transports.pirc]: prpl-irc fixed to the test's ngircd (server and port preset), its
    send queue off (libpurple sends 5 lines, then one every 2 s: flood protection that a
    private ngircd does not need)."""
    return {
        "kind": "backend",
        "command": [str(purple_bin), "--protocol", "prpl-irc"],
        "options": {"server": "127.0.0.1", "port": str(ngircd_port), "ratelimit-interval": "0"},
    }


def xmpp_table(purple_bin: Path, legacy: Prosody) -> dict:
    """[transports.pxmpp]: prpl-jabber on the legacy Prosody: plain text on loopback (that
    Prosody has no TLS), so the plaintext authentication libpurple asks about is allowed."""
    return {
        "kind": "backend",
        "command": [str(purple_bin), "--protocol", "prpl-jabber", "--room-domain", MUC],
        "options": {
            "connect_server": "127.0.0.1",
            "port": str(legacy.c2s_port),
            "connection_security": "opportunistic_tls",
            "auth_plain_in_clear": "true",
        },
    }


IRC_SERVER_PASSWORD = "letmein"


@pytest.fixture
def locked_ngircd(tmp_path, request):
    """An ngircd with a server password: prpl-irc sends the account's password as PASS."""
    s = Ngircd(tmp_path / "ngircd-locked", password=IRC_SERVER_PASSWORD)
    try:
        s.start()
        yield s
    finally:
        s.cleanup()
        if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
            print(f"\n--- tail of {s.log_path} ---\n{s.log_tail(30)}")


class PassIrc(RawIrc):
    """The raw IRC client of tests/e2e/irc, giving a server password (PASS) first."""

    def __init__(self, port: int, nick: str, password: str):
        super().__init__(port, nick)
        self.password = password
        self.passed = False

    def send(self, line: str) -> None:
        if line.startswith("NICK ") and not self.passed:
            self.passed = True
            super().send(f"PASS {self.password}")
        super().send(line)


@pytest.fixture
async def locked_irc(locked_ngircd):
    """await locked_irc("bob") -> a raw IRC client registered on the locked ngircd."""
    clients: list[RawIrc] = []

    async def make(nick: str) -> RawIrc:
        c = PassIrc(locked_ngircd.port, nick, IRC_SERVER_PASSWORD)
        clients.append(c)
        await c.connect()
        return c

    yield make
    for c in clients:
        await c.close()


@pytest.fixture
def prosody(tmp_path, request):
    """The user's Prosody, with the purple transports' components."""
    with prosody_running(tmp_path / "prosody", request, ["test.localhost", PIRC, PXMPP], ACCOUNTS) as p:
        yield p


@pytest.fixture
def legacy(tmp_path, request):
    """A second private Prosody: the "legacy network" prpl-jabber logs in to, with a MUC
    service at conference.localhost (rooms locked until configured, as by default, so
    libpurple's "create the room?" question is answered for real)."""
    with prosody_running(tmp_path / "legacy-prosody", request, [], LEGACY_ACCOUNTS, muc=[MUC]) as p:
        yield p


@pytest.fixture
async def legacy_connect(legacy):
    """await legacy_connect("bob") -> a User logged in to the legacy Prosody."""
    users: list[User] = []

    async def make(name: str) -> User:
        u = User(f"{name}@localhost", legacy.accounts[name], legacy.c2s_port, resource="legacy")
        users.append(u)
        await u.connect()
        return u

    yield make
    for u in users:
        await u.disconnect()


@pytest.fixture
def purple_irc_pontoon(tmp_path, prosody, request, purple_bin, ngircd) -> Pontoon:
    with transport_pontoons(tmp_path, prosody, request, "pirc", PIRC, "IRC (libpurple)") as make:
        table = irc_table(purple_bin, ngircd.port)
        yield make(table.pop("options"), table)


@pytest.fixture
def purple_xmpp_pontoon(tmp_path, prosody, request, purple_bin, legacy) -> Pontoon:
    with transport_pontoons(tmp_path, prosody, request, "pxmpp", PXMPP, "XMPP (libpurple)") as make:
        table = xmpp_table(purple_bin, legacy)
        yield make(table.pop("options"), table)


@pytest.fixture
def make_purple_server(tmp_path, request, purple_bin):
    """make_purple_server(name, domain, table) -> a running Pontoon in server mode serving
    `domain` through the backend (users log in as nick@domain)."""
    made: list[Pontoon] = []

    def make(name: str, domain: str, table: dict) -> Pontoon:
        values = {"domain": domain, "name": "libpurple", "enabled": True, **table}
        p = Pontoon(
            tmp_path / f"pontoon-server{len(made) or ''}",
            component_port=1,
            secret="unused",
            store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""),
            extra_transports={name: values},
            mode="server",
        )
        made.append(p)
        p.start(wait_ready=True)
        return p

    yield make
    stop_all(made, request)
