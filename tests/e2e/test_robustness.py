"""Robustness as an operator and users meet it: message contents, the outbox, contact
presence, startup order, bad secrets, signals, config errors, many users at once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess

from harness.client import NS_DISCO_ITEMS, dump
from harness.gateway import (
    TRANSPORT,
    accept_transport_subscription,
    echo_roundtrip,
    register_and_login,
    submit_registration,
)

ECHO = f"echo@{TRANSPORT}"


async def test_message_bodies_survive_intact(pontoon, connect):
    """XML specials, non-ASCII, newlines and a 5 KB body (under the default limit) round-trip."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    for text in (
        "<b>not markup</b> & \"quotes\" 'apostrophes'",
        "Grüße, 你好, مرحبا, 🚀 emoji",
        "line one\nline two\n\ttabbed",
        "y" * 5000,
    ):
        await echo_roundtrip(user, text)


async def test_contact_presence_is_forwarded(pontoon, connect):
    """The legacy contact echo is online with a status; the user sees it."""
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    p = await user.expect_presence(ECHO, "available", timeout=10)
    status = p.xml.find("{jabber:client}status")
    assert status is not None and "repeat" in (status.text or ""), p


async def test_message_sent_while_logging_in_is_delivered(pontoon, connect):
    """The outbox: a message sent before the legacy login completes waits and is delivered."""
    user = await connect("user1")
    reply = await submit_registration(user, "alice", "secret")
    assert reply.get("type") == "result", dump(reply)
    await accept_transport_subscription(user)
    user.send_message(ECHO, "early bird")  # at once, not waiting for the login
    await user.expect_message(ECHO, body="echo: early bird", timeout=15)


async def test_message_sent_while_login_fails_is_bounced(pontoon, connect):
    """Never dropped in silence: the login fails (password 'wrong'), the waiting message bounces."""
    user = await connect("user1")
    reply = await submit_registration(user, "alice", "wrong")
    assert reply.get("type") == "result", dump(reply)
    await accept_transport_subscription(user)
    user.send_message(ECHO, "will this arrive?")
    err = await user.expect_message_error(ECHO, timeout=15)
    assert err.condition is not None, err


async def test_disco_items_answered(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_DISCO_ITEMS}'/>")
    assert reply.get("type") == "result", dump(reply)


async def test_pontoon_started_before_prosody_connects_when_it_comes(prosody, make_pontoon, connect):
    await asyncio.to_thread(prosody.stop)
    pontoon = make_pontoon(wait_ready=False)
    await asyncio.sleep(2.0)
    assert pontoon.running(), f"Pontoon gave up without a server:\n{pontoon.log_tail()}"
    await asyncio.to_thread(prosody.start)
    await pontoon.wait_log_async(rf"link up.*{TRANSPORT}", 30, what="the link to come up once Prosody is there")
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    await echo_roundtrip(user, "late server")


async def test_wrong_component_secret_is_reported_and_not_fatal(prosody, make_pontoon):
    pontoon = make_pontoon(transport={"secret": "not-the-secret"}, wait_ready=False)
    await asyncio.sleep(3.0)
    assert pontoon.running(), f"Pontoon exited on a refused handshake:\n{pontoon.log_tail()}"
    log = pontoon.log_text()
    assert "link up" not in log, log[-2000:]
    assert any(w in log.lower() for w in ("not-authorized", "not authorized", "handshake", "secret")), (
        f"the log does not say why the link fails:\n{pontoon.log_tail()}"
    )


async def test_sigint_is_graceful_too(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.clear_inbox()
    os.kill(pontoon.proc.pid, signal.SIGINT)
    rc = await asyncio.to_thread(pontoon.proc.wait, 10)
    assert rc == 0, f"exit status {rc}:\n{pontoon.log_tail()}"
    await user.expect_presence(TRANSPORT, "unavailable", timeout=5)


async def test_check_config_names_the_bad_key(tmp_path, pontoon):
    bad = tmp_path / "bad.toml"
    bad.write_text(pontoon.config_path.read_text().replace(f"port = {pontoon.component['port']}", 'port = "many"'))
    cp = subprocess.run([str(pontoon.bin), "--config", str(bad), "check-config"], capture_output=True, text=True,
                        timeout=30)
    assert cp.returncode != 0, cp
    assert "port" in (cp.stderr + cp.stdout), cp


async def test_twenty_users_at_once(pontoon, connect):
    """20 users register, log in and echo concurrently (bounded: one round each)."""
    users = [await connect(f"load{i}") for i in range(20)]
    await asyncio.gather(*(register_and_login(u, f"legacy{i}", "secret") for i, u in enumerate(users)))
    await asyncio.gather(*(echo_roundtrip(u, f"hello from {i}") for i, u in enumerate(users)))
