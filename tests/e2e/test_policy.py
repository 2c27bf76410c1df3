"""Operator policy: closed public registration, and changes made with `pontoon policy set`
while the gateway runs (read again at the next registration or login; kept across restarts,
the store's copy winning over the config file's seed)."""

from __future__ import annotations

import asyncio

import pytest

from harness.client import NS_DISCO_INFO, dump, error_condition
from harness.gateway import TRANSPORT, echo_roundtrip, get_registration_form, register_and_login, register_form_xml


async def submit(user, username="alice", password="secret"):
    await get_registration_form(user)
    return await user.iq("set", TRANSPORT, register_form_xml(username, password))


@pytest.mark.pontoon_config(transport={"public_registration": False})
async def test_closed_public_registration_is_not_allowed(pontoon, connect):
    user = await connect("user1")
    reply = await submit(user)
    assert reply.get("type") == "error" and error_condition(reply) == "not-allowed", dump(reply)


@pytest.mark.pontoon_config(transport={"public_registration": False, "allow_list": ["user2@localhost"]})
async def test_closed_public_registration_admits_the_allow_list(pontoon, connect):
    u2 = await connect("user2")
    await register_and_login(u2, "bob", "secret")


async def test_policy_show_lists_the_transport(pontoon):
    out = (await pontoon.cli_async("policy", "show", "test")).stdout
    assert "enabled" in out and "true" in out.lower(), out


async def test_policy_set_checks_lists_as_the_console_does(pontoon):
    """`pontoon policy set` goes through the same checks as the console and the API (issue
    14): a JID where a server domain is expected is refused, and nothing is stored."""
    run = await pontoon.cli_async("policy", "set", "test", "allowed_servers=user@evil.example", check=False)
    assert run.returncode != 0 and "not a server domain" in run.stderr, (run.stdout, run.stderr)
    out = (await pontoon.cli_async("policy", "show", "test")).stdout
    assert "evil.example" not in out, out
    await pontoon.cli_async("policy", "set", "test", "allowed_servers=Irc.Example.ORG, irc.example.org")
    out = (await pontoon.cli_async("policy", "show", "test")).stdout
    assert 'allowed_servers = ["irc.example.org"]' in out, out


async def test_disabling_at_run_time_refuses_the_next_registration(pontoon, connect):
    user = await connect("user1")
    await pontoon.cli_async("policy", "set", "test", "enabled=false")
    reply = await submit(user)
    assert reply.get("type") == "error" and error_condition(reply) == "service-unavailable", dump(reply)
    await pontoon.cli_async("policy", "set", "test", "enabled=true")
    await register_and_login(user, "alice", "secret")
    await echo_roundtrip(user, "enabled again")


async def test_disabled_transport_refuses_the_next_login(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.send_presence(ptype="unavailable")
    await asyncio.sleep(0.5)
    await pontoon.cli_async("policy", "set", "test", "enabled=false")
    user.clear_inbox()
    user.send_presence()
    await user.expect_none(
        lambda s: s.kind == "presence" and s.from_bare == TRANSPORT and s.type == "available", 2.0,
        what="login while the transport is disabled",
    )
    user.send_message(f"echo@{TRANSPORT}", "anyone?")
    err = await user.expect_message_error(f"echo@{TRANSPORT}", timeout=10)
    assert err.condition == "service-unavailable", err


async def test_store_policy_survives_restart(pontoon, connect):
    """The config says public registration is open; the operator closed it; after a restart
    the store's policy is in force."""
    await pontoon.cli_async("policy", "set", "test", "manual_registration_only=true")
    await pontoon.restart_async()
    user = await connect("user1")
    reply = await submit(user)
    assert reply.get("type") == "error" and error_condition(reply) == "not-allowed", dump(reply)
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert reply.get("type") == "result", dump(reply)
