"""The libpurple backend (backends/purple): libpurple's own protocols as Pontoon transports,
against real peers on loopback.

- IRC through prpl-irc against ngircd: a user registers a nick, comes online, talks both
  ways with a raw IRC client in private and in a channel (the reflection of their own
  message carrying their client's ids), and sees that client's presence (libpurple asks
  ISON for a buddy at once when it is added, then every 45 s).
- XMPP through prpl-jabber against a second Prosody (the "legacy network", with a MUC
  service): the user logs in as alice@localhost there; bob, on that server, sees alice
  online once they subscribed to each other, and alice sees bob (away too); messages both
  ways; a group chat both ways, and a private message through it.
- Server mode: IRC (the XMPP login's password is the IRC server's), and XMPP with the
  domain preset, where the legacy server checks the password.
- The backend alone, over its pipes: hostile lines, bad logins, requests answered, a
  refused join, and nothing of the account, its password or its messages on disk.

The backend is built by scripts/build-purple when its binary is missing (purple_fixtures).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from pathlib import Path

import jsonschema
import pytest
from harness.client import LoginFailed
from harness.gateway import form_fields, get_registration_form, register_and_login
from harness.muc import expect_groupchat, expect_occupant, joined, say
from purple_fixtures import (  # noqa: F401  (fixtures)
    IRC_SERVER_PASSWORD,
    MUC,
    PIRC,
    PXMPP,
    irc_table,
    legacy,
    locked_irc,
    locked_ngircd,
    legacy_connect,
    PassIrc,
    make_purple_server,
    ngircd,
    prosody,
    purple_bin,
    purple_irc_pontoon,
    purple_xmpp_pontoon,
    raw_irc,
    xmpp_table,
)

NS_CLIENT = "jabber:client"


def show_of(s) -> str | None:
    el = s.xml.find(f"{{{NS_CLIENT}}}show")
    return None if el is None else (el.text or "")


def contact_presence(user, jid: str, ptype: str = "available", timeout: float = 20):
    return user.expect(lambda s: s.kind == "presence" and s.from_bare == jid and s.type == ptype,
                       timeout, what=f"{ptype} presence from {jid}")


async def legacy_join(user, room: str, nick: str) -> None:
    """Joins a room of the legacy MUC as an XMPP client does; again while it is locked (a
    new room is, until its creator's client has answered the configuration question, and
    the backend answers it from its main loop just after showing the join)."""
    for _ in range(20):
        user.send_raw(f"<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
        got = await user.expect(lambda s: s.kind == "presence" and s.frm == f"{room}/{nick}", 10,
                                what=f"{nick}'s presence in {room}")
        if got.type != "error":
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"{nick} could not join {room}: {got}")


def reflected_ids(s) -> tuple[str | None, str | None]:
    origin = s.xml.find("{urn:xmpp:sid:0}origin-id")
    return s.xml.get("id"), (origin.get("id") if origin is not None else None)


async def test_irc_form_login_messages_room_and_presence(purple_irc_pontoon, ngircd, connect, raw_irc):
    user = await connect("user1")
    # The form is the plugin's: nick, password, then prpl-irc's own options (server and
    # port among them, preset by the operator: they win over whatever the user enters).
    fields = form_fields(await get_registration_form(user, PIRC))
    assert {"username", "password", "server", "port", "encoding", "realname"} <= set(fields), sorted(fields)
    await register_and_login(user, "alice", "", PIRC)
    bob = await raw_irc("bob")

    # Direct messages both ways.
    bob.privmsg("alice", "hello <alice> & co")
    await user.expect_message(f"bob@{PIRC}", "hello <alice> & co", timeout=15)
    user.send_message(f"bob@{PIRC}", "hi bob\nsecond line")
    await bob.expect_privmsg("alice", "bob", "hi bob", timeout=15)
    await bob.expect_privmsg("alice", "bob", "second line", timeout=15)

    # A channel both ways; the user's own message comes back with the client's ids.
    await bob.join("#room")
    room = f"#room@{PIRC}"
    await joined(user, room, "alice")
    await expect_occupant(user, room, "bob", timeout=15)
    say(user, room, "hi all", mid="r1", origin_id="o1")
    mine = await expect_groupchat(user, room, "alice", "hi all", timeout=15)
    assert reflected_ids(mine) == ("r1", "o1"), mine
    await bob.expect_privmsg("alice", "#room", "hi all", timeout=15)
    bob.privmsg("#room", "hello room")
    await expect_groupchat(user, room, "bob", "hello room", timeout=15)
    bob.send("PRIVMSG #room :\x01ACTION waves\x01")
    await expect_groupchat(user, room, "bob", "/me waves", timeout=15)

    # A contact's presence: ISON, asked at once when the buddy is added.
    user.send_presence(to=f"bob@{PIRC}", ptype="subscribe")
    got = await contact_presence(user, f"bob@{PIRC}", "available")
    assert show_of(got) is None, got
    await bob.close()
    await expect_occupant(user, room, "bob", ptype="unavailable", timeout=15)
    await contact_presence(user, f"bob@{PIRC}", "unavailable")


async def test_xmpp_through_prpl_jabber(purple_xmpp_pontoon, legacy, connect, legacy_connect):
    user = await connect("user1")
    fields = form_fields(await get_registration_form(user, PXMPP))
    assert {"username", "password", "domain", "resource", "connection_security"} <= set(fields), sorted(fields)
    await register_and_login(user, "alice@localhost", "pw-alice", PXMPP)
    bob = await legacy_connect("bob")
    bob_jid = f"bob\\40localhost@{PXMPP}"

    # alice follows bob: libpurple subscribes; bob accepts and asks back, which the backend
    # accepts for alice. Each then sees the other online.
    user.send_presence(to=bob_jid, ptype="subscribe")
    await bob.expect_presence("alice@localhost", "subscribe", timeout=20)
    bob.send_presence(to="alice@localhost", ptype="subscribed")
    bob.send_presence(to="alice@localhost", ptype="subscribe")
    await contact_presence(user, bob_jid, "available")
    await bob.expect_presence("alice@localhost", "subscribed", timeout=20)
    await bob.expect_presence("alice@localhost", "available", timeout=20)

    # Direct messages both ways.
    user.send_message(bob_jid, "hi bob, it's alice")
    await bob.expect_message("alice@localhost", "hi bob, it's alice", timeout=15)
    bob.send_message("alice@localhost", "hello <alice> & friends")
    await user.expect_message(bob_jid, "hello <alice> & friends", timeout=15)

    # bob goes away: the user sees it.
    bob.send_raw("<presence><show>away</show><status>lunch</status></presence>")
    away = await user.expect(lambda s: s.kind == "presence" and s.from_bare == bob_jid and show_of(s) == "away",
                             20, what="bob away")
    assert away.xml.findtext(f"{{{NS_CLIENT}}}status") == "lunch", away

    # A group chat: alice creates it (libpurple asks whether to configure it: the backend
    # takes the default, an instant room), bob joins, they talk both ways.
    room = f"room\\40{MUC}@{PXMPP}"
    await joined(user, room, "alice", timeout=20)
    await legacy_join(bob, f"room@{MUC}", "bob")
    await expect_occupant(user, room, "bob", timeout=15)
    say(user, room, "hi room", mid="x1", origin_id="ox1")
    mine = await expect_groupchat(user, room, "alice", "hi room", timeout=15)
    assert reflected_ids(mine) == ("x1", "ox1"), mine
    await bob.expect(lambda s: s.kind == "message" and s.frm == f"room@{MUC}/alice" and s.body == "hi room",
                     15, what="alice's groupchat message")
    bob.send_raw(f"<message to='room@{MUC}' type='groupchat'><body>hello alice</body></message>")
    await expect_groupchat(user, room, "bob", "hello alice", timeout=15)
    # A private message from the room's occupant comes from room/nick.
    bob.send_raw(f"<message to='room@{MUC}/alice' type='chat'><body>psst</body></message>")
    pm = await user.expect(lambda s: s.kind == "message" and s.body == "psst", 15, what="the private message")
    assert pm.from_bare == f"room\\40{MUC}\\2fbob@{PXMPP}", pm
    user.send_message(pm.from_bare, "psst back")
    await bob.expect_message(f"room@{MUC}/alice", "psst back", timeout=15)


async def test_irc_in_server_mode(make_purple_server, purple_bin, locked_ngircd, sconnect, locked_irc):
    # The account's password is prpl-irc's server password (PASS): the XMPP login's.
    server = make_purple_server("pirc", PIRC, irc_table(purple_bin, locked_ngircd.port))
    alice = await sconnect(server, f"alice@{PIRC}", IRC_SERVER_PASSWORD)
    bob = await locked_irc("bob")
    alice.send_message(f"bob@{PIRC}", "hi from server mode")
    await bob.expect_privmsg("alice", "bob", "hi from server mode", timeout=15)
    bob.privmsg("alice", "hi back")
    await alice.expect_message(f"bob@{PIRC}", "hi back", timeout=15)
    # A second user on the same backend process, apart.
    carol = await sconnect(server, f"carol@{PIRC}", IRC_SERVER_PASSWORD)
    bob.privmsg("carol", "for carol only")
    await carol.expect_message(f"bob@{PIRC}", "for carol only", timeout=15)
    await alice.expect_none(lambda s: s.kind == "message" and s.body == "for carol only", 1.0)


async def test_xmpp_in_server_mode_checks_the_password(make_purple_server, purple_bin, legacy, sconnect,
                                                       legacy_connect):
    # The domain preset: users log in as alice@purple-xmpp.localhost, which is
    # alice@localhost on the legacy server, where the password is checked.
    table = xmpp_table(purple_bin, legacy)
    table["options"]["domain"] = "localhost"
    server = make_purple_server("pxmpp", PXMPP, table)
    with pytest.raises(LoginFailed) as refused:
        await sconnect(server, f"alice@{PXMPP}", "wrong password")
    assert "not-authorized" in str(refused.value), refused.value
    alice = await sconnect(server, f"alice@{PXMPP}", "pw-alice")
    bob = await legacy_connect("bob")
    bob.send_message("alice@localhost", "welcome to server mode")
    await alice.expect_message(f"bob\\40localhost@{PXMPP}", "welcome to server mode", timeout=15)
    alice.send_message(f"bob\\40localhost@{PXMPP}", "thanks")
    await bob.expect_message("alice@localhost", "thanks", timeout=15)


# --- The backend alone, over its pipes: what Pontoon would write, and worse. -------------

PROTOCOL_SCHEMA = json.loads((Path(__file__).resolve().parents[3] / "docs/backends/protocol.schema.json").read_text())
FROM_BACKEND = jsonschema.Draft202012Validator(
    {"$schema": PROTOCOL_SCHEMA["$schema"], "$defs": PROTOCOL_SCHEMA["$defs"],
     **PROTOCOL_SCHEMA["properties"]["from_backend"]})


class Pipes:
    """The backend as Pontoon runs it: stdin and stdout, PATH its only environment. Every
    line it writes is checked against the protocol's schema."""

    def __init__(self, proc: asyncio.subprocess.Process):
        self.proc = proc
        self.lines: list[dict] = []

    @classmethod
    async def start(cls, *args: str) -> "Pipes":
        proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE, env={"PATH": os.environ["PATH"]},
                                                    limit=1 << 20)
        return cls(proc)

    def write(self, data: bytes | dict) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data if isinstance(data, bytes) else json.dumps(data).encode() + b"\n")

    async def expect(self, pred, timeout: float = 10, what: str = "a line") -> dict:
        for i, m in enumerate(self.lines):
            if pred(m):
                return self.lines.pop(i)
        assert self.proc.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
            assert raw, f"the backend closed its output; waiting for {what}"
            m = json.loads(raw)
            FROM_BACKEND.validate(m)
            if pred(m):
                return m
            self.lines.append(m)

    def event(self, session: int, name: str, timeout: float = 10):
        def match(m: dict) -> bool:
            e = m.get("event", {})
            ev = e.get("event")
            return e.get("session") == session and (ev == name or (isinstance(ev, dict) and name in ev))
        return self.expect(match, timeout, f"{name} of session {session}")

    def done(self, session: int, seq: int):
        return self.expect(lambda m: m.get("done") == {"session": session, "seq": seq}, 10, f"done {session}/{seq}")


