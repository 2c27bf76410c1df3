"""Faults: the IRC server dies and comes back on the same port (ngircd, kill -9)."""

from __future__ import annotations

import asyncio

import pytest

from harness.client import Stanza
from ircxmpp import IRC, chat, contact, expect_groupchat, in_room_with, joined, say, wait_on_irc

ROOM = "#room"


def room_notice(rj: str, *words: str):
    def match(s: Stanza) -> bool:
        return (s.kind == "message" and s.frm == rj and s.type == "groupchat" and s.body is not None
                and all(w.lower() in s.body.lower() for w in words))
    return match


async def test_server_restart_reconnects_rejoins_and_delivers(irc_pontoon, ngircd, connect, raw_irc):
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)

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




# Pacing at 10 lines/s: messages queue in Pontoon while the user writes at 20/s.
@pytest.mark.irc_options(flood_burst=10, flood_per_second=10)
@pytest.mark.timeout(120)
async def test_server_killed_under_traffic_every_message_is_accounted_for(irc_pontoon, ngircd, connect, raw_irc):
    """Traffic both ways at 20 messages/s while ngircd is killed and restarted: every room
    message the user sent is delivered on IRC or bounced to them with an error (by id), and
    what the user received from IRC has no gap (every line Pontoon read is passed on, in
    order). The only messages allowed to be neither are those written to the IRC socket in
    the moment before the kill: IRC has no acknowledgement (ngircd offers no echo-message), so
    nobody can know whether the server read them; the test prints how many there were."""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)
    loop = asyncio.get_running_loop()

    n_out = 100  # 5 s at 20/s: before, during and after the outage
    sent_at: dict[int, float] = {}
    killed_at: list[float] = []

    async def xmpp_side():
        for i in range(n_out):
            say(user, rj, f"x{i:03d}", mid=f"x{i:03d}")
            sent_at[i] = loop.time()
            await asyncio.sleep(0.05)

    irc_sent: list[int] = []

    async def irc_side():
        for i in range(40):  # until the kill cuts it off (2 s at 20/s)
            if raw.closed.is_set():
                return
            raw.privmsg(ROOM, f"r{i:03d}")
            irc_sent.append(i)
            await asyncio.sleep(0.05)

    offset = irc_pontoon.log_offset()
    sender = asyncio.create_task(xmpp_side())
    await irc_side()
    killed_at.append(loop.time())
    await asyncio.to_thread(ngircd.kill)
    await user.expect(room_notice(rj, "lost"), 15, what="a room message saying the connection was lost")
    await irc_pontoon.wait_log_async(r"IRC connection lost.*failures=2", 20, since=offset,
                                     what="a failed reconnection attempt")
    await asyncio.to_thread(ngircd.start)
    raw2 = await raw_irc("rawcarl")
    await raw2.join(ROOM)
    await raw2.expect_cmd("JOIN", frm="alice", timeout=30)
    await user.expect(room_notice(rj, "reconnected"), 15, what="a room message saying it reconnected")
    # After the reconnection: IRC to XMPP again.
    for i in range(20):
        raw2.privmsg(ROOM, f"s{i:03d}")
        await asyncio.sleep(0.05)
    await sender

    def delivered() -> set[int]:
        got = set()
        for m in raw.history + raw2.history:
            if m.command == "PRIVMSG" and m.nick == "alice" and m.trailing.startswith("x"):
                got.add(int(m.trailing[1:4]))
        return got

    def bounced() -> set[int]:
        return {int(s.xml.get("id")[1:]) for s in user.history
                if s.kind == "message" and s.type == "error" and (s.xml.get("id") or "").startswith("x")}

    def received(prefix: str) -> list[int]:
        return [int(s.body[1:4]) for s in user.history
                if s.kind == "message" and s.type == "groupchat" and s.frm.startswith(rj + "/raw")
                and s.body and s.body.startswith(prefix) and len(s.body) == 4]

    # Wait (bounded) until every message is delivered or bounced, or nothing changes for 10 s.
    deadline = loop.time() + 60
    last, still = None, loop.time()
    while loop.time() < deadline:
        state = (len(delivered()), len(bounced()), len(received("s")))
        if state[0] + state[1] >= n_out and state[2] == 20:
            break
        if state != last:
            last, still = state, loop.time()
        elif loop.time() - still > 10:
            break
        await asyncio.sleep(0.2)

    d, b = delivered(), bounced()
    missing = sorted(set(range(n_out)) - d - b)
    in_flight = {i for i, t in sent_at.items() if killed_at[0] - 0.25 <= t <= killed_at[0] + 0.1}
    print(f"\nXMPP to IRC: {len(d)} delivered, {len(b)} bounced, {len(d & b)} both, "
          f"{len(missing)} neither {missing} (in flight at the kill: {sorted(in_flight)})")
    assert set(missing) <= in_flight, (
        f"messages neither delivered nor bounced outside the kill's moment: {sorted(set(missing) - in_flight)}")
    # IRC to XMPP: what arrived before the kill has no gap; everything after it arrived.
    before = received("r")
    assert before == list(range(len(before))), f"gap or disorder in what IRC said before the kill: {before}"
    print(f"IRC to XMPP: {len(before)} of {len(irc_sent)} lines said before the kill reached the user")
    assert received("s") == list(range(20)), f"lines said after the reconnection: {received('s')}"


