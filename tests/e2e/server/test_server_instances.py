"""Server mode, several instances serving one domain (issue 6): two Pontoons on two loopback
ports share one PostgreSQL store, the same store key and the same certificate, as an operator
would run them behind SRV records. A user's roster and bookmarks (hence the rooms the client
autojoins) are the same whichever instance they reach."""

from __future__ import annotations

import asyncio
import time

import pytest
import xml.etree.ElementTree as ET

from harness.client import User
from harness.pontoon import Pontoon

TEST = "test.localhost"
IRC = "irc.localhost"
NS_ROSTER = "jabber:iq:roster"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
BOOKMARKS2 = "urn:xmpp:bookmarks:1"
ROOM = f"#lobby@{TEST}"


def _instance(workdir, postgres_url: str, shared_from: Pontoon | None = None,
              irc_port: int | None = None) -> Pontoon:
    extra = None
    if irc_port is not None:
        extra = {"irc": {"domain": IRC, "name": "IRC", "enabled": True,
                         "options": {"connect_host": "127.0.0.1", "connect_port": irc_port, "connect_timeout": 5}}}
    p = Pontoon(workdir, component_port=1, secret="unused", store_url=postgres_url, mode="server",
                extra_transports=extra)
    if shared_from is not None:
        # What the operator copies to the second machine: the store key and the certificate
        # (here the one the first instance generated; clients trust its ca.pem).
        tls = shared_from.data_dir / "tls"
        p.store["key_file"] = str(shared_from.data_dir / "store.key")
        p.server.update({"cert": str(tls / "server.pem"), "key": str(tls / "server-key.pem")})
        p.write_config()
    return p


@pytest.fixture
async def two_instances(tmp_path, postgres_url):
    """two_instances(irc_port=None) -> (a, b, users): two running instances on one store
    (B with A's key and certificate), and a list whose users are disconnected at the end;
    both instances are stopped, their log tails printed if the test failed."""
    made: list[Pontoon] = []
    users: list[User] = []

    def make(irc_port: int | None = None):
        a = _instance(tmp_path / "a", postgres_url, irc_port=irc_port)
        made.append(a)
        a.start(wait_ready=True)
        b = _instance(tmp_path / "b", postgres_url, shared_from=a, irc_port=irc_port)
        made.append(b)
        b.start(wait_ready=True)
        return a, b, users

    ok = False
    try:
        yield make
        ok = True
    finally:
        for u in users:
            await u.disconnect()
        for p in made:
            if not ok:
                print(f"\n--- tail of {p.log_path} ---\n{p.log_tail(120)}")
            p.stop()


async def test_two_instances_share_roster_and_bookmarks(two_instances):
    a, b, users = two_instances()
    assert a.c2s_port != b.c2s_port
    ca = str(a.ca_path)

    # On instance A: a contact, bookmarks of both kinds, a room.
    alice = User(f"alice@{TEST}", "secret", a.c2s_port, resource="on-a", ca_file=ca)
    users.append(alice)
    await alice.connect()
    pushed = asyncio.Event()
    alice.xmpp.add_event_handler("roster_update", lambda _iq: pushed.set())
    reply = await alice.iq("set", None,
                           f"<query xmlns='{NS_ROSTER}'><item jid='echo@{TEST}' name='Echo'><group>Test</group></item></query>")
    assert reply.get("type") == "result", reply
    # The roster push comes through the store's change feed (several instances).
    await asyncio.wait_for(pushed.wait(), 5)
    reply = await alice.iq(
        "set", None,
        "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'>"
        f"<conference jid='{ROOM}' autojoin='true' name='Lobby'><nick>alice</nick></conference>"
        "</storage></query>")
    assert reply.get("type") == "result", reply
    reply = await alice.iq(
        "set", None,
        f"<pubsub xmlns='{NS_PUBSUB}'><publish node='{BOOKMARKS2}'><item id='{ROOM}'>"
        f"<conference xmlns='{BOOKMARKS2}' name='Lobby' autojoin='true'><nick>alice</nick></conference>"
        "</item></publish></pubsub>")
    assert reply.get("type") == "result", reply
    alice.send_raw(f"<presence to='{ROOM}/alice'><x xmlns='{NS_MUC}'><history maxstanzas='0'/></x></presence>")
    await alice.expect(lambda s: s.kind == "presence" and s.frm == f"{ROOM}/alice"
                       and s.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}status[@code='110']") is not None,
                       what="self-presence in the room on A")
    await alice.disconnect()
    await asyncio.sleep(0.5)

    # On instance B: the same roster, the same bookmarks; the client's autojoin works.
    alice = User(f"alice@{TEST}", "secret", b.c2s_port, resource="on-b", ca_file=ca)
    users.append(alice)
    await alice.connect()
    roster = await alice.roster()
    assert set(roster) == {f"echo@{TEST}"}, roster
    assert roster[f"echo@{TEST}"]["subscription"] == "both", roster
    await alice.expect_presence(f"echo@{TEST}")
    reply = await alice.iq("get", None, "<query xmlns='jabber:iq:private'><storage xmlns='storage:bookmarks'/></query>")
    confs = list(reply.iter("{storage:bookmarks}conference"))
    assert [(c.get("jid"), c.get("autojoin")) for c in confs] == [(ROOM, "true")], ET.tostring(reply, encoding="unicode")
    reply = await alice.iq("get", None, f"<pubsub xmlns='{NS_PUBSUB}'><items node='{BOOKMARKS2}'/></pubsub>")
    items = list(reply.iter(f"{{{NS_PUBSUB}}}item"))
    assert [i.get("id") for i in items] == [ROOM], ET.tostring(reply, encoding="unicode")
    conf = items[0].find(f"{{{BOOKMARKS2}}}conference")
    assert conf is not None and conf.get("autojoin") == "true"
    nick = conf.findtext(f"{{{BOOKMARKS2}}}nick")
    alice.send_raw(f"<presence to='{ROOM}/{nick}'><x xmlns='{NS_MUC}'><history maxstanzas='0'/></x></presence>")
    await alice.expect(lambda s: s.kind == "presence" and s.frm == f"{ROOM}/{nick}"
                       and s.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}status[@code='110']") is not None,
                       what="self-presence in the room on B")
    # And the other way round: a change made on B is seen on A.
    reply = await alice.iq("set", None, f"<query xmlns='{NS_ROSTER}'><item jid='echo@{TEST}' subscription='remove'/></query>")
    assert reply.get("type") == "result", reply
    await alice.disconnect()
    await asyncio.sleep(0.5)
    alice = User(f"alice@{TEST}", "secret", a.c2s_port, resource="back-on-a", ca_file=ca)
    users.append(alice)
    await alice.connect()
    assert await alice.roster() == {}


