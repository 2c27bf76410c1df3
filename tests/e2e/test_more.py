"""More of the core, as users and operators meet it: addresses, bounces, resources, the
operator CLI, the PostgreSQL store."""

from __future__ import annotations

import asyncio

from harness.client import NS_GATEWAY, NS_REGISTER, dump
from harness.gateway import TRANSPORT, echo_roundtrip, register, register_and_login, submit_registration

ECHO = f"echo@{TRANSPORT}"


async def test_unregistered_user_gets_registration_required(pontoon, connect):
    user = await connect("user1")
    user.send_message(ECHO, "hello?")
    err = await user.expect_message_error(ECHO, timeout=10)
    assert err.condition == "registration-required", err


async def test_message_to_offline_legacy_user_bounces(pontoon, connect):
    """Never dropped in silence: bob is not online on the test network."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.send_message(f"bob@{TRANSPORT}", "are you there?")
    err = await user.expect_message_error(f"bob@{TRANSPORT}", timeout=10)
    assert err.condition is not None, err


async def test_escaped_legacy_ids_round_trip(pontoon, connect):
    """XEP-0106: the legacy id carol@example.net is carol\\40example.net@test.localhost."""
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "carol@example.net", "secret")
    await register_and_login(u2, "dave", "secret")
    carol = f"carol\\40example.net@{TRANSPORT}"
    u2.send_message(carol, "hi carol")
    await u1.expect_message(f"dave@{TRANSPORT}", body="hi carol", timeout=10)
    u1.send_message(f"dave@{TRANSPORT}", "hi dave")
    await u2.expect_message(carol, body="hi dave", timeout=10)


async def test_gateway_prompt_escapes(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("set", TRANSPORT, f"<query xmlns='{NS_GATEWAY}'><prompt>carol@example.net</prompt></query>")
    assert reply.get("type") == "result", dump(reply)
    jid = reply.find(f"{{{NS_GATEWAY}}}query/{{{NS_GATEWAY}}}jid")
    assert jid is not None and jid.text == f"carol\\40example.net@{TRANSPORT}", dump(reply)


async def test_transport_command_whoami(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.clear_inbox()
    user.send_message(TRANSPORT, "whoami")
    msg = await user.expect_message(TRANSPORT, timeout=10)
    assert "alice" in (msg.body or ""), msg


async def test_remove_takes_transport_out_of_roster(pontoon, connect):
    """XEP-0100 §4.3: on unregistration the gateway cancels the subscriptions both ways."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    reply = await user.iq("set", TRANSPORT, f"<query xmlns='{NS_REGISTER}'><remove/></query>")
    assert reply.get("type") == "result", dump(reply)
    await user.expect(
        lambda s: s.kind == "presence" and s.from_bare == TRANSPORT and s.type in ("unsubscribe", "unsubscribed"),
        timeout=10, what="unsubscribe/unsubscribed from the transport",
    )


async def test_reregistration_updates_password(pontoon, connect):
    """A registered user submits the form again with a wrong password: the next login fails."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    reply = await submit_registration(user, "alice", "wrong")
    assert reply.get("type") == "result", dump(reply)
    user.send_presence(ptype="unavailable")
    await asyncio.sleep(0.5)
    user.clear_inbox()
    user.send_presence()
    await user.expect_presence(TRANSPORT, "error", timeout=15)


async def test_second_resource_keeps_session(pontoon, connect):
    """Logged out only when the last resource goes offline."""
    a = await connect("user1", resource="phone")
    await register_and_login(a, "alice", "secret")
    b = await connect("user1", resource="desktop")
    await b.disconnect()
    await asyncio.sleep(0.5)
    await echo_roundtrip(a, "still here")


async def test_logout_makes_legacy_user_unreachable(pontoon, connect):
    """After the user goes offline, the legacy side sees them gone (a message to them bounces)."""
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    await u1.disconnect()
    await asyncio.sleep(1.0)
    u2.send_message(f"alice@{TRANSPORT}", "gone?")
    err = await u2.expect_message_error(f"alice@{TRANSPORT}", timeout=10)
    assert err.condition is not None, err


# --- operator CLI against the running gateway -----------------------------------------------


async def test_cli_registrations_list_search_edit_delete(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register(u1, "alice", "secret")
    await register(u2, "bob", "secret")
    out = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user1@localhost" in out and "user2@localhost" in out, out
    assert "secret" not in out, f"a password is shown:\n{out}"
    out = (await pontoon.cli_async("registrations", "list", "--transport", "test", "--search", "user2")).stdout
    assert "user2@localhost" in out and "user1@localhost" not in out, out
    await pontoon.cli_async("registrations", "edit", "user1@localhost", "test", "--username", "alice2")
    out = (await pontoon.cli_async("registrations", "list", "--search", "user1")).stdout
    assert "alice2" in out, out
    await pontoon.cli_async("registrations", "delete", "user2@localhost", "test")
    out = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user2@localhost" not in out, out


async def test_cli_delete_ends_the_running_session(pontoon, connect):
    """An operator deletes a logged-in user's registration: the running gateway stops
    serving them (no more echo; registration-required)."""
    u2 = await connect("user2")
    await register_and_login(u2, "bob", "secret")
    await echo_roundtrip(u2, "before the delete")
    await pontoon.cli_async("registrations", "delete", "user2@localhost", "test")
    await asyncio.sleep(1.0)
    u2.clear_inbox()
    u2.send_message(ECHO, "deleted?")
    err = await u2.expect_message_error(ECHO, timeout=10)
    assert err.condition == "registration-required", err


async def test_cli_register_unknown_transport_fails(pontoon):
    cp = await pontoon.cli_async("register", "user1@localhost", "nope", "--username", "x", "--password", "y", check=False)
    assert cp.returncode != 0, cp
    assert (cp.stderr + cp.stdout).strip(), "no error message"


async def test_check_config_accepts_generated_config(pontoon):
    cp = await pontoon.cli_async("check-config")
    assert "OK" in cp.stdout, cp.stdout


async def test_init_writes_config_that_checks(tmp_path, pontoon):
    import subprocess

    cfg = tmp_path / "fresh.toml"
    cp = subprocess.run([str(pontoon.bin), "--config", str(cfg), "init"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0 and cfg.exists(), cp
    cp = subprocess.run([str(pontoon.bin), "--config", str(cfg), "check-config"], capture_output=True, text=True, timeout=30)
    assert cp.returncode == 0, cp
    cp = subprocess.run([str(pontoon.bin), "--config", str(cfg), "init"], capture_output=True, text=True, timeout=30)
    assert cp.returncode != 0, "init overwrote an existing file without --force"


# --- PostgreSQL store --------------------------------------------------------------------------


async def test_postgres_store_survives_kill(make_pontoon, postgres_url, connect):
    pontoon = make_pontoon(store_url=postgres_url)
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    pontoon.kill()
    user.clear_inbox()
    await asyncio.to_thread(pontoon.start)
    await user.expect_presence(TRANSPORT, "available", timeout=20)
    await echo_roundtrip(user, "postgres remembers")
