"""Logging in to IRC through the transport (ngircd): registration with the XEP-0077 form, going
online and offline, anonymous room joins, nick collisions at login."""

from __future__ import annotations

from harness.gateway import get_registration_form, form_fields
from ircxmpp import (IRC, contact, expect_groupchat, expect_self_presence, join, joined, register_irc,
                     room, statuses, wait_on_irc)


async def test_registration_form_has_nickname_and_optional_password(irc_pontoon, connect):
    user = await connect("user1")
    form = await get_registration_form(user, IRC)
    assert form.get("type") == "result", form
    fields = form_fields(form)
    assert "username" in fields and "password" in fields, list(fields)
    req = fields["username"].find("{jabber:x:data}required")
    assert req is not None, "the nickname must be required"
    assert fields["password"].find("{jabber:x:data}required") is None, "the SASL password must be optional"
    assert "network" not in fields, "a transport fixed to one network asks for no server"


async def test_online_connects_and_offline_quits_with_a_message(irc_pontoon, connect, raw_irc):
    watcher = await raw_irc("watcher")
    # An IRC operator with user mode +c sees every client exit, with its QUIT message.
    watcher.send("OPER oper operpass")
    await watcher.expect(lambda m: m.command == "381", what="381 (you are an operator)")
    watcher.send(f"MODE {watcher.nick} +c")

    user = await connect("user1")
    assert (await watcher.whois("alice")).get("401") is not None, "alice is on IRC before registering"
    await register_irc(user, "alice")
    who = await wait_on_irc(watcher, "alice")
    assert who["311"].trailing, who["311"]  # the real name the gateway sent

    # Going offline (unavailable presence) sends QUIT: ngircd tells its operators the client
    # exited with "Got QUIT command" (a dropped socket would say otherwise). ngircd does not
    # show the QUIT message there; the next test checks the message in a shared channel.
    watcher.clear()
    user.send_presence(ptype="unavailable")
    exit_notice = await watcher.expect(
        lambda m: m.command == "NOTICE" and "Client exiting: alice " in m.trailing,
        timeout=10, what="the client-exit notice for alice")
    assert "[Got QUIT command]" in exit_notice.trailing, exit_notice
    assert "401" in await watcher.whois("alice"), "alice is still on IRC after the user went offline"


async def test_offline_in_a_shared_channel_quits_with_a_message(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join("#lobby")
    user = await connect("user1")
    await register_irc(user, "alice")
    await joined(user, room("#lobby"), "alice")
    await raw.expect_cmd("JOIN", frm="alice")
    user.send_presence(ptype="unavailable")
    # The user is offline everywhere: IRC should see alice QUIT with a message, as an IRC
    # client going away does (not a bare PART, which reads as leaving the channel only).
    gone = await raw.expect(lambda m: m.command in ("PART", "QUIT") and m.nick == "alice", timeout=10,
                            what="alice leaving (PART or QUIT)")
    names = await raw.names("#lobby")
    assert "alice" not in names, names
    assert gone.command == "QUIT" and gone.trailing.strip(), (
        f"going offline: the channel saw {gone.text!r}, not a QUIT with a message")
    # The gateway's own QUIT, not the server's words for a dropped socket.
    assert gone.trailing not in ("Client closed connection", "Ping timeout"), (
        f"the gateway dropped the connection without QUIT: {gone.text!r}")


async def test_join_without_registering_uses_the_muc_nick(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join("#anon")
    user = await connect("user2")
    me = await joined(user, room("#anon"), "guest42")
    assert me.frm == f"{room('#anon')}/guest42", me
    j = await raw.expect_cmd("JOIN", frm="guest42")
    assert j.param(0).lower() == "#anon"
    raw.privmsg("#anon", "hello guest")
    await expect_groupchat(user, room("#anon"), "rawbob", "hello guest")


async def test_nick_collision_at_login_gives_a_suffixed_nick_and_says_so(irc_pontoon, connect, raw_irc):
    holder = await raw_irc("alice")
    await holder.join("#coll")
    user = await connect("user1")
    await register_irc(user, "alice")
    note = await user.expect(lambda s: s.kind == "message" and s.frm == IRC and s.body is not None
                             and "alice" in s.body and "taken" in s.body, timeout=10,
                             what="a message saying the nick is taken")
    who = await holder.whois("alice_")
    assert "311" in who, f"the suffixed nick alice_ is not on IRC: {note.body!r} {who}"
    assert "alice_" in note.body, note
    # In a room, the self-presence carries the nick actually used, with 210.
    join(user, room("#coll"), "alice")
    me = await expect_self_presence(user, room("#coll"))
    assert me.frm == f"{room('#coll')}/alice_", me
    assert {"110", "210"} <= statuses(me), me
    await holder.expect_cmd("JOIN", frm="alice_")


async def test_private_messages_both_ways(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    user = await connect("user1")
    await register_irc(user, "alice")
    user.send_message(contact("rawbob"), "hi bob")
    m = await raw.expect_privmsg("alice", "rawbob", "hi bob")
    assert m is not None
    raw.privmsg("alice", "hi alice")
    got = await user.expect_message(contact("rawbob"), "hi alice")
    assert got.type == "chat", got


async def test_multi_network_address_with_server_part(make_irc_pontoon, ngircd, connect, raw_irc):
    """Not fixed: #chan%127.0.0.1@irc.localhost. A port cannot be written in %server (a host
    name only), so the non-default port comes from the option connect_port, which applies to
    every allowed network."""
    make_irc_pontoon({"allowed_networks": ["127.0.0.1"], "connect_port": ngircd.port, "connect_timeout": 5})
    raw = await raw_irc("rawbob")
    await raw.join("#multi")
    user = await connect("user3")
    rj = f"#multi%127.0.0.1@{IRC}"
    await joined(user, rj, "carol")
    await raw.expect_cmd("JOIN", frm="carol")
    raw.privmsg("#multi", "hello carol")
    await expect_groupchat(user, rj, "rawbob", "hello carol")
    user.send_message(f"rawbob%127.0.0.1@{IRC}", "private hi")
    await raw.expect_privmsg("carol", "rawbob", "private hi")
    # Another server than the allowed one is refused with an error, not a connection.
    join(user, f"#x%irc.example.org@{IRC}", "carol")
    err = await user.expect(lambda s: s.kind == "presence" and s.type == "error"
                            and s.from_bare == f"#x%irc.example.org@{IRC}", 10, what="error presence")
    assert err.condition is not None, err




async def test_password_on_a_server_without_sasl_still_logs_in_and_says_so(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("watcher")
    user = await connect("user1")
    await register_irc(user, "alice", "some-password")
    await wait_on_irc(raw, "alice")
    note = await user.expect(lambda s: s.kind == "message" and s.frm == IRC and s.body is not None
                             and "SASL" in s.body, 10, what="a message saying the password was not used")
    assert "password" in note.body.lower(), note.body
