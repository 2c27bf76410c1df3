"""Fixtures of the Matrix end-to-end tests: a real Synapse on loopback (harness/synapse.py),
Matrix users driven by matrix-nio (harness/matrix.py), Prosody with a `matrix.localhost`
component and Pontoon with `[transports.matrix]`. The parent conftest's fixtures (connect,
make_pontoon...) apply.

One Synapse serves the whole session (it takes ~4 s to start): tests on it use fresh users
(unique localparts) and rooms, and must leave it running. A test that kills or reconfigures
its homeserver takes a private one from make_synapse.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from harness.matrix import MatrixUser, register_and_login  # noqa: E402
from harness.pontoon import transport_pontoons  # noqa: E402
from harness.prosody import running as prosody_running  # noqa: E402
from harness.synapse import Synapse  # noqa: E402
from harness.util import outcome_failed  # noqa: E402

MATRIX = "matrix.localhost"
ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}


def show_log(s: Synapse, request, since: int = 0) -> None:
    """Prints what Synapse logged since `since` (its tail) if the test failed."""
    if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
        lines = s.log_text(since).splitlines()[-60:]
        print(f"\n--- tail of {s.log_path} (this test) ---\n" + "\n".join(lines))


@pytest.fixture(scope="session")
def synapse_server(tmp_path_factory):
    """The session's Synapse, started on first use, stopped at the end of the session."""
    s = Synapse(tmp_path_factory.mktemp("synapse"))
    s.start()
    yield s
    s.stop()


@pytest.fixture
def synapse(synapse_server, request) -> Synapse:
    """The shared Synapse (url, register(), user_id()...); its log from this test is printed
    if the test fails. A test that leaves it stopped fails, and it is started again."""
    since = synapse_server.log_offset()
    yield synapse_server
    show_log(synapse_server, request, since)
    if not synapse_server.running():
        synapse_server.start()
        pytest.fail("the test left the shared Synapse stopped (use make_synapse to stop or kill one)")


@pytest.fixture
def make_synapse(tmp_path, request):
    """make_synapse(overrides=None, start=True) -> a private Synapse in this test's directory
    (for kill/restart tests or a changed config, e.g. low rc_message limits). Stopped at
    teardown, its log tail printed on failure."""
    made: list[Synapse] = []

    def make(overrides: dict | None = None, start: bool = True) -> Synapse:
        s = Synapse(tmp_path / f"synapse{len(made) or ''}", overrides=overrides)
        made.append(s)
        if start:
            s.start()
        return s

    yield make
    for s in made:
        s.stop()
        show_log(s, request)


@pytest.fixture
async def matrix_user(synapse):
    """await matrix_user("alice", synapse=None, password=None, displayname=None) -> a
    MatrixUser: a fresh account (localpart alice-<hex>) on the shared Synapse (or the given
    one), logged in with its password, its sync running. All closed at teardown."""
    users: list[MatrixUser] = []

    async def make(prefix: str = "user", synapse: Synapse = synapse, password: str | None = None,
                   displayname: str | None = None) -> MatrixUser:
        u = await register_and_login(synapse, prefix, password=password, displayname=displayname)
        users.append(u)
        return u

    yield make
    for u in users:
        await u.close()


@pytest.fixture
def prosody(tmp_path, request):
    """The parent's Prosody, with a second component: matrix.localhost; a test's indirect
    parameter is the privileges (XEP-0356) it grants the components, by domain."""
    privileged = getattr(request, "param", None)
    with prosody_running(tmp_path / "prosody", request, ["test.localhost", MATRIX], ACCOUNTS,
                         privileged=privileged) as p:
        yield p


@pytest.fixture
def make_matrix_pontoon(tmp_path, prosody, synapse, request):
    """make_matrix_pontoon(options={...}, matrix={...}, start=True, synapse=None) -> a running
    Pontoon with [transports.matrix] at matrix.localhost (the table name is the transport's
    kind: TransportConfig refuses unknown keys such as `type`); its option `homeserver` is the
    Synapse's URL (the shared one unless another is given), `options` adds to or overrides
    [transports.matrix.options], `matrix` the table's other keys. Stopped at teardown."""
    with transport_pontoons(tmp_path, prosody, request, "matrix", MATRIX, "Matrix") as make:
        def make_matrix(options: dict | None = None, matrix: dict | None = None, start: bool = True,
                        synapse: Synapse = synapse):
            return make({"homeserver": synapse.url, "server_name": synapse.server_name, **(options or {})}, matrix, start)

        yield make_matrix
