"""What a person does in an IRC channel from a real terminal client, and what they must see:
the flows shared by the component-mode and server-mode smoke tests (issue 13), one per
client.

The person joins, talks, says `/me`, reads a line from IRC, writes privately to an IRC user
through the room and gets the answer in the same window, changes nick, (with profanity)
gets voice, and leaves. Each step waits on what the screen shows and on what the IRC user
receives; no line may appear twice and profanity may never show "(null)".
"""

from __future__ import annotations

import re

from harness.terminal import Poezio, Profanity, count_lines
from rawirc import RawIrc

ROOM_WINDOW = 2


async def profanity_in_a_room(prof: Profanity, bob: RawIrc, chan: str, room_jid: str, nick: str) -> None:
    """`bob` is already in `chan` (as its operator); `prof` is logged in."""
    prof.type(f"/join {room_jid} nick {nick}")
    await prof.wait_screen(rf"You have joined the room as {nick}\b", what="the join")
    await bob.expect_cmd("JOIN", frm=nick)

    prof.type("hello from profanity")
    await bob.expect_privmsg(nick, chan, "hello from profanity")
    prof.type("/me waves")
    await bob.expect_privmsg(nick, chan, "\x01ACTION waves\x01")
    bob.privmsg(chan, "hello from irc")
    # Bob's line comes after both of ours: once it shows, ours had every chance to show twice.
    screen = (await prof.wait_screen(r"rawbob: hello from irc", what="bob's line")).string
    assert count_lines(screen, rf"- {nick}: hello from profanity(\s|$)") == 1, screen
    assert count_lines(screen, rf"\*{nick} waves(\s|$)") == 1, screen

    # A private message through the room; the answer comes back to the same window.
    prof.type("/msg rawbob psst")
    await bob.expect_privmsg(nick, "rawbob", "psst")
    await prof.wait_screen(r"^ " + re.escape(f"{room_jid}/rawbob") + r"\s", what="the private window")
    bob.privmsg(nick, "psst yourself")
    screen = (await prof.wait_screen(r"rawbob: psst yourself", what="bob's answer in the private window")).string
    # The status bar lists the windows: console, room, this one, and no fourth (a second
    # conversation with bob's contact JID would have opened one).
    status = [line for line in screen.splitlines() if line.strip()][-1]
    assert status.rstrip().endswith("[1][2]-3-"), f"the answer opened another window:\n{screen}"

    # Nick change, then voice from the channel operator.
    await prof.show_window(ROOM_WINDOW, room_jid.split("@", 1)[0])
    prof.type(f"/nick {nick}2")
    await bob.expect_cmd("NICK", frm=nick)
    bob.send(f"MODE {chan} +v {nick}2")
    await prof.wait_screen(r"affiliation has been changed to: member|role has been changed to",
                           what="the voice")

    prof.type("/close")
    await bob.expect_cmd("PART", frm=f"{nick}2")
    prof.window(1)
    await prof.wait_screen(r"^ Profanity", what="the console window")
    assert not prof.ever_shown("(null)"), "\n=====\n".join(s for s in prof.seen if "(null)" in s)[:4000]


async def poezio_in_a_room(poezio: Poezio, bob: RawIrc, chan: str, room_jid: str, nick: str) -> None:
    """`bob` is already in `chan`; `poezio` is logged in (its roster tab open)."""
    await poezio.command(f"/join {room_jid}/{nick}")
    await poezio.wait_screen(rf"You \({nick}\) joined the room", what="the join")
    await bob.expect_cmd("JOIN", frm=nick)

    await poezio.say("hello from poezio")
    await bob.expect_privmsg(nick, chan, "hello from poezio")
    await poezio.say("/me nods")
    await bob.expect_privmsg(nick, chan, "\x01ACTION nods\x01")
    bob.privmsg(chan, "hello from irc")
    screen = (await poezio.wait_screen(r"rawbob> hello from irc", what="bob's line")).string
    assert count_lines(screen, rf"{nick}> hello from poezio(\s|x|$)") == 1, screen
    assert count_lines(screen, rf"\* {nick} nods(\s|x|$)") == 1, screen

    # A private message through the room (a new tab, number 2); the answer comes back to it.
    await poezio.say("/query rawbob psst")
    await bob.expect_privmsg(nick, "rawbob", "psst")
    bob.privmsg(nick, "psst yourself")
    screen = (await poezio.wait_screen(r"rawbob> psst yourself", what="bob's answer in the private tab")).string
    # The tab list (left column): roster, room, the private tab, and no fourth (a second
    # conversation with bob's contact JID would have opened one).
    assert re.search(r"^ 2\.rawbob", screen, re.M) and not re.search(r"^ 3\.", screen, re.M), screen

    await poezio.command("/win 1")
    await poezio.wait_screen(rf"You \({nick}\) joined the room", what="the room tab")
    await poezio.say(f"/nick {nick}2")
    await bob.expect_cmd("NICK", frm=nick)
    await poezio.wait_screen(rf"{nick} is now known as {nick}2", what="the nick change")
    await poezio.say("/part")
    await bob.expect_cmd("PART", frm=f"{nick}2")
