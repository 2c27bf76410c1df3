"""The server-mode fixtures (Pontoon as the XMPP server itself, no Prosody; clients over
STARTTLS checking the certificate against the CA Pontoon generated), shared by the
conftest.py of tests/e2e/server and tests/e2e/hostile, which import them.
"""

from __future__ import annotations

import os

import pytest

from harness.client import User
from harness.xep import assert_xep_rules
from harness.pontoon import Pontoon, stop_all

IRC = "irc.localhost"


@pytest.fixture
def make_server(tmp_path, request):
    """make_server(irc_options=None, server=None, limits=None, test_options=None, http=None,
    irc_policy=None) -> a running Pontoon in server mode serving test.localhost (with
    test_options, e.g. {"rich": "true"}) and irc.localhost with irc_options (and policy keys
    irc_policy, e.g. {"always_online_default": True}). Stopped at teardown."""
    made: list[Pontoon] = []

    def make(irc_options: dict | None = None, server: dict | None = None, start: bool = True,
             limits: dict | None = None, test_options: dict | None = None,
             http: dict | None = None, irc_policy: dict | None = None) -> Pontoon:
        extra = {}
        if irc_options is not None:
            extra["irc"] = {"domain": IRC, "name": "IRC", "enabled": True, **(irc_policy or {}),
                            "options": dict(irc_options)}
        p = Pontoon(
            tmp_path / f"pontoon{len(made) or ''}",
            component_port=1,
            secret="unused",
            store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""),
            extra_transports=extra,
            mode="server",
            server=server,
            transport={"options": dict(test_options)} if test_options else None,
            limits=limits,
            http=http,
        )
        made.append(p)
        if start:
            p.start(wait_ready=True)
        return p

    yield make
    stop_all(made, request)


@pytest.fixture
async def sconnect():
    """await sconnect(server, "alice@test.localhost", "pw", resource="e2e") -> a User logged in
    to Pontoon over STARTTLS; all disconnected at teardown."""
    users: list[User] = []

    async def make(server: Pontoon, jid: str, password: str, resource: str = "e2e",
                   presence: bool = True, roster: bool = True, timeout: float = 20.0) -> User:
        u = User(jid, password, server.c2s_port, resource=resource, ca_file=str(server.ca_path))
        users.append(u)
        await u.connect(presence=presence, roster=roster, timeout=timeout)
        return u

    yield make
    for u in users:
        await u.disconnect()
    assert_xep_rules(users)
