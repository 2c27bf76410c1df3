"""Settings per IRC network, as a user changes them from their client (issue 19, point 1):

- on a transport fixed to one server (ngircd), `settings`, `set`, `unset` and `connection`
  to the transport's JID: each value checked with a readable refusal (a bad nick, pacing
  above the operator's, a command that would break the connection), and the next
  connection takes the nick and sends the commands an IRC user on the other side sees;
- a server password (`PASS`) for a network reached by name, set at the network's JID: a
  private ngircd refuses the connection without it and takes it with it;
- NickServ identification without SASL (InspIRCd + Atheme, `sasl off`): the user is
  logged in to their services account, as WHOIS shows, and NickServ's answer comes from
  its own JID;
- the same settings as an ad-hoc form (XEP-0050) at the network's JID;
- a network's port of the user's choice, among those the operator allows;
- encodings: text that is not UTF-8 read as the user's `encoding`, and their own text sent
  in their `send-encoding`, as an IRC user of an old network sends and reads it;
- settings per channel at the room's JID: its key, and encodings of its own.
"""

from __future__ import annotations

from harness.adhoc import NS_COMMANDS, command_of, command_xml, field_vars
from harness.client import NS_DATA, dump
from harness.muc import expect_groupchat, join, say
from harness.util import free_port
from ircd import SEEDED_ACCOUNT, SEEDED_PASSWORD, Ngircd
from ircxmpp import IRC, contact, joined, register_irc, relogin, room, said, wait_on_irc

NS_ITEMS = "http://jabber.org/protocol/disco#items"


async def test_settings_on_a_fixed_server(irc_pontoon, ngircd, connect, raw_irc):
    bob = await raw_irc("setbob")
    user = await connect("user1")
    await register_irc(user, "alice")
    await wait_on_irc(bob, "alice")

    user.send_message(IRC, "settings")
    listing = await said(user, IRC, "nick = (not set)")
    for name in ("server-password", "nickserv-password", "sasl", "commands", "flood-burst"):
        assert f"\n  {name} = " in listing.body, listing.body

    # Each value is checked, and refused in words; nothing changes.
    for typed, says in [
        ("set nick 1alice", "not a valid IRC nick"),
        ("set flood-burst 99", "from 1 to 10"),
        ("set commands QUIT :bye", "QUIT is not sent"),
        ("set colour blue", "no setting \"colour\""),
        ("set sasl maybe", "on or off"),
    ]:
        user.send_message(IRC, typed)
        await said(user, IRC, says)

    user.send_message(IRC, "set nick alicia")
    await said(user, IRC, "nick is now alicia.")
    await said(user, IRC, "applies from the next connection")
    user.send_message(IRC, "set commands\nPRIVMSG setbob :hello from my commands\nMODE alicia +i")
    await said(user, IRC, "commands is now PRIVMSG setbob :hello from my commands | MODE alicia +i.")
    user.send_message(IRC, "set server-password not-needed-here")
    done = await said(user, IRC, "server-password is now")
    assert "not-needed-here" not in done.body, "a secret is never shown back"
    user.send_message(IRC, "unset server-password")
    await said(user, IRC, "server-password is not set any more.")

    user.send_message(IRC, "connection")
    info = await said(user, IRC, f"Server 127.0.0.1:{ngircd.port} (no encryption).")
    assert "as alice." in info.body and "Capabilities:" in info.body, info.body

    # The next connection: the nick set, and the commands sent once connected.
    await relogin(user, bob, "alice")
    await bob.expect_privmsg("alicia", "setbob", "hello from my commands", timeout=20)
    user.send_message(IRC, "connection")
    info = await said(user, IRC, "as alicia.")
    user.send_message(IRC, "settings")
    listing = await said(user, IRC, "nick = alicia")
    assert "commands = PRIVMSG setbob" in listing.body, listing.body


