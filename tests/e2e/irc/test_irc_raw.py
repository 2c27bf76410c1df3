"""Raw IRC commands and services, as an IRC user does them every day from an XMPP client:

- a message to a network's JID (`127.0.0.1@irc.localhost` when the transport reaches several
  networks) goes to its server as a raw command, and the server's answer comes back from
  that JID (`help` there says what the JID takes); commands that would break the gateway's connection (QUIT, NICK...), line breaks
  and lines over IRC's 512 bytes are refused with the exact error, and nothing is sent;
- with the transport fixed to one server, `raw <command>` to the transport does the same;
- NickServ's notices come from NickServ's own JID, where the user answers it (InspIRCd +
  Atheme).
"""

from __future__ import annotations

from xml.sax.saxutils import escape

from harness.muc import join
from ircd import SEEDED_ACCOUNT, SEEDED_PASSWORD
from ircxmpp import IRC, contact, expect_groupchat, joined, register_irc, wait_on_irc

NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


def send(user, to: str, body: str, mid: str) -> None:
    user.send_raw(f"<message to='{to}' type='chat' id='{mid}'><body>{escape(body)}</body></message>")


async def refused(user, frm: str, mid: str):
    """The error answering the user's message `mid`: (type, condition, text)."""
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.xml.get("id") == mid,
                            10, what=f"the error for {mid}")
    e = err.xml.find("{jabber:client}error")
    assert err.frm == frm, err
    return e.get("type"), err.condition, e.findtext(f"{{{NS_STANZAS}}}text")


async def test_raw_commands_to_a_network(make_irc_pontoon, ngircd, connect, raw_irc):
    make_irc_pontoon({"allowed_networks": ["127.0.0.1"], "connect_port": ngircd.port, "connect_timeout": 5})
    bob = await raw_irc("rawbob")
    await bob.join("#raw")
    user = await connect("user3")
    rj = f"#raw%127.0.0.1@{IRC}"
    await joined(user, rj, "carol")
    await bob.expect_cmd("JOIN", frm="carol")
    network = f"127.0.0.1@{IRC}"

    # `help` there says what can be done there, from there.
    send(user, network, "help", "h1")
    helped = await user.expect(lambda s: s.kind == "message" and s.frm == network and s.body is not None
                               and "#channel%127.0.0.1" in s.body, 10, what="the network's help")
    assert "WHOIS" in helped.body and "QUIT" in helped.body, helped.body

    # WHOIS: the server's answer, readable, from the network's JID.
    send(user, network, "WHOIS rawbob", "w1")
    got = await user.expect(lambda s: s.kind == "message" and s.frm == network and s.body is not None
                            and "rawbob" in s.body, 15, what="the WHOIS answer from the network's JID")
    assert got.type == "chat", got

    # Refused, with the exact condition, and nothing sent.
    for mid, line, want, says in [
        ("q1", "QUIT :bye", ("cancel", "not-allowed"), "QUIT"),
        ("n1", "NICK other", ("cancel", "not-allowed"), "NICK"),
        ("b1", "WHOIS rawbob\nQUIT", ("modify", "bad-request"), "one line"),
        ("l1", "PRIVMSG rawbob :" + "x" * 520, ("modify", "bad-request"), "510"),
    ]:
        send(user, network, line, mid)
        kind, cond, text = await refused(user, network, mid)
        assert (kind, cond) == want and says in text, (line[:40], kind, cond, text)

    # The connection is untouched: carol is still in the room, and a raw PRIVMSG goes.
    send(user, network, "PRIVMSG rawbob :typed by hand", "p1")
    await bob.expect_privmsg("carol", "rawbob", "typed by hand")
    bob.privmsg("#raw", "still here?")
    await expect_groupchat(user, rj, "rawbob", "still here?")
    assert not [m for m in bob.history if m.command in ("QUIT", "NICK") and m.nick == "carol"]


async def test_raw_command_on_a_fixed_server_and_nickserv_from_its_own_jid(make_irc_pontoon, inspircd, connect,
                                                                          raw_irc_any):
    make_irc_pontoon({"connect_host": "127.0.0.1", "connect_port": inspircd.port, "connect_timeout": 5})
    watcher = await raw_irc_any(inspircd.port, "watcher")
    user = await connect("user1")
    await register_irc(user, SEEDED_ACCOUNT, SEEDED_PASSWORD)
    await wait_on_irc(watcher, SEEDED_ACCOUNT)

    # One server, no network JID: `raw` to the transport.
    user.send_message(IRC, "raw WHOIS watcher")
    await user.expect(lambda s: s.kind == "message" and s.frm == IRC and s.body is not None
                      and "watcher" in s.body and "raw" not in s.body.lower(), 15,
                      what="the WHOIS answer from the transport")
    user.send_message(IRC, "raw QUIT")
    note = await user.expect(lambda s: s.kind == "message" and s.frm == IRC and s.body is not None
                             and "QUIT is not sent" in s.body, 10, what="the refusal of QUIT")
    assert note.type == "chat", note

    # NickServ answers from its own JID, where the user wrote to it.
    nickserv = contact("NickServ")
    user.send_message(nickserv, "HELP")
    got = await user.expect(lambda s: s.kind == "message" and s.from_bare == nickserv and s.body, 15,
                            what="NickServ's answer from its own JID")
    assert got.type == "chat", got