@pytest.mark.timeout(120)
async def test_prosody_restarted_under_traffic(prosody, irc_pontoon, ngircd, connect, raw_irc):
    """Prosody restarted (SIGTERM, started again) while an IRC user writes to the room and
    privately to the XMPP user at 10 lines/s. Prosody keeps offline messages here, as it does
    by default. Prosody's shutdown logs the user out (their client is disconnected), so
    Pontoon logs them out of IRC too, and logs them back in when they are back: a session
    lives as long as the user's presence (until the always-online sessions of the
    persistent-sessions issue). Every private line is accounted for: it reached the user
    (live, or as an offline message once they are back), or the IRC sender got 401 (no such
    nick) while the user was away. Room lines said while the user was away wait for the room
    history of that issue; the rest reach the user without a gap."""
    prosody.modules_disabled.remove("offline")
    await irc_pontoon.link_back_after_restart(prosody, "the link after enabling offline")
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)
    loop = asyncio.get_running_loop()
    n = 80

    async def irc_side():
        for i in range(n):
            raw.privmsg("alice", f"p{i:03d}")
            raw.privmsg(ROOM, f"r{i:03d}")
            await asyncio.sleep(0.1)

    sender = asyncio.create_task(irc_side())
    await asyncio.sleep(1.5)
    await irc_pontoon.link_back_after_restart(prosody)
    user2 = await connect("user1")
    await user2.expect_presence(IRC, "available", timeout=15)
    await joined(user2, rj, "alice")
    await sender

    def privates() -> list[int]:
        return [int(s.body[1:]) for u in (user, user2) for s in u.history
                if s.kind == "message" and s.from_bare == contact("rawbob") and s.body and s.body.startswith("p")]

    def rooms(u) -> list[int]:
        return [int(s.body[1:]) for s in u.history
                if s.kind == "message" and s.type == "groupchat" and s.frm == f"{rj}/rawbob"
                and s.body and s.body.startswith("r")]

    deadline = loop.time() + 30
    def refused() -> int:
        return sum(1 for m in raw.history if m.command == "401" and m.param(1).lower() == "alice")

    while loop.time() < deadline and (len(set(privates())) + refused() < n or (rooms(user2) or [0])[-1] != n - 1):
        await asyncio.sleep(0.2)
    got = privates()
    missing = sorted(set(range(n)) - set(got))
    print(f"\nprivate lines: {len(set(got))} of {n} reached the user ({len(got) - len(set(got))} twice), "
          f"{refused()} answered 401 on IRC; room lines before the restart: {len(rooms(user))}, "
          f"after rejoining: {len(rooms(user2))}")
    assert len(got) == len(set(got)), f"private lines delivered twice: {got}"
    assert len(missing) == refused(), (
        f"private lines neither delivered nor refused on IRC: {len(missing)} missing {missing}, "
        f"{refused()} times 401")
    assert missing == list(range(missing[0], missing[0] + len(missing))) if missing else True, (
        f"the lines refused on IRC are not the ones said while the user was away: {missing}")
    before = rooms(user)
    assert before == list(range(len(before))), f"room lines before the restart: {before}"
    after = rooms(user2)
    assert after and after == list(range(after[0], n)), f"room lines after rejoining: {after}"