async def test_a_server_password_at_the_networks_jid(make_irc_pontoon, connect, tmp_path):
    private = Ngircd(tmp_path / "private-ngircd", password="letmein")
    private.start()
    try:
        make_irc_pontoon({"allowed_networks": ["127.0.0.1"], "connect_port": private.port,
                          "connect_timeout": 5})
        user = await connect("user2")
        await register_irc(user, "pwuser")
        network = f"127.0.0.1@{IRC}"
        room = f"#private%127.0.0.1@{IRC}"

        # Without the password the server refuses the connection, and the room says why.
        join(user, room, "pwuser")
        err = await user.expect(lambda s: s.kind == "presence" and s.type == "error" and s.from_bare == room,
                                20, what="the refused join")
        assert err.condition is not None, err

        user.send_message(network, "set server-password letmein")
        await said(user, network, "server-password is now (set, not shown).")
        user.send_message(network, "connection")
        await said(user, network, "Not connected to this network")
        await joined(user, room, "pwuser")
        user.send_message(network, "connection")
        await said(user, network, f"Server 127.0.0.1:{private.port} (no encryption).\nConnected for")
    finally:
        private.cleanup()


async def test_nickserv_identification_without_sasl(make_irc_pontoon, inspircd, connect, raw_irc_any):
    make_irc_pontoon({"connect_host": "127.0.0.1", "connect_port": inspircd.port, "connect_timeout": 5})
    watcher = await raw_irc_any(inspircd.port, "watcher")
    user = await connect("user3")
    # Registered without a password: no SASL login.
    await register_irc(user, SEEDED_ACCOUNT)
    who = await wait_on_irc(watcher, SEEDED_ACCOUNT)
    assert "330" not in who, "logged in to services before any password was given"

    user.send_message(IRC, "set sasl off")
    await said(user, IRC, "sasl is now off.")
    user.send_message(IRC, f"set nickserv-password {SEEDED_PASSWORD}")
    await said(user, IRC, "nickserv-password is now (set, not shown).")

    await relogin(user, watcher, SEEDED_ACCOUNT)
    # NickServ answers the IDENTIFY from its own JID, and WHOIS shows the account.
    await said(user, contact("NickServ"), "identified", timeout=20)
    who = await wait_on_irc(watcher, SEEDED_ACCOUNT)
    assert "330" in who, f"not logged in to services: {sorted(who)}"
    user.send_message(IRC, "connection")
    await said(user, IRC, f"IDENTIFY sent to NickServ for {SEEDED_ACCOUNT}")


async def test_settings_as_an_ad_hoc_form_at_the_networks_jid(make_irc_pontoon, ngircd, connect, raw_irc):
    """Gajim's and Conversations' "Execute command" on the network's JID: the settings form
    with the current values, a submit that changes only what changed, a refused value that
    changes nothing, and the connection info."""
    make_irc_pontoon({"allowed_networks": ["127.0.0.1"], "connect_port": ngircd.port, "connect_timeout": 5})
    bob = await raw_irc("formbob")
    user = await connect("user4")
    await register_irc(user, "formuser")
    network = f"127.0.0.1@{IRC}"
    await joined(user, f"#form%127.0.0.1@{IRC}", "formuser")

    items = await user.iq("get", network, f"<query xmlns='{NS_ITEMS}' node='{NS_COMMANDS}'/>")
    nodes = {i.get("node") for i in items.iter(f"{{{NS_ITEMS}}}item")}
    assert nodes == {"settings", "connection"}, dump(items)

    first = command_of(await user.iq("set", network, command_xml("settings", "execute")))
    assert first.get("status") == "executing", dump(first)
    assert {"nick", "server-password", "nickserv-password", "sasl", "commands", "clear"} <= set(field_vars(first))
    sasl = first.find(f".//{{{NS_DATA}}}field[@var='sasl']/{{{NS_DATA}}}value")
    assert sasl is not None and sasl.text == "1", dump(first)  # the default shown

    # A refused value: an error note, and nothing changed.
    bad = command_of(await user.iq("set", network, command_xml(
        "settings", "complete", first.get("sessionid"), {"nick": "1bad", "commands": ["MODE formuser +i"]})))
    note = bad.find(f"{{{NS_COMMANDS}}}note")
    assert bad.get("status") == "completed" and note.get("type") == "error", dump(bad)
    assert "Nothing was changed" in note.text and "nick" in note.text, note.text

    done = command_of(await user.iq("set", network, command_xml(
        "settings", "complete", first.get("sessionid"),
        {"nick": "formnick", "sasl": "1", "server-password": "", "commands": ["PRIVMSG formbob :from the form"]})))
    note = done.find(f"{{{NS_COMMANDS}}}note")
    assert note.get("type") == "info", dump(done)
    assert "nick is now formnick." in note.text and "commands is now" in note.text, note.text
    assert "sasl" not in note.text, "a switch left at its default is not a change"

    again = command_of(await user.iq("set", network, command_xml("settings", "execute")))
    nick = again.find(f".//{{{NS_DATA}}}field[@var='nick']/{{{NS_DATA}}}value")
    assert nick is not None and nick.text == "formnick", dump(again)

    info = command_of(await user.iq("set", network, command_xml("connection", "execute")))
    assert info.get("status") == "completed", dump(info)
    await said(user, network, "as formuser.")

    # The next connection to that network takes them.
    await relogin(user, bob, "formuser")
    await joined(user, f"#form%127.0.0.1@{IRC}", "formuser")
    await bob.expect_privmsg("formnick", "formbob", "from the form", timeout=20)


