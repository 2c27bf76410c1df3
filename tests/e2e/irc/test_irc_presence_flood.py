"""Presence as IRC AWAY, and pasted floods, through the transport against ngircd."""

from __future__ import annotations

import pytest

from ircxmpp import expect_groupchat, joined, register_irc, room, say, wait_on_irc
from test_irc_messages import ROOM, collect_privmsgs, setup_pair


def set_show(user, show: str | None, status: str | None = None) -> None:
    parts = []
    if show:
        parts.append(f"<show>{show}</show>")
    if status:
        parts.append(f"<status>{status}</status>")
    user.send_raw(f"<presence>{''.join(parts)}</presence>")


async def away_of(raw, nick: str) -> str | None:
    who = await raw.whois(nick)
    assert "311" in who, f"{nick} is not on IRC: {who}"
    return who["301"].trailing if "301" in who else None


async def wait_away(raw, nick: str, want_away: bool, timeout_steps: int = 50) -> str | None:
    import asyncio
    for _ in range(timeout_steps):
        a = await away_of(raw, nick)
        if (a is not None) == want_away:
            return a
        await asyncio.sleep(0.1)
    raise AssertionError(f"{nick} is {'not ' if want_away else ''}away on IRC after {timeout_steps / 10} s")


async def test_away_only_when_every_resource_is_away(irc_pontoon, connect, raw_irc):
    raw = await raw_irc("rawbob")
    await raw.join(ROOM)
    laptop = await connect("user1", resource="laptop")
    await register_irc(laptop, "alice")
    phone = await connect("user1", resource="phone")
    await wait_on_irc(raw, "alice")
    await joined(laptop, room(ROOM), "alice")
    await raw.expect_cmd("JOIN", frm="alice")
    raw.clear()
    mark = len(raw.history)

    set_show(laptop, "away", "at lunch")
    await raw.expect_none(lambda m: True, 1.0, what="anything at all after one resource went away")
    assert await away_of(raw, "alice") is None, "away on IRC while the phone is still available"

    set_show(phone, "xa", "gone fishing")
    msg = await wait_away(raw, "alice", True)
    assert msg in ("at lunch", "gone fishing"), msg

    set_show(phone, None)  # the phone is back
    await wait_away(raw, "alice", False)

    # None of this said anything in the channel (ngircd has no away-notify).
    said = [m for m in raw.history[mark:] if m.nick == "alice" or m.param(0).lower() == ROOM]
    assert not said, f"presence changes reached the channel: {said}"


async def test_presence_status_changes_send_nothing_to_the_channel(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    raw.clear()
    for show, status in [("dnd", "busy"), ("chat", "free"), (None, "back"), ("away", None), (None, None)]:
        set_show(user, show, status)
    await raw.expect_none(lambda m: m.nick == "alice" or (m.command in ("PRIVMSG", "NOTICE") and m.param(0) == ROOM),
                          1.5, what="a presence change shown in the channel")
    say(user, rj, "after the changes")
    await raw.expect_privmsg("alice", ROOM, "after the changes")


@pytest.mark.irc_options(flood_burst=10, flood_per_second=25)
async def test_paste_of_200_lines_arrives_in_order(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    lines = [f"pasted line {i:03d}" for i in range(200)]
    say(user, rj, "\n".join(lines), mid="paste")
    got = await collect_privmsgs(raw, "alice", ROOM, lambda got: len(got) >= 200, timeout=30)
    assert [m.trailing for m in got] == lines
    # Still connected: no QUIT, no ERROR; a message after the paste still goes through.
    assert "alice" in await raw.names(ROOM)
    say(user, rj, "after the paste")
    await raw.expect_privmsg("alice", ROOM, "after the paste")
    assert irc_pontoon.count_log(r"IRC connection lost") == 0


@pytest.mark.irc_options(flood_burst=10, flood_per_second=25)
async def test_200_messages_arrive_in_order(irc_pontoon, connect, raw_irc):
    user, raw, rj = await setup_pair(connect, raw_irc)
    # Two bursts of 100: one of 200 sits exactly at the per-user burst (200 stanzas), where
    # any other request of the user's in the same 20 ms (a disco, the registration) tips one
    # message into a correct `policy-violation` refusal; the per-user rate has its own tests.
    got = []
    for burst in (range(100), range(100, 200)):
        for i in burst:
            say(user, rj, f"message {i:03d}", mid=f"m{i}")
        got += await collect_privmsgs(raw, "alice", ROOM, lambda g: len(g) >= 100, timeout=30)
    assert [m.trailing for m in got] == [f"message {i:03d}" for i in range(200)]
    await expect_groupchat(user, rj, "alice", "message 199", timeout=10)
    errors = [s for s in user.history if s.kind == "message" and s.type == "error"]
    assert not errors, errors[:3]
    assert "alice" in await raw.names(ROOM)
    assert irc_pontoon.count_log(r"IRC connection lost") == 0
