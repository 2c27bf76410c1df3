"""The room archive against ngircd (issue 16): history on joining as the client asks, and
XEP-0313 queries with RSM paging from slixmpp's own MAM client (xep_0313 + xep_0059), both
directions; a message is archived once however many users see it, and a user reads only
what was said while they were in the room."""

from __future__ import annotations

import asyncio
import math
import re
import sqlite3
from collections.abc import Callable
from datetime import datetime, timezone

from slixmpp import JID

from harness.muc import NS_DELAY, NS_MUC
from ircxmpp import (IRC, expect_groupchat, expect_self_presence, expect_subject, in_room_with, joined, leave,
                     register_irc, room, sid_ids)

LINES = [f"line {i}" for i in range(1, 6)]


def mam(user):
    """slixmpp's MAM client on this user's connection (RSM paging by xep_0059)."""
    for plugin in ("xep_0059", "xep_0313"):
        if plugin not in user.xmpp.plugin:
            user.xmpp.register_plugin(plugin)
    return user.xmpp.plugin["xep_0313"]


async def archived(user, rj, reverse=False, page=2) -> list[str]:
    """Every message of the room's archive `user` may read, `page` at a time."""
    bodies = []
    async for m in mam(user).iterate(jid=rj, reverse=reverse, rsm={"max": page}):
        bodies.append(m["mam_result"]["forwarded"]["stanza"]["body"])
    return bodies


async def leave_room(user, rj, nick, raw) -> None:
    """Leaves the room, seen by the client and on IRC."""
    leave(user, rj, nick)
    await expect_self_presence(user, rj, nick, ptype="unavailable")
    await raw.expect_cmd("PART", frm=nick)


async def join_with(user, rj, nick, history: str | Callable[[], str]) -> list:
    """Enters the room with `<history {history}/>` (a callable is asked at the moment of
    sending); the history's messages (up to the subject)."""
    before = len(user.history)
    user.clear_inbox()
    if callable(history):
        history = history()
    user.send_raw(f"<presence to='{rj}/{nick}'><x xmlns='{NS_MUC}'><history {history}/></x></presence>")
    await expect_subject(user, rj)
    return [s for s in user.history[before:] if s.from_bare == rj and s.kind == "message" and s.body]


async def rejoin_with(user, rj, nick, raw, history: str | Callable[[], str]) -> list[str]:
    """Leaves the room and enters it again with `<history {history}/>`; the history's bodies."""
    await leave_room(user, rj, nick, raw)
    return [s.body for s in await join_with(user, rj, nick, history)]