async def test_a_port_of_the_users_choice_among_the_operators(make_irc_pontoon, ngircd, connect):
    """Networks reached by name share the operator's port; a user sets another for one
    network, among the ports the operator lets users choose (`user_ports`)."""
    make_irc_pontoon({"allowed_networks": ["127.0.0.1"], "connect_port": free_port(),
                      "user_ports": f"6660-6669,{ngircd.port}", "connect_timeout": 3})
    user = await connect("user5")
    await register_irc(user, "portuser")
    network = f"127.0.0.1@{IRC}"
    room_jid = f"#ports%127.0.0.1@{IRC}"
    join(user, room_jid, "portuser")
    await user.expect(lambda s: s.kind == "presence" and s.type == "error" and s.from_bare == room_jid,
                      20, what="the join refused: nothing listens on the operator's port")

    user.send_message(network, "set port 22")
    refused = await said(user, network, "port 22 is not one users may choose here")
    assert str(ngircd.port) in refused.body, refused.body
    user.send_message(network, f"set port {ngircd.port}")
    await said(user, network, f"port is now {ngircd.port}.")
    await joined(user, room_jid, "portuser")
    user.send_message(network, "connection")
    await said(user, network, f"Server 127.0.0.1:{ngircd.port} (no encryption).")


async def test_encodings_of_an_old_network(irc_pontoon, ngircd, connect, raw_irc):
    bob = await raw_irc("encbob")
    user = await connect("user1")
    await register_irc(user, "encalice")
    await wait_on_irc(bob, "encalice")
    for typed, says in [("set encoding utf-16", "not ASCII-compatible"),
                        ("set send-encoding klingon", "not an encoding name")]:
        user.send_message(IRC, typed)
        await said(user, IRC, says)
    user.send_message(IRC, "set encoding cp1251")
    await said(user, IRC, "encoding is now windows-1251.")
    user.send_message(IRC, "set send-encoding windows-1251")
    await said(user, IRC, "send-encoding is now windows-1251.")
    await relogin(user, bob, "encalice")
    await wait_on_irc(bob, "encalice")

    # Bob's client speaks windows-1251: his words arrive as he meant them...
    bob.send_bytes("PRIVMSG encalice :привет из 1251".encode("cp1251"))
    await user.expect_message(contact("encbob"), "привет из 1251")
    # ...and hers reach him in windows-1251, a character it lacks as "?".
    user.send_message(contact("encbob"), "здравствуй 👍")
    got = await bob.expect_privmsg("encalice", "encbob")
    assert got.raw.endswith(":здравствуй ?\r\n".encode("cp1251")), got.raw
    # UTF-8 from others is still read as UTF-8.
    bob.privmsg("encalice", "ünïcode ✓")
    await user.expect_message(contact("encbob"), "ünïcode ✓")
    user.send_message(IRC, "connection")
    await said(user, IRC, "Encoding: what is not UTF-8 read as windows-1251; your text sent as windows-1251.")


