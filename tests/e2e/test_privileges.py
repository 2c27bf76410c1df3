"""XEP-0356 (issue 17, first step): Pontoon reads what its host server grants it. Prosody
with mod_privilege (Debian prosody-modules) advertises the permissions after the component's
handshake; the user's `status` at the transport says what their server lets the gateway do,
or that it granted nothing. An advertisement from a user is refused and changes nothing."""

from __future__ import annotations

import pytest

from harness.client import error_condition
from harness.prosody import running as prosody_running

TRANSPORT = "test.localhost"


@pytest.fixture
def prosody(tmp_path, request):
    """This module's host server grants the test transport roster and message privileges."""
    with prosody_running(tmp_path / "prosody", request, [TRANSPORT], {},
                         privileged={TRANSPORT: {"roster": "both", "message": "outgoing"}}) as p:
        yield p


async def status_of(user) -> str:
    user.send_message(TRANSPORT, "status")
    reply = await user.expect(lambda s: s.kind == "message" and s.from_bare == TRANSPORT and s.body is not None
                              and "Your server" in s.body, 10, what="the status answer")
    return reply.body


async def test_the_host_servers_privileges_are_read(pontoon, connect):
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    said = await status_of(user)
    assert "Your server (localhost) lets this gateway: roster get and set; messages as you: yes." in said, said

    # A user cannot grant anything: refused, and nothing changes.
    user.send_raw(f"<message to='{TRANSPORT}' id='fake'><privilege xmlns='urn:xmpp:privilege:2'>"
                  "<perm access='roster' type='none'/></privilege></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.from_bare == TRANSPORT,
                            10, what="the refusal")
    assert error_condition(err.xml) == "forbidden", err
    assert "roster get and set" in await status_of(user)


@pytest.fixture
def plain_prosody(tmp_path, request):
    """A host server that grants nothing, as Prosody without mod_privilege."""
    with prosody_running(tmp_path / "plain-prosody", request, [TRANSPORT], {}) as p:
        yield p


async def test_a_server_that_grants_nothing_is_said_so(plain_prosody, tmp_path):
    from harness.client import User
    from harness.pontoon import Pontoon
    p = Pontoon(tmp_path / "plain-pontoon", component_port=plain_prosody.component_port,
                secret=plain_prosody.components[TRANSPORT])
    p.start(wait_ready=True)
    plain_prosody.add_account("user1", "pw-user1")
    user = User("user1@localhost", "pw-user1", plain_prosody.c2s_port)
    try:
        await user.connect()
        said = await status_of(user)
        assert "Your server (localhost) has granted this gateway no privileges (XEP-0356)." in said, said
    finally:
        await user.disconnect()
        p.stop()
