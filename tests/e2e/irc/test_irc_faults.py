"""Faults: the IRC server dies and comes back on the same port (ngircd, kill -9)."""

from __future__ import annotations

import asyncio

from harness.client import Stanza
from ircxmpp import expect_groupchat, register_irc, room, say, joined

ROOM = "#room"


def room_notice(rj: str, *words: str):
    def match(s: Stanza) -> bool:
        return (s.kind == "message" and s.frm == rj and s.type == "groupchat" and s.body is not None
                and all(w.lower() in s.body.lower() for w in words))
    return match


async def test_server_restart_reconnects_rejoins_and_delivers(irc_pontoon, ngircd, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join(ROOM)
    user = await connect("user1")
    await register_irc(user, "alice")
    rj = room(ROOM)
    await joined(user, rj, "alice")
    await raw.expect_cmd("JOIN", frm="alice")

    offset = irc_pontoon.log_offset()
    await asyncio.to_thread(ngircd.kill)
    await user.expect(room_notice(rj, "lost"), 15, what="a room message saying the connection was lost")

    # Said while the server is down.
    say(user, rj, "sent while down", mid="down-1")
    # Wait until the gateway has just failed a reconnection attempt, so its next one comes
    # after a backoff of at least 1.5 s: the raw client can rejoin first and see everything.
    await irc_pontoon.wait_log_async(r"IRC connection lost.*failures=2", 20, since=offset,
                                     what="a failed reconnection attempt")
    await asyncio.to_thread(ngircd.start)
    raw2 = await raw_irc("rawbob")
    await raw2.join(ROOM)

    await raw2.expect_cmd("JOIN", frm="alice", timeout=30)
    # Delivered after the reconnection, or bounced to the sender: never silently lost.
    delivered = raw2.expect_privmsg("alice", ROOM, "sent while down", timeout=15)
    bounced = user.expect(lambda s: s.kind == "message" and (s.type == "error" or (
        s.body is not None and "sent while down" in s.body and s.frm == rj)), 15,
        what="a bounce of the message sent while down")
    done, pending = await asyncio.wait([asyncio.ensure_future(delivered), asyncio.ensure_future(bounced)],
                                       return_when=asyncio.FIRST_COMPLETED, timeout=20)
    for t in pending:
        t.cancel()
    assert done, "the message sent while the server was down was neither delivered nor bounced"
    for t in done:
        t.result()  # raises if that wait failed

    await user.expect(room_notice(rj, "reconnected"), 15, what="a room message saying it reconnected")
    raw2.privmsg(ROOM, "welcome back")
    await expect_groupchat(user, rj, "rawbob", "welcome back")
    say(user, rj, "thanks")
    await raw2.expect_privmsg("alice", ROOM, "thanks")