async def alice_on_irc_through(instance, users, raw_irc):
    """rawbob on IRC, then alice's client on `instance`, seen on IRC: (rawbob, the IRC
    server's user count before alice)."""
    raw = await raw_irc("rawbob")
    base = await raw.user_count()
    on = User(f"alice@{IRC}", "pw", instance.c2s_port, resource="first", ca_file=str(instance.ca_path))
    users.append(on)
    await on.connect()
    assert "311" in await raw.whois("alice")
    assert await raw.user_count() == base + 1
    return raw, base


async def test_a_login_on_another_instance_moves_the_irc_session_there(two_instances, ngircd, raw_irc):
    """One IRC connection per account with two instances (issue 16): alice logs in on A, then
    on B; B asks A for the session's lease, A ends its session (IRC QUIT, its client closed),
    and B logs in to IRC. At no moment are there two connections of alice on IRC."""
    a, b, users = two_instances(irc_port=ngircd.port)
    ca = str(a.ca_path)
    raw, base = await alice_on_irc_through(a, users, raw_irc)

    offset = a.log_offset()
    on_b = User(f"alice@{IRC}", "pw", b.c2s_port, resource="on-b", ca_file=ca)
    users.append(on_b)
    await on_b.connect(timeout=30)
    a.wait_log(r"the user's session moves to another instance", 5, since=offset,
               what="A ending its session for B")
    assert "311" in await raw.whois("alice"), "alice is on IRC, from B"
    assert await raw.user_count() == base + 1, "one IRC connection for alice"
    # The session lives on B: a private message goes out through it.
    on_b.send_message("rawbob@" + IRC, "from B")
    await raw.expect_privmsg("alice", "rawbob", "from B")


TAKEOVER_WITHIN = 15.0


async def test_a_change_made_through_one_instance_reaches_the_other_at_once(two_instances, ngircd, raw_irc):
    """The change feed (LISTEN/NOTIFY, issue 16): the operator disables the IRC transport
    with the CLI pointed at A's configuration while alice's session lives on B; B ends it
    within seconds (the fallback look at the store is every 30 s)."""
    a, b, users = two_instances(irc_port=ngircd.port)
    raw = await raw_irc("rawbob")
    on_b = User(f"alice@{IRC}", "pw", b.c2s_port, resource="on-b", ca_file=str(a.ca_path))
    users.append(on_b)
    await on_b.connect()
    assert "311" in await raw.whois("alice"), "alice is on IRC, from B"

    offset = b.log_offset()
    changed_at = time.monotonic()
    await a.cli_async("policy", "set", "irc", "enabled=false")
    # Server mode: the client's stream ends ("Your legacy session ended; log in again").
    await raw.wait_gone("alice", timeout=5)
    b.wait_log(r"transport disabled by the operator: ending its sessions", 1, since=offset,
               what="B acting on the change")
    took = time.monotonic() - changed_at
    print(f"\nB acted on A's change in {took:.2f} s")
    assert took < 5, took


async def test_a_killed_instance_s_session_is_back_on_the_other_within_15_s(two_instances, ngircd, raw_irc):
    """kill -9 of the instance holding alice's session (issue 16): her client reconnects to
    the other, which takes the lapsed lease over and logs her back in to IRC within 15 s of
    the kill, with one IRC connection for her throughout."""
    a, b, users = two_instances(irc_port=ngircd.port)
    ca = str(a.ca_path)
    raw, base = await alice_on_irc_through(a, users, raw_irc)

    killed_at = time.monotonic()
    assert a.kill() == -9
    await raw.wait_gone("alice", timeout=10)
    on_b = User(f"alice@{IRC}", "pw", b.c2s_port, resource="on-b", ca_file=ca)
    users.append(on_b)
    await on_b.connect(timeout=30)
    deadline = killed_at + TAKEOVER_WITHIN + 5
    while "311" not in await raw.whois("alice"):
        assert time.monotonic() < deadline, "alice not back on IRC"
        await asyncio.sleep(0.1)
    took = time.monotonic() - killed_at
    print(f"\nalice back on IRC through B {took:.1f} s after A was killed")
    assert took < TAKEOVER_WITHIN, took
    assert await raw.user_count() == base + 1, "one IRC connection for alice"
    on_b.send_message("rawbob@" + IRC, "from B after the kill")
    await raw.expect_privmsg("alice", "rawbob", "from B after the kill")