async def test_list_names_the_installed_protocols(purple_bin):
    out = subprocess.run([str(purple_bin), "--list"], capture_output=True, text=True, timeout=20, check=True).stdout
    ids = {line.split("\t")[0] for line in out.splitlines()}
    assert {"prpl-irc", "prpl-jabber"} <= ids, out


async def test_hostile_lines_bad_logins_requests_and_no_secret_on_disk(purple_bin, locked_ngircd, tmp_path):
    purple_dir = tmp_path / "purple"
    b = await Pipes.start(str(purple_bin), "--protocol", "prpl-irc", "--user-dir", str(purple_dir))
    hello = (await b.expect(lambda m: "hello" in m))["hello"]
    assert hello["addresses"]["room"] and hello["addresses"]["occupant_contact"] == "{nick}", hello
    b.write({"ping": {"request": 1}})
    await b.expect(lambda m: m == {"pong": {"request": 1}})
    b.write({"welcome": {"protocol": 1, "options": {"server": "127.0.0.1", "port": str(locked_ngircd.port),
                                                    "ratelimit-interval": "0", "no-such-option": "x"}}})
    # Lines no core writes: skipped, one by one, and the backend goes on.
    for junk in [b"not json\n", b"[]\n", b'{"a": 1, "b": 2}\n', b"[" * 100_000 + b"\n",
                 b'{"login": "' + b"x" * 300_000 + b'"}\n', b"\xff\xfe{}\n", b'{"login": {"session": "x"}}\n',
                 b'{"logout": {"session": 12345}}\n', b"\n"]:
        b.write(junk)
    b.write({"command": {"session": 99, "seq": 1, "command": {"send_message": {"to": 5}}}})
    b.write({"command": {"session": 99, "seq": 2, "command": "disconnect"}})
    b.write({"command": {"session": 99, "seq": 3, "command": {"a": {}, "b": {}}}})
    for seq in (1, 2, 3):
        await b.done(99, seq)
    b.write({"ping": {"request": 2}})
    await b.expect(lambda m: m == {"pong": {"request": 2}})

    # A login, one with a setting out of range, one with a password the server refuses.
    b.write({"login": {"session": 1, "account": {"legacy_id": "alice", "secret": IRC_SERVER_PASSWORD, "options": {}},
                       "state": None}})
    await b.event(1, "connected")
    b.write({"login": {"session": 2, "account": {"legacy_id": "bob", "secret": None,
                                                 "options": {"autodetect_utf8": "perhaps"}}, "state": None}})
    failed = await b.event(2, "login_failed")
    assert "autodetect_utf8" in failed["event"]["event"]["login_failed"]["reason"], failed
    b.write({"login": {"session": 3, "account": {"legacy_id": "carol", "secret": "wrong", "options": {}},
                       "state": None}})
    await b.event(3, "unreachable")
    # A join written right after the login, as the core writes a user's rooms: held until
    # the sign-on, then carried out (libpurple takes none before its connection is up).
    b.write({"login": {"session": 4, "account": {"legacy_id": "dave", "secret": IRC_SERVER_PASSWORD, "options": {}},
                       "state": None}})
    b.write({"command": {"session": 4, "seq": 1, "command": {"join_room": {
        "room": {"name": "#early"}, "nick": "dave", "password": None}}}})
    await b.event(4, "connected")
    await b.event(4, "room_joined")
    await b.done(4, 1)
    b.write({"logout": {"session": 4}})

    # Requests the network cannot answer get their empty answers; other verbs are acknowledged.
    b.write({"command": {"session": 1, "seq": 1, "command": {"look_up": {"request": 7, "contact": {"name": "x"}}}}})
    b.write({"command": {"session": 1, "seq": 2, "command": {"list_rooms": {"request": 8, "network": None}}}})
    b.write({"command": {"session": 1, "seq": 3, "command": {"list_bans": {"request": 9, "room": {"name": "#a"}}}}})
    b.write({"command": {"session": 1, "seq": 4, "command": {"get_room_config": {"request": 10, "room": {"name": "#a"}}}}})
    b.write({"command": {"session": 1, "seq": 5, "command": {"react": {"chat": {"room": {"name": "#a"}}, "target": "t",
                                                                     "added": ["x"], "removed": []}}}})
    b.write({"command": {"session": 1, "seq": 6, "command": {"send_room_message": {
        "room": {"name": "#nowhere"}, "body": "hi", "ids": {"id": "m9", "origin_id": None}, "reply_to": None}}}})
    assert (await b.event(1, "looked_up"))["event"]["event"]["looked_up"] == {"request": 7, "details": None}
    await b.event(1, "room_list_failed")
    await b.event(1, "ban_list")
    await b.event(1, "room_config")
    refused = (await b.event(1, "room_send_failed"))["event"]["event"]["room_send_failed"]
    assert refused["ids"] == {"id": "m9", "origin_id": None}, refused
    for seq in range(1, 7):
        await b.done(1, seq)

    # Messages both ways, in private and in a channel, and an error libpurple writes into
    # the conversation (no such nick): none of it may reach the disk.
    bob = PassIrc(locked_ngircd.port, "bob", IRC_SERVER_PASSWORD)
    await bob.connect()
    try:
        bob.privmsg("alice", "secret-in-private")
        await b.expect(lambda m: "secret-in-private" in json.dumps(m))
        b.write({"command": {"session": 1, "seq": 7, "command": {"send_message": {
            "to": {"name": "bob"}, "body": "secret-reply", "id": "d1", "reply_to": None}}}})
        await bob.expect_privmsg("alice", "bob", "secret-reply", timeout=10)
        b.write({"command": {"session": 1, "seq": 8, "command": {"send_message": {
            "to": {"name": "nobody"}, "body": "secret-to-nobody", "id": "d2", "reply_to": None}}}})
        await bob.join("#secret")
        b.write({"command": {"session": 1, "seq": 9, "command": {"join_room": {
            "room": {"name": "#secret"}, "nick": "alice", "password": None}}}})
        await b.event(1, "room_joined")
        bob.privmsg("#secret", "secret-in-channel")
        await b.expect(lambda m: "secret-in-channel" in json.dumps(m))
        # Leaving parts the channel; a channel IRC refuses fails the join, with why.
        b.write({"command": {"session": 1, "seq": 10, "command": {"leave_room": {
            "room": {"name": "#secret"}, "reason": None}}}})
        await bob.expect_cmd("PART", frm="alice", param0="#secret", timeout=10)
        await bob.join("#closed")
        bob.send("MODE #closed +i")
        await bob.expect_cmd("MODE", frm="bob", param0="#closed", timeout=10)
        b.write({"command": {"session": 1, "seq": 11, "command": {"join_room": {
            "room": {"name": "#closed"}, "nick": "alice", "password": None}}}})
        failed = (await b.event(1, "room_join_failed"))["event"]["event"]["room_join_failed"]
        assert failed["room"] == {"name": "#closed"} and failed["error"] == "invite_only", failed
    finally:
        await bob.close()

    # libpurple saves accounts, buddy list and preferences 5 s after a change, and logs
    # conversations by default: nothing of the account reaches the disk, nor any message,
    # and the password nowhere.
    await asyncio.sleep(6)
    files = [p for p in purple_dir.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    assert not names & {"accounts.xml", "blist.xml", "accounts.xml.save", "blist.xml.save"}, names
    for p in files:
        data = p.read_bytes()
        assert IRC_SERVER_PASSWORD.encode() not in data and b"secret-" not in data, p

    b.proc.stdin.close()
    assert await asyncio.wait_for(b.proc.wait(), 10) == 0