@pytest.mark.irc_options(flood_burst=10, flood_per_second=10)
@pytest.mark.timeout(120)
async def test_pontoon_killed_under_traffic(irc_pontoon, ngircd, connect, raw_irc):
    """kill -9 of Pontoon while the user writes to the room (5/s) and an IRC user writes to
    the room and privately to them (10/s), then Pontoon started again. What the user sends
    while the IRC connection is down waits in the persisted outbox (tested below, in
    test_what_waits_for_the_irc_server_survives_kill_9); here the connection is up:
    - what the user sends while Pontoon is down is bounced by Prosody (component
      unavailable), by id; what they sent before is delivered on IRC;
    - their IRC connection ends with the process, so the IRC sender's private lines get 401;
    - on start Pontoon logs the user back in by itself; the client's room presence is gone,
      a message to the room is refused (not-acceptable, XEP-0410's answer) and a rejoin works;
    - the only lines neither delivered nor refused are those in Pontoon's hands at the kill
      (read from the component link, not yet passed on): the test prints them and allows
      only those of the kill's moment. XEP-0114 has no acknowledgement, so what the link
      read is the server's to forget. (Lines waiting for IRC's flood pacing are kept in the
      store: test_a_burst_waiting_for_flood_pacing_survives_kill_9.)"""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)
    loop = asyncio.get_running_loop()
    x_sent: dict[int, float] = {}
    p_sent: dict[int, float] = {}
    stop = asyncio.Event()

    async def xmpp_side():
        i = 0
        while not stop.is_set() and i < 100:
            say(user, rj, f"x{i:03d}", mid=f"x{i:03d}")
            x_sent[i] = loop.time()
            i += 1
            await asyncio.sleep(0.2)

    async def irc_side():
        for i in range(100):
            if raw.closed.is_set() or stop.is_set():
                return
            raw.privmsg("alice", f"p{i:03d}")
            p_sent[i] = loop.time()
            await asyncio.sleep(0.1)

    senders = [asyncio.create_task(xmpp_side()), asyncio.create_task(irc_side())]
    await asyncio.sleep(2)
    killed_at = loop.time()
    assert irc_pontoon.kill() == -9
    user.clear_inbox()
    await asyncio.sleep(1.5)
    await asyncio.to_thread(irc_pontoon.start)
    await user.expect(lambda s: s.kind == "presence" and s.frm == IRC and s.type == "available"
                      and s.xml.get("type") is None, 20, what="the transport's presence after the restart")
    await wait_on_irc(raw, "alice")
    stop.set()
    await asyncio.gather(*senders)

    def delivered() -> set[int]:
        return {int(m.trailing[1:4]) for m in raw.history
                if m.command == "PRIVMSG" and m.nick == "alice" and m.trailing.startswith("x")}

    def bounced() -> dict[int, str]:
        return {int(s.xml.get("id")[1:]): s.condition or "" for s in user.history
                if s.kind == "message" and s.type == "error" and (s.xml.get("id") or "").startswith("x")}

    def privates() -> set[int]:
        return {int(s.body[1:]) for s in user.history
                if s.kind == "message" and s.from_bare == contact("rawbob") and s.body and s.body.startswith("p")}

    def refused() -> int:
        return sum(1 for m in raw.history if m.command == "401" and m.param(1).lower() == "alice")

    deadline = loop.time() + 20
    while loop.time() < deadline:
        if len(delivered() | set(bounced())) >= len(x_sent) and len(privates()) + refused() >= len(p_sent):
            break
        await asyncio.sleep(0.2)
    d, b = delivered(), bounced()
    x_missing = sorted(set(x_sent) - d - set(b))
    p_missing = sorted(set(p_sent) - privates())
    in_flight = 0.5
    print(f"\nuser to IRC: {len(x_sent)} sent, {len(d)} delivered, {len(b)} bounced "
          f"({sorted(set(b.values()))}), lost at the kill: {x_missing}")
    print(f"IRC to user: {len(p_sent)} sent, {len(privates())} delivered, {refused()} answered 401, "
          f"lost at the kill: {len(p_missing) - refused()}")
    assert all(killed_at - in_flight <= x_sent[i] <= killed_at for i in x_missing), (
        f"lines the user sent were lost outside the kill's moment: "
        f"{[(i, round(x_sent[i] - killed_at, 2)) for i in x_missing]}")
    assert refused() <= len(p_missing) <= refused() + in_flight * 10 + 1, (
        f"private lines neither delivered nor refused: {len(p_missing) - refused()}")
    assert {c for i, c in b.items() if x_sent[i] > killed_at} <= {"remote-server-timeout", "service-unavailable",
                                                                   "not-acceptable"}, b

    # The room: the client still believes it is in; Pontoon says it is not, and a rejoin works.
    say(user, rj, "am I in?", mid="selfcheck")
    err = await user.expect(lambda s: s.kind == "message" and s.xml.get("id") == "selfcheck" and s.type == "error",
                            10, what="the refusal of a message to a room the session is no longer in")
    assert err.condition == "not-acceptable", err
    await joined(user, rj, "alice")
    say(user, rj, "back")
    await raw.expect_privmsg("alice", ROOM, "back")