async def test_history_and_mam_paging_with_one_copy_per_message(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join("#room")
    rj = room("#room")
    alice = await connect("user1")
    await register_irc(alice, "alice")
    await joined(alice, rj, "alice")
    carol = await connect("user2")
    await register_irc(carol, "carol")
    await joined(carol, rj, "carol")
    await raw.expect_cmd("JOIN", frm="carol")
    for line in LINES:
        raw.privmsg("#room", line)
    ids = {}
    for user in (alice, carol):
        for line in LINES:
            got = await expect_groupchat(user, rj, "rawbob", line)
            ids.setdefault(line, set()).add(sid_ids(got)[1][0][0])
    # Two IRC connections saw each line; one message each, named alike for both users.
    assert all(len(s) == 1 for s in ids.values()), ids

    # Paging forwards and backwards, two at a time, from an independent MAM client.
    assert await archived(alice, rj) == LINES
    assert await archived(alice, rj, reverse=True) == list(reversed(LINES))

    # Carol leaves; what is said meanwhile is never hers to read; she comes back asking for
    # the last three lines and gets them, delayed by the room, before the subject.
    await leave_room(carol, rj, "carol", raw)
    raw.privmsg("#room", "while carol was away")
    await expect_groupchat(alice, rj, "rawbob", "while carol was away")
    history = await join_with(carol, rj, "carol", "maxstanzas='3'")
    assert [s.body for s in history] == LINES[-3:], history
    for s in history:
        delay = s.xml.find(f"{{{NS_DELAY}}}delay")
        assert delay is not None and delay.get("from") == rj, s
    assert "while carol was away" not in await archived(carol, rj)
    assert await archived(alice, rj) == LINES + ["while carol was away"]

    # Someone who was never in the room reads nothing of it.
    dave = await connect("user3")
    assert await archived(dave, rj) == []




async def test_mam_by_time_and_by_id_and_history_by_time_and_size(irc_pontoon, connect, raw_irc):
    """XEP-0313 `start`/`end` and RSM `after`/`before` ids from slixmpp; the join history's
    `seconds`, `since` and `maxchars` (XEP-0045 7.2.14)."""
    raw = await raw_irc("rawbob")
    await raw.join("#times")
    rj = room("#times")
    alice = await connect("user1")
    await register_irc(alice, "alice")
    await joined(alice, rj, "alice")
    ids: dict[str, str] = {}

    async def say(lines: list[str]) -> None:
        for line in lines:
            raw.privmsg("#times", line)
        for line in lines:
            ids[line] = sid_ids(await expect_groupchat(alice, rj, "rawbob", line))[1][0][0]

    await say(["a1", "a2", "a3"])
    await asyncio.sleep(2.5)
    middle = datetime.now(timezone.utc)
    await asyncio.sleep(2.5)
    await say(["b1", "b2", "b3"])

    # History by time: the seconds since `middle`, counted when the join is sent, hold the b
    # lines only (the a lines are 2.5 s older than `middle`, the b lines 2.5 s younger; a
    # fixed count would depend on how long the leave took on a loaded machine).
    def since_middle() -> str:
        return f"seconds='{math.ceil((datetime.now(timezone.utc) - middle).total_seconds())}'"

    assert await rejoin_with(alice, rj, "alice", raw, since_middle) == ["b1", "b2", "b3"]
    assert await rejoin_with(alice, rj, "alice", raw, f"since='{middle.strftime('%Y-%m-%dT%H:%M:%S.%fZ')}'") \
        == ["b1", "b2", "b3"]
    # By size: no stanza fits in one character; all of them in many.
    assert await rejoin_with(alice, rj, "alice", raw, "maxchars='1'") == []
    assert await rejoin_with(alice, rj, "alice", raw, "maxchars='100000'") == ["a1", "a2", "a3", "b1", "b2", "b3"]

    async def bodies(**query) -> list[str]:
        iq = await mam(alice).retrieve(jid=JID(rj), **query)
        return [m["mam_result"]["forwarded"]["stanza"]["body"] for m in iq["mam"]["results"]]

    assert await bodies(start=middle) == ["b1", "b2", "b3"]
    assert await bodies(end=middle) == ["a1", "a2", "a3"]
    assert await bodies(rsm={"after": ids["a2"], "max": 10}) == ["a3", "b1", "b2", "b3"]
    assert await bodies(rsm={"before": ids["b2"], "max": 2}) == ["a3", "b1"]


async def test_a_character_xml_cannot_carry_is_archived_as_a_replacement(irc_pontoon, connect, raw_irc):
    """U+FFFE is valid UTF-8, so an IRC line can carry it, and XML 1.0 cannot: the user sees
    U+FFFD in its place, and the archive keeps that message and the ones after it (the
    archive's serializer used to panic on it, and the transport archived nothing more)."""
    raw = await raw_irc("rawbob")
    alice, rj = await in_room_with(raw, connect, "#odd")
    raw.privmsg("#odd", "odd \ufffe char")
    raw.privmsg("#odd", "after it")
    await expect_groupchat(alice, rj, "rawbob", "odd \ufffd char")
    await expect_groupchat(alice, rj, "rawbob", "after it")
    assert await archived(alice, rj) == ["odd \ufffd char", "after it"]


async def test_what_was_queued_for_the_archive_at_a_shutdown_is_kept(irc_pontoon, connect, raw_irc):
    """The archive is written in batches off the sessions' path: a SIGTERM while its writer
    is behind (here: the store's write lock held by another process) loses nothing. The
    shutdown waits for the writer before it closes the store (the pool used to close
    first: "could not archive messages ... closed pool")."""
    raw = await raw_irc("rawbob")
    alice, rj = await in_room_with(raw, connect, "#kept")
    lines = [f"burst {i}" for i in range(600)]
    # Another process holds the SQLite write lock: the writer waits (busy timeout 5 s).
    lock = sqlite3.connect(irc_pontoon.data_dir / "pontoon.db", isolation_level=None, timeout=10)
    try:
        lock.execute("BEGIN IMMEDIATE")
        for line in lines:
            raw.privmsg("#kept", line)
        await expect_groupchat(alice, rj, "rawbob", lines[-1])
        stopping = asyncio.create_task(asyncio.to_thread(irc_pontoon.terminate_and_wait, 20))
        # The gateway tells her it is going: it is in its shutdown, the writer still waiting.
        await alice.expect_presence(IRC, "unavailable", timeout=10)
        # The store stays locked a while longer (the fault, not a wait for an outcome): the
        # shutdown reaches the store's close meanwhile, with the archive not yet written.
        # Well within the writer's busy timeout (5 s), so its transaction still succeeds.
        await asyncio.sleep(1.5)
    finally:
        lock.close()
    rc, in_time = await stopping
    assert in_time and rc == 0, irc_pontoon.log_tail()
    log = irc_pontoon.log_text()
    assert "could not archive" not in log and "not written" not in log, irc_pontoon.log_tail()
    offset = irc_pontoon.log_offset()
    irc_pontoon.start(wait_ready=False)
    for domain in irc_pontoon.component_domains():
        await irc_pontoon.wait_log_async(rf"component link up[^\n]*domain={re.escape(domain)}\b", 30, since=offset,
                                         what=f"the link after the restart ({domain})")
    assert await archived(alice, rj, page=250) == lines
