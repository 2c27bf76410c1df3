"""Server mode: XMPP clients log in to Pontoon itself, over STARTTLS with the generated CA,
and the legacy network checks the password (the test network refuses "wrong")."""

from __future__ import annotations

import asyncio

import pytest

from harness.client import NS_ROSTER, LoginFailed, error_condition

TEST = "test.localhost"


async def test_login_roster_and_echo(make_server, sconnect):
    server = make_server()
    server.wait_log(r"generated a self-signed certificate; clients must trust .*ca\.pem", 5)
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    assert await alice.roster() == {}
    alice.send_message(f"echo@{TEST}", "hello")
    await alice.expect_message(f"echo@{TEST}", "echo: hello")
    # Ping and disco of the account; anything unknown is refused, never ignored.
    reply = await alice.iq("get", None, "<ping xmlns='urn:xmpp:ping'/>")
    assert reply.get("type") == "result"
    reply = await alice.iq("get", None, "<blocklist xmlns='urn:xmpp:blocking'/>")
    assert reply.get("type") == "error" and error_condition(reply) == "service-unavailable", reply


async def test_wrong_password_is_not_authorized(make_server, sconnect):
    server = make_server()
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"alice@{TEST}", "wrong")
    assert "not-authorized" in str(e.value) and "invalid password" in str(e.value), e.value
    # No session stays behind: a good login works at once.
    alice = await sconnect(server, f"alice@{TEST}", "right")
    alice.send_message(f"echo@{TEST}", "x")
    await alice.expect_message(f"echo@{TEST}", "echo: x")


async def test_second_login_needs_the_same_password(make_server, sconnect):
    server = make_server()
    a1 = await sconnect(server, f"alice@{TEST}", "secret", resource="one")
    with pytest.raises(LoginFailed) as e:
        await sconnect(server, f"alice@{TEST}", "other", resource="two")
    assert "another password" in str(e.value), e.value
    a2 = await sconnect(server, f"alice@{TEST}", "secret", resource="two")
    # One legacy session for both resources.
    assert server.count_log(r"server-mode login to the legacy network") == 1  # the refused one never got there
    assert server.count_log(r"logging in to the legacy network") == 1
    # Each resource sees the other's presence.
    await a1.expect_presence(f"alice@{TEST}/two")
    a2.send_message(f"echo@{TEST}", "from two")
    await a2.expect_message(f"echo@{TEST}", "echo: from two")


async def test_roster_add_is_stored_and_survives_reconnect(make_server, sconnect):
    server = make_server()
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    reply = await alice.iq("set", None,
                           f"<query xmlns='{NS_ROSTER}'><item jid='echo@{TEST}' name='Echo'><group>Test</group></item></query>")
    assert reply.get("type") == "result", reply
    assert (await alice.roster())[f"echo@{TEST}"]["subscription"] == "both"
    # The session follows the contact: its presence comes.
    await alice.expect_presence(f"echo@{TEST}")
    await alice.disconnect()
    await asyncio.sleep(0.5)
    alice = await sconnect(server, f"alice@{TEST}", "secret", resource="again")
    assert f"echo@{TEST}" in await alice.roster()
    # Initial presence probes the roster.
    await alice.expect_presence(f"echo@{TEST}")
    # Remove.
    reply = await alice.iq("set", None, f"<query xmlns='{NS_ROSTER}'><item jid='echo@{TEST}' subscription='remove'/></query>")
    assert reply.get("type") == "result", reply
    assert await alice.roster() == {}
    # The password is not in the store.
    db = (server.data_dir / "pontoon.db").read_bytes()
    assert b"secret" not in db


async def test_foreign_domains_are_refused(make_server, sconnect):
    server = make_server()
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    reply = await alice.iq("get", "example.org", "<ping xmlns='urn:xmpp:ping'/>")
    assert error_condition(reply) == "remote-server-not-found", reply


async def test_disco_of_the_domain_shows_server_and_gateway(make_server, sconnect):
    server = make_server()
    alice = await sconnect(server, f"alice@{TEST}", "secret")
    reply = await alice.iq("get", TEST, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    ns = "{http://jabber.org/protocol/disco#info}"
    ids = {(i.get("category"), i.get("type")) for i in reply.iter(ns + "identity")}
    assert ("server", "im") in ids and ("gateway", "test") in ids, ids
    feats = {f.get("var") for f in reply.iter(ns + "feature")}
    assert "urn:xmpp:ping" in feats, feats
    reply = await alice.iq("get", TEST, "<ping xmlns='urn:xmpp:ping'/>")
    assert reply.get("type") == "result", reply


async def test_stream_resumption_after_a_dropped_connection(make_server, monkeypatch):
    """XEP-0198: the TCP connection drops; the client resumes on a new one, the legacy
    session went on, and the echo of a message sent right after arrives."""
    import harness.client as hc

    class SmClient(hc.ClientXMPP):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.register_plugin("xep_0198")
            self.plugin["xep_0198"].allow_resume = True

    monkeypatch.setattr(hc, "ClientXMPP", SmClient)
    server = make_server()
    u = hc.User(f"alice@{TEST}", "secret", server.c2s_port, resource="sm", ca_file=str(server.ca_path))
    await u.connect()
    try:
        x = u.xmpp
        sm = x.plugin["xep_0198"]
        for _ in range(50):
            if sm.sm_id:
                break
            await asyncio.sleep(0.1)
        assert sm.sm_id, "stream management was not enabled"
        resumed = asyncio.Event()
        x.add_event_handler("session_resumed", lambda _e: resumed.set())
        # Drop the TCP connection without closing the stream, then connect again.
        x.transport.abort()
        await asyncio.sleep(0.5)
        x.connect("127.0.0.1", server.c2s_port)
        await asyncio.wait_for(resumed.wait(), 20)
        await server.wait_log_async(r"resumed", 5)
        u.send_message(f"echo@{TEST}", "after resume")
        await u.expect_message(f"echo@{TEST}", "echo: after resume")
        assert server.count_log(r"logging in to the legacy network") == 1
    finally:
        await u.disconnect()


async def test_direct_tls(make_server):
    """XEP-0368: TLS first, on its own port, with the same certificate."""
    from harness.client import User
    from harness.util import free_port
    port = free_port()
    server = make_server(server={"direct_tls_listen": f"127.0.0.1:{port}"})
    u = User(f"alice@{TEST}", "secret", port, resource="dtls", ca_file=str(server.ca_path), direct_tls=True)
    await u.connect()
    try:
        u.send_message(f"echo@{TEST}", "over direct tls")
        await u.expect_message(f"echo@{TEST}", "echo: over direct tls")
    finally:
        await u.disconnect()
