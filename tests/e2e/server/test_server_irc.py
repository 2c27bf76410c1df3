"""Server mode against a real IRC server (ngircd): the login is the IRC registration, private
messages and rooms both ways, contacts' vCards, two resources on one IRC connection."""

from __future__ import annotations

import asyncio

import pytest

from server_fixtures import IRC
from harness.client import LoginFailed
from harness.util import free_port
from ircd import SEEDED_ACCOUNT, SEEDED_PASSWORD


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


async def test_irc_login_and_private_messages(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    await bob.whois("alice")
    bob.privmsg("alice", "hi alice")
    await alice.expect_message(f"rawbob@{IRC}", "hi alice")
    alice.send_message(f"rawbob@{IRC}", "hi bob")
    await bob.expect_privmsg("alice", "rawbob", "hi bob")
    # XEP-0054: the contact's vCard names it by its nick.
    reply = await alice.iq("get", f"rawbob@{IRC}", "<vCard xmlns='vcard-temp'/>")
    assert reply.findtext("{vcard-temp}vCard/{vcard-temp}NICKNAME") == "rawbob", reply


async def test_irc_rooms_both_ways(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    alice.send_raw(f"<presence to='#room@{IRC}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await alice.expect_presence(f"#room@{IRC}/alice")
    await bob.expect_cmd("JOIN", frm="alice")
    bob.privmsg("#room", "hello room")
    await alice.expect_message(f"#room@{IRC}/rawbob", "hello room", mtype="groupchat")
    alice.send_message(f"#room@{IRC}", "hello from xmpp", mtype="groupchat")
    await bob.expect_privmsg("alice", "#room", "hello from xmpp")


async def test_irc_two_resources_share_one_connection(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    a1 = await sconnect(server, f"alice@{IRC}", "pw", resource="one")
    a2 = await sconnect(server, f"alice@{IRC}", "pw", resource="two")
    assert server.count_log(r"logging in to the legacy network") == 1
    await bob.whois("alice")
    bob.privmsg("alice", "to both")
    await a1.expect_message(f"rawbob@{IRC}", "to both")
    await a2.expect_message(f"rawbob@{IRC}", "to both")
    # The last resource leaving logs out of IRC.
    await a1.disconnect()
    await a2.disconnect()
    await server.wait_log_async(r"logging out of the legacy network", 10)
    assert server.count_log(r"logging out of the legacy network") == 1


async def test_irc_sasl_checks_the_password(make_server, sconnect, inspircd):
    """InspIRCd + Atheme: the XMPP login is the SASL login; a wrong password is refused with
    the network's words and leaves nobody on IRC; the right one logs in."""
    server = make_server(irc_options={"connect_host": "127.0.0.1", "connect_port": inspircd.port,
                                      "connect_timeout": 5},
                         server={"allow_unauthenticated_legacy_logins": False})
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"{SEEDED_ACCOUNT}@{IRC}", "not-the-password")
    assert "not-authorized" in str(e.value) and "SASL" in str(e.value), e.value
    user = await sconnect(server, f"{SEEDED_ACCOUNT}@{IRC}", SEEDED_PASSWORD)
    assert await user.roster() == {}


async def test_irc_without_sasl_needs_the_operator_s_consent(make_server, sconnect, ngircd):
    server = make_server(irc_options=irc_options(ngircd),
                         server={"allow_unauthenticated_legacy_logins": False})
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"alice@{IRC}", "pw")
    assert "not-authorized" in str(e.value) and "could not check your password" in str(e.value), e.value
    await server.wait_log_async(r"logging out of the legacy network", 10)


async def test_irc_unreachable_is_a_temporary_failure(make_server, sconnect):
    server = make_server(irc_options={"connect_host": "127.0.0.1", "connect_port": free_port(),
                                      "connect_timeout": 2})
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"alice@{IRC}", "pw")
    assert "temporary-auth-failure" in str(e.value), e.value


async def test_a_network_not_allowed_is_refused_with_the_reason(make_server, sconnect):
    """The SASL failure carries the reason as its text (what a client can show), and the log
    says it too (issue 13)."""
    server = make_server(irc_options={"allowed_networks": ["irc.example.net"], "connect_timeout": 2})
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"alice%evil.example.org@{IRC}", "pw")
    assert str(e.value) == "not-authorized: connecting to evil.example.org is not allowed on this gateway", e.value
    await server.wait_log_async(r"login refused.*reason=connecting to evil\.example\.org is not allowed", 10)


