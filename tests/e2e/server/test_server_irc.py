"""Server mode against a real IRC server (ngircd): the login is the IRC registration, private
messages and rooms both ways, contacts' vCards, two resources on one IRC connection."""

from __future__ import annotations

import pytest

from conftest import IRC
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
    await server.wait_log_async(r"authentication failed.*reason=connecting to evil\.example\.org is not allowed", 10)