@pytest.mark.timeout(120)
async def test_what_waits_for_the_irc_server_survives_kill_9(irc_pontoon, ngircd, connect, raw_irc):
    """The persisted outbox: while ngircd is down, what the user sends waits in Pontoon's
    store; Pontoon is killed (-9) meanwhile and started again after ngircd is back. The
    private message reaches the IRC user once the user's session has logged in again; the
    room message is bounced (not-acceptable: the restart ended the client's place in the
    room, and a message is never sent to a room on behalf of a client that is not in it).
    Nothing is lost, nothing is silent."""
    raw = await raw_irc("rawbob")
    user, rj = await in_room_with(raw, connect, ROOM)
    offset = irc_pontoon.log_offset()
    await asyncio.to_thread(ngircd.kill)
    await user.expect(room_notice(rj, "lost"), 15, what="a room message saying the connection was lost")
    await irc_pontoon.wait_log_async(r"IRC connection lost.*failures=2", 20, since=offset,
                                     what="a failed reconnection attempt")
    chat(user, contact("rawbob"), "kept through the crash", mid="held-pm")
    say(user, rj, "kept for the room", mid="held-room")
    for chat_id in ("rawbob", "#room"):
        await irc_pontoon.wait_log_async(rf"message kept until the connection is back chat={chat_id}", 10,
                                         since=offset, what=f"the message to {chat_id} kept in the store")
    assert irc_pontoon.kill() == -9
    user.clear_inbox()
    await asyncio.to_thread(ngircd.start)
    raw2 = await raw_irc("rawbob")
    offset = irc_pontoon.log_offset()
    await asyncio.to_thread(irc_pontoon.start)
    # The user's client is still online: Pontoon's probe brings the session back.
    await irc_pontoon.wait_log_async(r"sending what waited for the connection.*messages=2", 30, since=offset,
                                     what="the kept messages sent at the login")
    await raw2.expect_privmsg("alice", "rawbob", "kept through the crash", timeout=15)
    err = await user.expect(lambda s: s.kind == "message" and s.xml.get("id") == "held-room" and s.type == "error",
                            15, what="the room message bounced")
    assert err.condition == "not-acceptable", err
    # Nothing was sent twice.
    await asyncio.sleep(0.5)
    assert sum(1 for m in raw2.history if m.command == "PRIVMSG" and m.trailing == "kept through the crash") == 1


@pytest.mark.irc_options(flood_burst=2, flood_per_second=1)
@pytest.mark.timeout(120)
async def test_a_burst_waiting_for_flood_pacing_survives_kill_9(irc_pontoon, ngircd, connect, raw_irc):
    """IRC writes a burst at its server's pace (here 2 lines at once, then 1 a second): the
    messages that wait in that queue are kept in Pontoon's store until written. Pontoon is
    killed (-9) with most of a burst of 8 still queued; once it runs again, every message
    reaches the IRC user (at least once: one written just before the kill may come twice),
    and none is bounced."""
    raw = await raw_irc("rawbob")
    user, _ = await in_room_with(raw, connect, ROOM)
    offset = irc_pontoon.log_offset()
    bodies = [f"burst line {i}" for i in range(8)]
    for i, body in enumerate(bodies):
        chat(user, contact("rawbob"), body, mid=f"burst-{i}")
    # Past half the burst (one line here), each is kept until IRC takes it.
    kept_rx = r"message kept until the network takes it"
    deadline = asyncio.get_running_loop().time() + 10
    while irc_pontoon.count_log(kept_rx, since=offset) < 7:
        assert asyncio.get_running_loop().time() < deadline, irc_pontoon.log_text(offset)[-3000:]
        await asyncio.sleep(0.1)
    await raw.expect_privmsg("alice", "rawbob", bodies[1], timeout=10)
    written_before = [m.trailing for m in raw.history if m.command == "PRIVMSG" and m.nick == "alice"]
    assert irc_pontoon.kill() == -9
    assert len(written_before) < len(bodies), f"all written before the kill: {written_before}"
    user.clear_inbox()
    offset = irc_pontoon.log_offset()
    await asyncio.to_thread(irc_pontoon.start)
    await irc_pontoon.wait_log_async(r"sending what waited for the connection", 30, since=offset,
                                     what="the kept messages sent again at the login")
    await raw.expect_privmsg("alice", "rawbob", bodies[-1], timeout=30)
    got = [m.trailing for m in raw.history if m.command == "PRIVMSG" and m.nick == "alice"]
    print(f"\nwritten before the kill: {len(written_before)}; lines after: {len(got) - len(written_before)}")
    assert set(bodies) <= set(got), f"lost: {sorted(set(bodies) - set(got))}"
    assert not [s for s in user.history if s.kind == "message" and s.type == "error"], user.history