async def test_irc_message_verbs_in_server_mode(make_server, sconnect, ngircd, raw_irc):
    """Issue 14's verbs in server mode, as in component mode: on ngircd a correction, a
    reaction and a reply are readable lines, a retraction is refused, in a room and in a
    private chat; IRC's lone link to a file comes back as a file."""
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    rj = f"#room@{IRC}"
    alice.send_raw(f"<presence to='{rj}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await alice.expect_presence(f"{rj}/alice")
    await bob.expect_cmd("JOIN", frm="alice")
    bob.privmsg("#room", "https://img.example.net/owl.png")
    theirs = await alice.expect_message(f"{rj}/rawbob", "https://img.example.net/owl.png", mtype="groupchat")
    assert theirs.xml.find("{jabber:x:oob}x") is not None, theirs
    sid = theirs.xml.find("{urn:xmpp:sid:0}stanza-id").get("id")
    alice.send_raw(f"<message to='{rj}' type='groupchat' id='s-1'>"
                   f"<reactions xmlns='urn:xmpp:reactions:0' id='{sid}'><reaction>🦉</reaction></reactions></message>")
    await bob.expect_privmsg("alice", "#room", "\x01ACTION reacted 🦉 to rawbob's message\x01")
    alice.send_raw(f"<message to='{rj}' type='groupchat' id='s-2'><body>nice</body>"
                   f"<reply xmlns='urn:xmpp:reply:0' to='{rj}/rawbob' id='{sid}'/></message>")
    await bob.expect_privmsg("alice", "#room", "rawbob: nice")
    await alice.expect_message(f"{rj}/alice", "rawbob: nice", mtype="groupchat")
    alice.send_raw(f"<message to='{rj}' type='groupchat' id='s-3'><body>nicee</body>"
                   "<replace xmlns='urn:xmpp:message-correct:0' id='s-2'/></message>")
    await bob.expect_privmsg("alice", "#room", "(correction) nicee")

    # A private chat: a correction of her own message, a retraction refused.
    alice.send_raw(f"<message to='rawbob@{IRC}' type='chat' id='p-1'><body>hi bob</body></message>")
    await bob.expect_privmsg("alice", "rawbob", "hi bob")
    alice.send_raw(f"<message to='rawbob@{IRC}' type='chat' id='p-2'><body>hi Bob</body>"
                   "<replace xmlns='urn:xmpp:message-correct:0' id='p-1'/></message>")
    await bob.expect_privmsg("alice", "rawbob", "(correction) hi Bob")
    alice.send_raw(f"<message to='rawbob@{IRC}' type='chat' id='p-3'>"
                   "<retract xmlns='urn:xmpp:message-retract:1' id='p-1'/></message>")
    err = await alice.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == "p-3",
                             what="the refused retraction")
    assert err.condition == "feature-not-implemented", err


async def test_irc_settings_are_kept_for_the_next_login(make_server, sconnect, ngircd, raw_irc):
    """Settings in server mode: kept between logins, sealed with the login's password."""
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    await bob.whois("alice")
    alice.send_message(IRC, "set commands\nPRIVMSG rawbob :sent by my settings")
    await alice.expect(lambda s: s.kind == "message" and s.from_bare == IRC and s.body is not None
                       and "commands is now PRIVMSG rawbob" in s.body, 10, what="the setting's answer")
    await alice.disconnect()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 15
    while "401" not in await bob.whois("alice"):
        assert loop.time() < deadline, "alice is still on IRC after logging out"
        await asyncio.sleep(0.2)
    again = await sconnect(server, f"alice@{IRC}", "pw")
    await bob.expect_privmsg("alice", "rawbob", "sent by my settings", timeout=20)
    again.send_message(IRC, "settings")
    await again.expect(lambda s: s.kind == "message" and s.from_bare == IRC and s.body is not None
                       and "commands = PRIVMSG rawbob :sent by my settings" in s.body, 10, what="the settings")