async def test_settings_per_channel(irc_pontoon, ngircd, connect, raw_irc):
    """A channel's own settings at its room's JID: its key, kept by the ad-hoc form before
    the first join and given when joining without a room password; `/settings`, `/set`
    and `/unset` typed in the room; and encodings of the channel's own, which the other
    channels of the network do not share."""
    bob = await raw_irc("chanbob")
    await bob.join("#locked")
    bob.send("MODE #locked +k sekrit")
    await bob.expect_cmd("MODE", frm="chanbob")
    await bob.join("#plain")
    user = await connect("user1")
    await register_irc(user, "chanalice")
    locked = room("#locked")

    # Without the key, the server refuses the join.
    join(user, locked, "chanalice")
    await user.expect(lambda s: s.kind == "presence" and s.type == "error" and s.from_bare == locked, 20,
                      what="the refused join")
    info = await user.iq("get", locked, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert NS_COMMANDS in {f.get("var") for f in info.iter("{http://jabber.org/protocol/disco#info}feature")}, \
        dump(info)
    items = await user.iq("get", locked, f"<query xmlns='{NS_ITEMS}' node='{NS_COMMANDS}'/>")
    assert {i.get("node") for i in items.iter(f"{{{NS_ITEMS}}}item")} == {"settings"}, dump(items)
    form = command_of(await user.iq("set", locked, command_xml("settings", "execute")))
    assert {"key", "encoding", "send-encoding", "clear"} <= set(field_vars(form)), dump(form)
    bad = command_of(await user.iq("set", locked, command_xml("settings", "complete", "settings",
                                                             {"key": "two words"})))
    assert "one word" in "".join(bad.itertext()), dump(bad)
    done = command_of(await user.iq("set", locked, command_xml("settings", "complete", "settings",
                                                              {"key": "sekrit"})))
    assert "key is now (set, not shown)." in "".join(done.itertext()), dump(done)
    await joined(user, locked, "chanalice")
    await bob.expect_cmd("JOIN", frm="chanalice")

    # Typed in the room, answered there; the rest of the room does not see it.
    say(user, locked, "/settings")
    listing = await user.expect(lambda s: s.kind == "message" and s.frm == locked and s.body is not None
                                and "key = (set, not shown)" in s.body, 10, what="the room's settings")
    assert "sekrit" not in listing.body, listing.body
    say(user, locked, "/set encoding koi8-r")
    await user.expect(lambda s: s.kind == "message" and s.frm == locked and s.body is not None
                      and "encoding is now koi8-r." in s.body, 10, what="the change")
    say(user, locked, "/set send-encoding koi8-r")
    await user.expect(lambda s: s.kind == "message" and s.frm == locked and s.body is not None
                      and "send-encoding is now koi8-r." in s.body, 10, what="the change")
    await bob.expect_none(lambda m: m.command == "PRIVMSG" and "encoding" in m.text, 1.0)

    # The next connection: the key again, and #locked's own encodings; #plain keeps the
    # network's.
    await relogin(user, bob, "chanalice")
    await joined(user, locked, "chanalice")
    await joined(user, room("#plain"), "chanalice")
    words = "привет из koi8"
    bob.send_bytes(f"PRIVMSG #locked :{words}".encode("koi8-r"))
    await expect_groupchat(user, locked, "chanbob", words)
    bob.send_bytes(f"PRIVMSG #plain :{words}".encode("koi8-r"))
    other = await user.expect(lambda s: s.kind == "message" and s.from_bare == room("#plain")
                              and s.body is not None and "koi8" in s.body, 10, what="#plain's message")
    assert other.body != words, "#plain read with #locked's encoding"
    say(user, locked, "ответ")
    got = await bob.expect_privmsg("chanalice", "#locked")
    assert got.raw.endswith(":ответ\r\n".encode("koi8-r")), got.raw
    say(user, room("#plain"), "ответ")
    got = await bob.expect_privmsg("chanalice", "#plain")
    assert got.raw.endswith(":ответ\r\n".encode("utf-8")), got.raw

    say(user, locked, "/unset key")
    await user.expect(lambda s: s.kind == "message" and s.frm == locked and s.body is not None
                      and "key is not set any more." in s.body, 10, what="the key cleared")
