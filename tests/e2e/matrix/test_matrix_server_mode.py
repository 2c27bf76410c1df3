"""The Matrix transport in server mode: Pontoon is the user's XMPP server, the XMPP login is
the Matrix login (`alice@matrix.localhost` with the transport fixed to one homeserver and its
server name), the homeserver checks the password, and direct chats work both ways."""

from __future__ import annotations

import os

import pytest

from harness.client import LoginFailed, User
from harness.muc import chat
from harness.pontoon import Pontoon
from harness.util import outcome_failed
from test_matrix_basics import MATRIX, contact_jid


@pytest.fixture
def matrix_server(tmp_path, synapse, request):
    """Pontoon in server mode serving matrix.localhost, fixed to the shared Synapse."""
    p = Pontoon(
        tmp_path / "pontoon",
        component_port=1,
        secret="unused",
        store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""),
        extra_transports={"matrix": {
            "domain": MATRIX, "name": "Matrix", "enabled": True,
            "options": {"homeserver": synapse.url, "server_name": synapse.server_name},
        }},
        mode="server",
    )
    p.start(wait_ready=True)
    yield p
    p.stop()
    if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
        print(f"\n--- tail of {p.log_path} ---\n{p.log_tail(120)}")


async def login(server: Pontoon, localpart: str, password: str) -> User:
    u = User(f"{localpart}@{MATRIX}", password, server.c2s_port, resource="e2e", ca_file=str(server.ca_path))
    await u.connect(presence=True, roster=True, timeout=30)
    return u


async def test_the_matrix_password_is_the_xmpp_login(matrix_server, matrix_user):
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    local = alice.user_id[1:].split(":")[0]
    with pytest.raises(LoginFailed) as e:
        await login(matrix_server, local, "not-her-password")
    assert "not-authorized" in str(e.value), e.value

    user = await login(matrix_server, local, alice.password)
    try:
        room = await bob.create_dm(alice.user_id)
        await bob.send_text(room, "hello server mode")
        await user.expect_message(contact_jid(bob.user_id), body="hello server mode", timeout=30)
        chat(user, contact_jid(bob.user_id), "hello back", mid="s1")
        got = await bob.wait_message(room, "hello back", timeout=20)
        assert got.sender == alice.user_id
    finally:
        await user.disconnect()


async def pontoon_devices(matrix_user) -> list[str]:
    status, devices = await matrix_user.api("GET", "/_matrix/client/v3/devices")
    assert status == 200, devices
    return [d["device_id"] for d in devices["devices"] if d.get("display_name") == "Pontoon XMPP gateway"]


async def test_the_device_is_kept_under_the_users_password(matrix_server, matrix_user):
    """What outlives a login (the device, its keys) is sealed by a key derived from the
    password: the next login with it finds the same device; a login after a password change
    cannot open it and starts a new one."""
    alice = await matrix_user("alice")
    local = alice.user_id[1:].split(":")[0]
    user = await login(matrix_server, local, alice.password)
    await user.disconnect()
    matrix_server.wait_log(r"the user's last client is gone: logging out", 15, what="the logout")
    first = await pontoon_devices(alice)
    assert len(first) == 1, first
    user = await login(matrix_server, local, alice.password)
    await user.disconnect()
    assert await pontoon_devices(alice) == first
    # A new password (the other devices stay logged in): the sealed state does not open
    # with it, so Pontoon's next login is a new device.
    status, body = await alice.api("POST", "/_matrix/client/v3/account/password", {
        "new_password": "a-new-password-1", "logout_devices": False,
        "auth": {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": alice.user_id},
                 "password": alice.password}})
    assert status == 200, body
    user = await login(matrix_server, local, "a-new-password-1")
    try:
        devices = await pontoon_devices(alice)
        assert len(devices) == 2 and first[0] in devices, devices
    finally:
        await user.disconnect()
