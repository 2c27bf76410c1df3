"""Fixtures of the end-to-end suite: one private Prosody and one Pontoon per test.

Each test gets fresh processes, ports and data, so tests do not depend on one another and
can restart or kill either side. On failure, the tails of both logs are printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.client import User  # noqa: E402
from harness.pontoon import Pontoon, stop_all  # noqa: E402
from harness.postgres import Postgres  # noqa: E402
from harness.prosody import running as prosody_running  # noqa: E402
from harness.util import outcome_failed  # noqa: E402
from harness.xep import assert_xep_rules  # noqa: E402

ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    rep = yield
    setattr(item, "rep_" + rep.when, rep)
    return rep


@pytest.fixture(scope="session")
def postgres_server():
    """One throwaway PostgreSQL for the session, started on first use."""
    pg = Postgres()
    pg.start()
    yield pg
    pg.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """The URL of a fresh, empty database for this test."""
    return postgres_server.new_database()


@pytest.fixture
def prosody(tmp_path, request):
    with prosody_running(tmp_path / "prosody", request, ["test.localhost"], ACCOUNTS) as p:
        yield p


@pytest.fixture
def make_pontoon(tmp_path, prosody, request):
    """make_pontoon(transport={...}, limits={...}, start=True) -> Pontoon (stopped at teardown)."""
    made: list[Pontoon] = []

    def make(transport: dict | None = None, limits: dict | None = None, start: bool = True, wait_ready: bool = True,
             store_url: str | None = None, admin: dict | None = None) -> Pontoon:
        p = Pontoon(
            tmp_path / f"pontoon{len(made) or ''}",
            component_port=prosody.component_port,
            secret=prosody.components["test.localhost"],
            transport=transport,
            limits=limits,
            admin=admin,
            store_url=store_url if store_url is not None else os.environ.get("PONTOON_E2E_STORE_URL", ""),
        )
        made.append(p)
        if start:
            p.start(wait_ready=wait_ready)
        return p

    yield make
    stop_all(made, request, 80)


@pytest.fixture
def pontoon(make_pontoon, request):
    """A running Pontoon; a test can override its config with @pytest.mark.pontoon_config(...)."""
    marker = request.node.get_closest_marker("pontoon_config")
    kwargs = dict(marker.kwargs) if marker else {}
    return make_pontoon(**kwargs)


@pytest.fixture
async def connect(prosody):
    """await connect("user1", presence=True) -> a logged-in User; all disconnected at teardown."""
    users: list[User] = []

    async def make(name: str, presence: bool = True, roster: bool = True, resource: str = "e2e") -> User:
        if name not in prosody.accounts:  # more accounts on demand (Prosody reads the file at login)
            prosody.add_account(name, f"pw-{name}")
        u = User(f"{name}@localhost", prosody.accounts[name], prosody.c2s_port, resource=resource)
        users.append(u)
        await u.connect(presence=presence, roster=roster)
        return u

    yield make
    for u in users:
        await u.disconnect()
    assert_xep_rules(users)


def stop_terminals(made: list, request) -> None:
    """Stops terminal clients (harness/terminal.py), printing each one's last screen on failure."""
    for t in made:
        if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
            print(f"\n--- last screen of {t.base} ---\n{t.seen[-1] if t.seen else '(none)'}")
        t.stop()


@pytest.fixture
async def profanity(tmp_path, request):
    """await profanity() -> a running profanity in tmux (harness/terminal.py); stopped at
    teardown, its last screen printed on failure."""
    from harness.terminal import Profanity

    made: list[Profanity] = []

    async def make() -> Profanity:
        p = Profanity(tmp_path / f"profanity{len(made) or ''}")
        made.append(p)
        return await p.open()

    yield make
    stop_terminals(made, request)


@pytest.fixture
async def poezio(tmp_path, request):
    """await poezio(jid, password, port, ca_pem=None) -> poezio in tmux, logged in
    (harness/terminal.py); stopped at teardown, its last screen printed on failure."""
    from harness.terminal import Poezio

    made: list[Poezio] = []

    async def make(jid: str, password: str, port: int, ca_pem: Path | None = None) -> Poezio:
        p = Poezio(tmp_path / f"poezio{len(made) or ''}", jid, password, port, ca_pem=ca_pem)
        made.append(p)
        return await p.open()

    yield make
    stop_terminals(made, request)
