"""One user must never stall the gateway (component mode: Prosody, without its mod_limits,
in front of Pontoon, against ngircd).

A registered user floods the transport through Prosody with IQs (to the domain, a contact,
a room), presences, room joins or messages, written in one go from a raw stream; another
registered user talks in a room with an IRC user meanwhile. Their messages must flow both
ways within LATENCY seconds during the flood and after it; the flooder is answered or
refused (`policy-violation` beyond the per-user stanza rate, `resource-constraint` when its
session is full); its presence changes reach IRC coalesced (the last status, quickly).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from harness.rawxmpp import RawXmpp
from ircxmpp import IRC, expect_groupchat, joined, register_irc, room, say, wait_on_irc

LATENCY = 3.0
LOGIN_WITHIN = 10.0
ROOM = "#flood"
FLOOD = 3000


async def victim_in_room(connect, raw_irc):
    carol = await raw_irc("rawcarol")
    await carol.join(ROOM)
    bob = await connect("user2")
    await register_irc(bob, "bob")
    await joined(bob, room(ROOM), "bob")
    await carol.expect_cmd("JOIN", frm="bob")
    return bob, carol


async def flooder(connect, prosody, raw_irc) -> RawXmpp:
    """user1, registered as `rep` (its slixmpp client stays online), plus a raw stream of
    the same account that does the flooding."""
    rep = await connect("user1", resource="client")
    await register_irc(rep, "rep")
    return await RawXmpp.login(prosody.c2s_port, "user1", "localhost", "pw-user1", resource="raw")


async def assert_flows(bob, carol, tag: str, connect=None) -> None:
    """bob's room messages flow both ways within LATENCY; with `connect`, a new user also
    registers and comes online on IRC within LOGIN_WITHIN."""
    t0 = time.monotonic()
    say(bob, room(ROOM), f"from bob {tag}")
    await expect_groupchat(bob, room(ROOM), "bob", f"from bob {tag}", timeout=LATENCY)
    await carol.expect_privmsg("bob", ROOM, f"from bob {tag}", timeout=LATENCY)
    out = time.monotonic() - t0
    t1 = time.monotonic()
    carol.privmsg(ROOM, f"from carol {tag}")
    await expect_groupchat(bob, room(ROOM), "rawcarol", f"from carol {tag}", timeout=LATENCY)
    print(f"[{tag}] bob -> echo and IRC {out:.3f} s, IRC -> bob {time.monotonic() - t1:.3f} s")
    if connect is not None:
        t2 = time.monotonic()
        name = {"during": "user3", "after": "user4"}[tag]
        newcomer = await connect(name)
        await asyncio.wait_for(register_irc(newcomer, f"n{name[-1]}"), LOGIN_WITHIN)
        print(f"[{tag}] a new user registered and online in {time.monotonic() - t2:.3f} s")


@pytest.mark.parametrize("target", ["domain", "contact", "room"])
async def test_iq_burst_through_prosody(irc_pontoon, connect, prosody, raw_irc, target):
    bob, carol = await victim_in_room(connect, raw_irc)
    raw = await flooder(connect, prosody, raw_irc)
    to = {"domain": IRC, "contact": f"rawcarol@{IRC}", "room": room(ROOM)}[target]
    raw.write("".join(f"<iq type='get' id='q{i}' to='{to}'>"
                      f"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" for i in range(FLOOD)))
    await assert_flows(bob, carol, "during", connect)
    # Every iq is answered: at the rate, the rest refused at once.
    await raw.wait_for(lambda c: len(c.replies("q")) >= FLOOD, 30, "an answer to every iq")
    assert raw.counts.get("iq-error:policy-violation", 0) > 0, raw.counts
    assert set(raw.counts) <= {"iq", "iq-error:policy-violation", "iq-error:resource-constraint",
                               "iq-error:service-unavailable", "iq-error:item-not-found",
                               "message", "presence"}, raw.counts
    await raw.close()
    await assert_flows(bob, carol, "after")


async def test_presence_burst_through_prosody_is_coalesced(irc_pontoon, connect, prosody, raw_irc):
    bob, carol = await victim_in_room(connect, raw_irc)
    rep = await connect("user1", resource="client")
    await register_irc(rep, "rep")
    await wait_on_irc(carol, "rep")
    # The raw stream becomes the user's only available resource, then floods.
    raw = await RawXmpp.login(prosody.c2s_port, "user1", "localhost", "pw-user1", resource="raw")
    raw.write("<presence/>")
    await raw.wait_for(lambda c: any(s.get("from") == IRC for s in c.stanzas), 10,
                       "the transport's presence to the raw stream")
    await rep.disconnect()
    raw.write("".join(f"<presence><show>away</show><status>s{i}</status></presence>" for i in range(FLOOD)))
    await assert_flows(bob, carol, "during")
    # Only the latest status waits for IRC: there within seconds, not after FLOOD lines
    # paced at two a second.
    away = await carol.wait_away("rep", f"s{FLOOD - 1}", timeout=15)
    assert away == f"s{FLOOD - 1}", f"the last status is not on IRC after 15 s: {away!r}"
    await raw.close()
    await assert_flows(bob, carol, "after")


async def test_join_and_message_burst_through_prosody(irc_pontoon, connect, prosody, raw_irc):
    bob, carol = await victim_in_room(connect, raw_irc)
    raw = await flooder(connect, prosody, raw_irc)
    joins = "".join(f"<presence to='#j{i}@{IRC}/rep'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                    for i in range(300))
    msgs = "".join(f"<message type='chat' id='m{i}' to='rawcarol@{IRC}'><body>spam {i}</body></message>"
                   for i in range(FLOOD))
    raw.write(joins + msgs)
    await assert_flows(bob, carol, "during")
    # Every message is delivered or refused with a reason, never dropped in silence.
    await raw.wait_for(
        lambda c: c.counts.get("message-error:policy-violation", 0)
        + c.counts.get("message-error:resource-constraint", 0) > 0, 20,
        "refusals of the messages beyond the rate")
    await raw.close()
    await assert_flows(bob, carol, "after")
