"""Fixtures of the backend end-to-end tests: Prosody with an `echo.localhost` component, and
Pontoon running the Python SDK's example backend (sdk/python/examples/echo.py) as
`[transports.echo]`, `kind = "backend"`, with the interpreter of this virtualenv, where
scripts/test installed the SDK with pip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "server"))

from harness.pontoon import Pontoon, transport_pontoons  # noqa: E402
from harness.prosody import running as prosody_running  # noqa: E402
from server_fixtures import sconnect  # noqa: E402,F401  (fixture)

ECHO = "echo.localhost"
EXAMPLE = HERE.parents[2] / "sdk/python/examples/echo.py"
ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 4)}


def backend_table(**more) -> dict:
    """[transports.echo]: the example backend, run by this virtualenv's Python."""
    table = {
        "kind": "backend",
        "command": [sys.executable, str(EXAMPLE)],
        # The backend's whole environment: it proves Pontoon passes nothing else on.
        "env": {"ECHO_GREETING": "from the operator's env"},
    }
    table.update(more)
    return table


@pytest.fixture
def prosody(tmp_path, request):
    """The parent's Prosody, with a second component: echo.localhost."""
    with prosody_running(tmp_path / "prosody", request, ["test.localhost", ECHO], ACCOUNTS) as p:
        yield p


@pytest.fixture
def make_echo_pontoon(tmp_path, prosody, request):
    """make_echo_pontoon(table={...}) -> a running Pontoon with the example backend at
    echo.localhost. Stopped at teardown."""
    with transport_pontoons(tmp_path, prosody, request, "echo", ECHO, "Echo") as make:
        yield lambda table=None, start=True: make({}, backend_table(**(table or {})), start)


@pytest.fixture
def echo_pontoon(make_echo_pontoon) -> Pontoon:
    return make_echo_pontoon()


@pytest.fixture
def make_echo_server(tmp_path, request):
    """make_echo_server() -> a running Pontoon in server mode serving echo.localhost through
    the example backend (users log in as name@echo.localhost)."""
    from harness.pontoon import stop_all

    made: list[Pontoon] = []

    def make() -> Pontoon:
        values = {"domain": ECHO, "name": "Echo", "enabled": True, **backend_table()}
        p = Pontoon(
            tmp_path / f"pontoon{len(made) or ''}",
            component_port=1,
            secret="unused",
            store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""),
            extra_transports={"echo": values},
            mode="server",
        )
        made.append(p)
        p.start(wait_ready=True)
        return p

    yield make
    stop_all(made, request)
