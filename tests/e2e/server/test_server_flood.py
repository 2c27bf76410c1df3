"""One user must never stall the gateway (server mode, against ngircd).

A hostile but logged-in client floods Pontoon with IQs, presences, room joins or messages
in one write, while another user, logged in with an ordinary client (slixmpp), talks in a
room with an IRC user. What must hold, whatever the flooder does:
- the other user's room messages come back (echo) and reach IRC, and IRC's reach them,
  each within LATENCY seconds;
- a new login succeeds within LOGIN_WITHIN seconds;
- the flooder alone is slowed, refused (`resource-constraint` / `policy-violation`) or
  disconnected;
- SIGTERM ends the gateway within the shutdown bound.
Also: the cap on connections that have not logged in yet holds per address, so one address
cannot keep everybody else out.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from flows import FLOOD, LOGIN_WITHIN, ROOM, SERVER, assert_flows, irc_options, victim_in_room
from server_fixtures import IRC
from harness.rawxmpp import RawXmpp

def disco_burst(n: int, to: str) -> str:
    return "".join(f"<iq type='get' id='q{i}' to='{to}'>"
                   f"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" for i in range(n))


# Without a stanza rate, only the structure keeps the gateway alive (the deadlock of issue
# 20 needed none); with the default rate, the flooder is also slowed to it.
UNLIMITED = {"stanzas_per_second": 0}


@pytest.mark.parametrize("target,limits", [
    ("domain", UNLIMITED), ("domain", None), ("contact", None), ("room", None)])
async def test_iq_burst_does_not_stall_others(make_server, sconnect, ngircd, raw_irc, target, limits):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER, limits=limits)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    base = server.rss_mib()
    flooder = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    to = {"domain": IRC, "contact": f"rawcarol@{IRC}", "room": f"{ROOM}@{IRC}"}[target]
    flooder.write(disco_burst(FLOOD, to))
    # While the flood is being read: the other user is served.
    await assert_flows(server, bob, carol, "during", sconnect)
    # The flooder is answered for what was read (a result or a refusal per iq), at its
    # burst at once and then at the rate; without a rate, all of it, unless it reads its
    # answers slower than they come (a loaded machine): then it is disconnected with
    # resource-constraint, as the design says, and others still flow (checked below).
    want = FLOOD if limits is UNLIMITED else 250
    await flooder.wait_for(lambda c: len(c.replies("q")) >= want or c.closed.is_set(), 30,
                           f"answers to {want} iqs of the flood, or the flooder disconnected")
    if flooder.closed.is_set() and len(flooder.replies("q")) < want:
        assert flooder.stream_error in ("resource-constraint", "policy-violation"), \
            f"the flooder was closed without the right stream error: {flooder.stream_error}"
    conditions = {k for k in flooder.counts if k.startswith("iq-error")}
    assert conditions <= {"iq-error:resource-constraint", "iq-error:policy-violation",
                          "iq-error:service-unavailable", "iq-error:feature-not-implemented",
                          "iq-error:item-not-found"}, flooder.counts
    if limits is not UNLIMITED:
        assert len(flooder.replies("q")) < FLOOD, "the flooder was not slowed down"
    await flooder.close()
    await assert_flows(server, bob, carol, "after")
    # Memory comes back to its level once the flooder is gone.
    after = server.rss_mib()
    print(f"RSS {base:.0f} MiB before the flood, {after:.0f} MiB after")
    assert after - base < 24, f"RSS {base:.0f} -> {after:.0f} MiB after the flood"
    # Nothing froze: SIGTERM ends the gateway within its shutdown bound.
    rc, in_time = server.terminate_and_wait(timeout=15)
    assert in_time and rc == 0, f"SIGTERM: exit status {rc}, in time: {in_time}"


@pytest.mark.parametrize("kind", ["roster", "private"])
async def test_own_account_burst_does_not_stall_others(make_server, sconnect, ngircd, raw_irc, kind):
    """Requests to the user's own account are the router's (and the store's) work."""
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    flooder = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    if kind == "roster":
        one = ("<iq type='set' id='q{i}'><query xmlns='jabber:iq:roster'>"
               f"<item jid='c{{i}}@{IRC}' name='c{{i}}'/></query></iq>")
    else:
        one = ("<iq type='set' id='q{i}'><query xmlns='jabber:iq:private'>"
               "<notes xmlns='e2e:notes{i}'>n{i}</notes></query></iq>")
    flooder.write("".join(one.format(i=i) for i in range(FLOOD)))
    await assert_flows(server, bob, carol, "during", sconnect)
    await flooder.wait_for(lambda c: len(c.replies("q")) >= 250 or c.closed.is_set(), 30,
                           "answers to 250 requests, or the flooder disconnected")
    if flooder.closed.is_set() and len(flooder.replies("q")) < 250:
        assert flooder.stream_error in ("resource-constraint", "policy-violation"), \
            f"the flooder was closed without the right stream error: {flooder.stream_error}"
    await flooder.close()
    await assert_flows(server, bob, carol, "after")


async def test_presence_burst_is_coalesced(make_server, sconnect, ngircd, raw_irc):
    # No stanza rate: the flood reaches the session whole, and coalescing alone must keep
    # the legacy network's pacing from holding anything up.
    server = make_server(irc_options=irc_options(ngircd), server=SERVER, limits=UNLIMITED)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    flooder = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    await carol.whois("rep")
    flooder.write("".join(f"<presence><show>away</show><status>s{i}</status></presence>"
                          for i in range(FLOOD)))
    await assert_flows(server, bob, carol, "during", sconnect)
    # Only the latest status waits for IRC: it is there within a few seconds, not after
    # FLOOD lines paced at two a second.
    away = await carol.wait_away("rep", f"s{FLOOD - 1}", timeout=20)
    assert away == f"s{FLOOD - 1}", (
        f"the last status is not on IRC after 20 s: {away!r} (flooder closed: "
        f"{flooder.closed.is_set()}, stream error {flooder.stream_error}, got {flooder.counts})")
    # Status changes are not answered one by one (a client flooding them would otherwise
    # be sent thousands of presences back, and closed for not reading them).
    assert flooder.counts.get("presence", 0) < 10, flooder.counts
    assert not flooder.closed.is_set(), flooder.stream_error
    await flooder.close()
    # Once the flooder is gone, no stale AWAY keeps going out: the user quits IRC soon.
    await server.wait_log_async(r"logging out of the legacy network", 10)


async def test_join_and_message_burst(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    bob, carol = await victim_in_room(server, sconnect, raw_irc)
    flooder = await RawXmpp.login(server.c2s_port, "rep", IRC, "pw")
    joins = "".join(f"<presence to='#j{i}@{IRC}/rep'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
                    for i in range(300))
    msgs = "".join(f"<message type='chat' id='m{i}' to='rawcarol@{IRC}'><body>spam {i}</body></message>"
                   for i in range(FLOOD))
    flooder.write(joins + msgs)
    await assert_flows(server, bob, carol, "during", sconnect)
    await flooder.close()
    await assert_flows(server, bob, carol, "after")


async def test_unauthenticated_cap_is_per_address(make_server, sconnect, ngircd):
    server = make_server(irc_options=irc_options(ngircd), server=SERVER)
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    header = (f"<?xml version='1.0'?><stream:stream to='{IRC}' version='1.0' xmlns='jabber:client' "
              "xmlns:stream='http://etherx.jabber.org/streams'>").encode()
    refused = 0
    for _ in range(300):
        r, w = await asyncio.open_connection("127.0.0.1", server.c2s_port)
        w.write(header)
        idle.append((r, w))
    # Past the per-address cap, the same address is refused with policy-violation.
    for r, _w in idle[-20:]:
        try:
            data = await asyncio.wait_for(r.read(4096), 5)
            while data and b"features>" not in data and b"policy-violation" not in data:
                more = await asyncio.wait_for(r.read(4096), 5)
                if not more:
                    break
                data += more
        except asyncio.TimeoutError:
            data = b""
        refused += b"policy-violation" in data
    assert refused == 20, f"only {refused} of the last 20 connections from one address were refused"
    # Another address logs in at once.
    other = await RawXmpp.login(server.c2s_port, "eve", IRC, "pw", local_host="127.0.0.62",
                                timeout=LOGIN_WITHIN)
    assert other.jid.startswith(f"eve@{IRC}/"), other.jid
    await other.close()
    for _r, w in idle:
        w.close()
