"""The gateway core in component mode, as a user of an XMPP client would check it.

Contract: the `test` transport on test.localhost (in-memory test network; contact `echo`
answers "echo: <body>"; the password "wrong" fails the legacy login).
"""

from __future__ import annotations

import asyncio

import pytest

from harness.client import (
    NS_DATA,
    NS_DISCO_INFO,
    NS_GATEWAY,
    NS_PING,
    NS_REGISTER,
    NS_VERSION,
    User,
    dump,
    error_condition,
)
from harness.gateway import (
    TRANSPORT,
    accept_transport_subscription,
    echo_roundtrip,
    form_fields,
    get_registration_form,
    register,
    register_and_login,
    submit_registration,
)

ECHO = f"echo@{TRANSPORT}"


def cond(reply) -> str | None:
    return error_condition(reply)


# --- (a) service discovery ---------------------------------------------------------------


async def test_disco_info_identity_and_features(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert reply.get("type") == "result", dump(reply)
    query = reply.find(f"{{{NS_DISCO_INFO}}}query")
    identities = [(i.get("category"), i.get("type"), i.get("name")) for i in query.findall(f"{{{NS_DISCO_INFO}}}identity")]
    assert ("gateway", "test", "Test network") in identities, f"identities: {identities}"
    features = {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}
    for needed in (NS_REGISTER, NS_GATEWAY, NS_DISCO_INFO, NS_PING, NS_VERSION):
        assert needed in features, f"feature {needed} missing from {sorted(features)}"


# --- (b) registration ----------------------------------------------------------------------


async def test_registration_form_has_data_form_and_legacy_fields(pontoon, connect):
    user = await connect("user1")
    reply = await get_registration_form(user)
    assert reply.get("type") == "result", dump(reply)
    query = reply.find(f"{{{NS_REGISTER}}}query")
    assert query is not None, dump(reply)
    # XEP-0077 legacy fields, for old clients
    assert query.find(f"{{{NS_REGISTER}}}username") is not None, f"no <username/>: {dump(reply)}"
    assert query.find(f"{{{NS_REGISTER}}}password") is not None, f"no <password/>: {dump(reply)}"
    # and the data form (XEP-0004) with both fields, required
    form = query.find(f"{{{NS_DATA}}}x")
    assert form is not None and form.get("type") == "form", f"no data form: {dump(reply)}"
    fields = form_fields(reply)
    for var in ("username", "password"):
        assert var in fields, f"field {var} missing: {dump(reply)}"
        assert fields[var].find(f"{{{NS_DATA}}}required") is not None, f"field {var} not required: {dump(fields[var])}"
    assert fields["password"].get("type") == "text-private", dump(fields["password"])


async def test_registration_subscribes_and_lands_in_roster(pontoon, connect):
    user = await connect("user1")
    reply = await submit_registration(user, "alice", "secret")
    assert reply.get("type") == "result", f"registration failed: {dump(reply)}"
    sub = await user.expect_presence(TRANSPORT, "subscribe")
    assert sub.frm == TRANSPORT, sub
    user.send_presence(to=TRANSPORT, ptype="subscribed")
    roster = {}
    for _ in range(50):  # the roster push is asynchronous; bounded poll, 5 s at most
        roster = await user.roster()
        if TRANSPORT in roster and roster[TRANSPORT]["subscription"] in ("from", "both"):
            break
        await asyncio.sleep(0.1)
    assert TRANSPORT in roster, f"transport not in roster: {roster}"
    assert roster[TRANSPORT]["subscription"] in ("from", "both"), roster


async def test_registered_user_sees_registered_flag(pontoon, connect):
    """XEP-0077 §3.2: a registered user asking for the form gets <registered/> and the username."""
    user = await connect("user1")
    await register(user, "alice", "secret")
    reply = await get_registration_form(user)
    assert reply.get("type") == "result", dump(reply)
    query = reply.find(f"{{{NS_REGISTER}}}query")
    assert query.find(f"{{{NS_REGISTER}}}registered") is not None, f"no <registered/>: {dump(reply)}"
    uname = query.find(f"{{{NS_REGISTER}}}username")
    assert uname is not None and (uname.text or "") == "alice", dump(reply)


async def test_registration_with_legacy_fields(pontoon, connect):
    """Old clients submit <username/><password/> without a data form."""
    user = await connect("user1")
    await get_registration_form(user)
    reply = await user.iq(
        "set", TRANSPORT, f"<query xmlns='{NS_REGISTER}'><username>alice</username><password>secret</password></query>"
    )
    assert reply.get("type") == "result", dump(reply)
    await accept_transport_subscription(user)
    await user.expect_presence(TRANSPORT, "available", timeout=15)


async def test_registration_missing_password_is_rejected(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq(
        "set", TRANSPORT,
        f"<query xmlns='{NS_REGISTER}'><x xmlns='{NS_DATA}' type='submit'>"
        f"<field var='username'><value>alice</value></field></x></query>",
    )
    assert reply.get("type") == "error", dump(reply)
    assert cond(reply) in ("not-acceptable", "bad-request"), dump(reply)


# --- (c) login, echo -----------------------------------------------------------------------


async def test_available_presence_logs_in_and_echo_answers(pontoon, connect):
    """Registered while not yet available: the user comes online, accepts the transport's
    (pending) subscription request, and the transport logs them in."""
    user = await connect("user1", presence=False)
    reply = await submit_registration(user, "alice", "secret")
    assert reply.get("type") == "result", dump(reply)
    # Prosody holds the subscription request until the user is available.
    user.send_presence()
    await accept_transport_subscription(user)
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    await echo_roundtrip(user, "hello there")


async def test_going_offline_and_online_again_logs_in_again(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.send_presence(ptype="unavailable")
    user.clear_inbox()
    user.send_presence()
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    await echo_roundtrip(user, "back again")


async def test_two_users_message_each_other(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register_and_login(u1, "bob", "pw-bob")
    await register_and_login(u2, "alice", "pw-alice")
    u2.send_message(f"bob@{TRANSPORT}", "hi bob")
    msg = await u1.expect_message(f"alice@{TRANSPORT}", body="hi bob", timeout=10)
    assert msg.type in ("chat", "normal"), msg
    u1.send_message(f"alice@{TRANSPORT}", "hi alice")
    await u2.expect_message(f"bob@{TRANSPORT}", body="hi alice", timeout=10)


# --- (d) logout ----------------------------------------------------------------------------


async def test_unavailable_presence_logs_out(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.send_presence(ptype="unavailable")
    await user.expect_presence(TRANSPORT, "unavailable", timeout=10)


# --- (e) wrong password ------------------------------------------------------------------------


async def test_wrong_password_gives_error_presence_and_explanation(pontoon, connect):
    user = await connect("user1")
    await register(user, "alice", "wrong")
    err = await user.expect_presence(TRANSPORT, "error", timeout=15)
    assert err.condition is not None, err
    msg = await user.expect_message(TRANSPORT, timeout=10)
    assert msg.body and len(msg.body.strip()) >= 10, f"unreadable explanation: {msg}"


# --- (f) unregistration --------------------------------------------------------------------


async def test_remove_unregisters(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    reply = await user.iq("set", TRANSPORT, f"<query xmlns='{NS_REGISTER}'><remove/></query>")
    assert reply.get("type") == "result", dump(reply)
    user.clear_inbox()
    user.send_message(ECHO, "still there?")
    err = await user.expect_message_error(ECHO, timeout=10)
    assert err.condition == "registration-required", err
    listed = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user1@localhost" not in listed, listed


async def test_removing_transport_from_roster_unregisters(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    reply = await user.remove_from_roster(TRANSPORT)
    assert reply.get("type") == "result", dump(reply)
    # Prosody sends unsubscribe + unsubscribed to the transport; Pontoon unregisters.
    deadline = asyncio.get_running_loop().time() + 10
    listed = ""
    while asyncio.get_running_loop().time() < deadline:
        listed = (await pontoon.cli_async("registrations", "list")).stdout
        if "user1@localhost" not in listed:
            break
        await asyncio.sleep(0.3)
    assert "user1@localhost" not in listed, f"still registered after roster removal:\n{listed}"
    user.clear_inbox()
    user.send_message(ECHO, "still there?")
    err = await user.expect_message_error(ECHO, timeout=10)
    assert err.condition == "registration-required", err


# --- (g) legacy id already taken -------------------------------------------------------------


async def test_legacy_username_held_by_another_user_is_refused(pontoon, connect):
    u1 = await connect("user1")
    u2 = await connect("user2")
    await register(u1, "bob", "pw")
    reply = await submit_registration(u2, "bob", "pw2")
    assert reply.get("type") == "error", f"second registration as bob accepted: {dump(reply)}"
    assert cond(reply) in ("conflict", "not-allowed"), dump(reply)


# --- (i) messages to the transport itself --------------------------------------------------------


async def test_message_to_transport_gets_help(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.clear_inbox()
    user.send_message(TRANSPORT, "help")
    msg = await user.expect_message(TRANSPORT, timeout=10)
    assert msg.type != "error" and msg.body and len(msg.body.strip()) >= 10, msg


# --- (j) IQs answered ------------------------------------------------------------------------


async def test_ping(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<ping xmlns='{NS_PING}'/>")
    assert reply.get("type") == "result", dump(reply)


async def test_version(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_VERSION}'/>")
    assert reply.get("type") == "result", dump(reply)
    name = reply.find(f"{{{NS_VERSION}}}query/{{{NS_VERSION}}}name")
    assert name is not None and "pontoon" in (name.text or "").lower(), dump(reply)
    version = reply.find(f"{{{NS_VERSION}}}query/{{{NS_VERSION}}}version")
    assert version is not None and version.text, dump(reply)


async def test_unknown_iq_namespace_is_service_unavailable(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, "<query xmlns='urn:example:nothing-here'/>")
    assert reply.get("type") == "error", dump(reply)
    assert cond(reply) == "service-unavailable", dump(reply)


async def test_gateway_prompt_translates_legacy_id(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_GATEWAY}'/>")
    assert reply.get("type") == "result", dump(reply)
    query = reply.find(f"{{{NS_GATEWAY}}}query")
    assert query.find(f"{{{NS_GATEWAY}}}prompt") is not None, dump(reply)
    desc = query.find(f"{{{NS_GATEWAY}}}desc")
    assert desc is not None and desc.text, dump(reply)
    reply = await user.iq("set", TRANSPORT, f"<query xmlns='{NS_GATEWAY}'><prompt>bob</prompt></query>")
    assert reply.get("type") == "result", dump(reply)
    jid = reply.find(f"{{{NS_GATEWAY}}}query/{{{NS_GATEWAY}}}jid")
    assert jid is not None and jid.text == f"bob@{TRANSPORT}", dump(reply)


async def test_gateway_prompt_rejects_invalid_legacy_id(pontoon, connect):
    user = await connect("user1")
    reply = await user.iq("set", TRANSPORT, f"<query xmlns='{NS_GATEWAY}'><prompt>no spaces allowed!</prompt></query>")
    assert reply.get("type") == "error", dump(reply)
    assert cond(reply) == "jid-malformed", dump(reply)


async def test_message_to_invalid_legacy_jid_is_jid_malformed(pontoon, connect):
    user = await connect("user1")
    await register_and_login(user, "alice", "secret")
    user.clear_inbox()
    bad = f"bad!name@{TRANSPORT}"  # '!' is fine in a JID, not on the test network
    user.send_message(bad, "hello?")
    err = await user.expect_message_error(bad, timeout=10)
    assert err.condition == "jid-malformed", err


# --- (h) policy ------------------------------------------------------------------------------


@pytest.mark.pontoon_config(transport={"enabled": False}, wait_ready=False)
async def test_disabled_transport_is_service_unavailable(pontoon, connect):
    # A disabled transport may or may not keep its link up; either way users must get
    # service-unavailable. Give the link its chance to come up before asking.
    try:
        await asyncio.to_thread(pontoon.wait_ready, 5)
    except Exception:  # noqa: BLE001 - a disabled transport need not connect
        assert pontoon.running(), f"Pontoon exited:\n{pontoon.log_tail()}"
    user = await connect("user1")
    reply = await user.iq("get", TRANSPORT, f"<query xmlns='{NS_DISCO_INFO}'/>")
    assert reply.get("type") == "error" and cond(reply) == "service-unavailable", dump(reply)
    reply = await get_registration_form(user)
    assert reply.get("type") == "error" and cond(reply) == "service-unavailable", dump(reply)


@pytest.mark.pontoon_config(transport={"manual_registration_only": True})
async def test_manual_registration_only(pontoon, connect):
    user = await connect("user1")
    reply = await submit_registration_any(user)
    assert reply.get("type") == "error" and cond(reply) == "not-allowed", dump(reply)
    # The operator registers the user instead
    await pontoon.cli_async("register", "user1@localhost", "test", "--username", "alice", "--password", "secret")
    listed = (await pontoon.cli_async("registrations", "list")).stdout
    assert "user1@localhost" in listed and "alice" in listed, listed
    # The user adds the transport to the roster and tells it they are online
    user.send_presence(to=TRANSPORT, ptype="subscribe")
    user.send_presence(to=TRANSPORT)
    await user.expect_presence(TRANSPORT, "available", timeout=15)
    await echo_roundtrip(user, "operator made me")


async def submit_registration_any(user: User):
    """Submits a registration whether or not the form request is allowed."""
    await get_registration_form(user)
    from harness.gateway import register_form_xml

    return await user.iq("set", TRANSPORT, register_form_xml("alice", "secret"))


@pytest.mark.pontoon_config(transport={"allowed_servers": ["example.org"]})
async def test_users_of_other_servers_are_forbidden(pontoon, connect):
    user = await connect("user1")
    reply = await submit_registration_any(user)
    assert reply.get("type") == "error" and cond(reply) == "forbidden", dump(reply)


@pytest.mark.pontoon_config(transport={"allow_list": ["user2@localhost"]})
async def test_allow_list_refuses_others(pontoon, connect):
    u1 = await connect("user1")
    reply = await submit_registration_any(u1)
    assert reply.get("type") == "error" and cond(reply) in ("forbidden", "not-allowed"), dump(reply)
    u2 = await connect("user2")
    await register_and_login(u2, "bob", "secret")
