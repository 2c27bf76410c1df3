"""Pontoon and Prosody going away and coming back: crash, restart, shutdown, abuse."""

from __future__ import annotations

import asyncio

import pytest

from harness.client import NS_PING, dump
from harness.gateway import TRANSPORT, echo_roundtrip, register_and_login


async def ping_ok(user, timeout: float = 10.0) -> bool:
    reply = await user.iq("get", TRANSPORT, f"<ping xmlns='{NS_PING}'/>", timeout=timeout)
    return reply.get("type") == "result"


# --- (k) kill -9 and restart ----------------------------------------------------------------


async def test_registration_survives_kill_and_user_is_logged_back_in(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await echo_roundtrip(user, "before the crash")

    assert pontoon.kill() == -9
    user.clear_inbox()
    await asyncio.to_thread(pontoon.start)

    listed = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user1@localhost" in listed and "alice" in listed, f"registration lost:\n{listed}"
    # Without the user doing anything: Pontoon probes and logs them back in.
    await user.expect_presence(TRANSPORT, "available", timeout=20)
    await echo_roundtrip(user, "after the crash")


async def test_registration_survives_graceful_restart(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await pontoon.restart_async(graceful=True)
    user.clear_inbox()
    # After a graceful restart the user is logged back in as well (probe on start).
    await user.expect_presence(TRANSPORT, "available", timeout=20)
    await echo_roundtrip(user, "after the restart")


# --- (l) Prosody restart ----------------------------------------------------------------------


async def test_pontoon_reconnects_after_prosody_restart(prosody, pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await user.disconnect()

    # Reconnect within the link's backoff (bounded: 30 s).
    await pontoon.link_back_after_restart(prosody)
    assert pontoon.running()

    user = await connect("user1")  # the user comes back online: presence reaches the transport
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    await echo_roundtrip(user, "after the server restart")


# --- (m) SIGTERM ------------------------------------------------------------------------------


async def test_sigterm_logs_users_out_and_exits_zero(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "alice", "secret")
    await register_and_login(u2, "bob", "secret")
    u1.clear_inbox()
    u2.clear_inbox()
    rc, exited = await asyncio.to_thread(pontoon.terminate_and_wait, 10)
    assert exited, f"Pontoon did not exit within 10 s of SIGTERM:\n{pontoon.log_tail()}"
    assert rc == 0, f"exit status {rc}:\n{pontoon.log_tail()}"
    await u1.expect_presence(TRANSPORT, "unavailable", timeout=5)
    await u2.expect_presence(TRANSPORT, "unavailable", timeout=5)


# --- (n) oversized stanza ---------------------------------------------------------------------


@pytest.mark.pontoon_config(limits={"max_stanza_bytes": 8192})
async def test_oversized_stanza_is_refused_and_the_link_stays_up(prosody, pontoon, connect):
    """One over-limit stanza (any federated JID can send one) gets a policy-violation error
    back to its sender; the component link, and every other user on it, stays up."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    offset = pontoon.log_offset()
    user.send_message(f"echo@{TRANSPORT}", "x" * 20_000)
    err = await user.expect_message_error(f"echo@{TRANSPORT}", timeout=10)
    assert err.condition == "policy-violation", err
    assert pontoon.running(), pontoon.log_tail()
    assert pontoon.count_log(r"component link down", since=offset) == 0, pontoon.log_tail()
    # The same session goes on: a normal message still echoes, ping still answers.
    await echo_roundtrip(user, "still here")
    reply = await user.iq("get", TRANSPORT, f"<ping xmlns='{NS_PING}'/>")
    assert reply.get("type") == "result", dump(reply)
