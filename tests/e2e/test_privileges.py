"""XEP-0356 (issue 17, first step): Pontoon reads what its host server grants it. Prosody
with mod_privilege (Debian prosody-modules) advertises the permissions after the component's
handshake; the user's `status` at the transport says what their server lets the gateway do,
or that it granted nothing. An advertisement from a user is refused and changes nothing."""

from __future__ import annotations

import asyncio

import pytest

from harness.adhoc import NS_COMMANDS, command_of, command_xml
from harness.client import dump, error_condition
from harness.gateway import echo_roundtrip, register, register_and_login, status_of
from harness.prosody import running as prosody_running

TRANSPORT = "test.localhost"
PUBSUB = "http://jabber.org/protocol/pubsub"


@pytest.fixture
def prosody(tmp_path, request):
    """This module's host server grants the test transport roster and message privileges."""
    with prosody_running(tmp_path / "prosody", request, [TRANSPORT], {},
                         privileged={TRANSPORT: {"roster": "both", "message": "outgoing",
                                                 "iq": {PUBSUB: "both"}}}) as p:
        yield p


async def test_the_host_servers_privileges_are_read(pontoon, connect):
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    said = await status_of(user)
    assert ("Your server (localhost) lets this gateway: roster get and set; messages as you: yes; "
            f"IQs: {PUBSUB} (get and set).") in said, said

    # A user cannot grant anything: refused, and nothing changes.
    user.send_raw(f"<message to='{TRANSPORT}' id='fake'><privilege xmlns='urn:xmpp:privilege:2'>"
                  "<perm access='roster' type='none'/></privilege></message>")
    err = await user.expect(lambda s: s.kind == "message" and s.type == "error" and s.from_bare == TRANSPORT,
                            10, what="the refusal")
    assert error_condition(err.xml) == "forbidden", err
    assert "roster get and set" in await status_of(user)


ROSTERX = "http://jabber.org/protocol/rosterx"


@pytest.fixture
def plain_prosody(tmp_path, request):
    """A host server that grants nothing, as Prosody without mod_privilege."""
    with prosody_running(tmp_path / "plain-prosody", request, [TRANSPORT], {}) as p:
        yield p


@pytest.fixture
async def plain_user(plain_prosody, tmp_path):
    """plain_user(name) -> a User of the host that grants nothing (not connected yet),
    whose transport is the rich test network; all disconnected, and Pontoon stopped, at
    teardown."""
    from harness.client import User
    from harness.pontoon import Pontoon
    p = Pontoon(tmp_path / "plain-pontoon", component_port=plain_prosody.component_port,
                secret=plain_prosody.components[TRANSPORT], transport=RICH)
    p.start(wait_ready=True)
    users: list[User] = []

    def make(name: str) -> User:
        plain_prosody.add_account(name, f"pw-{name}")
        users.append(User(f"{name}@localhost", f"pw-{name}", plain_prosody.c2s_port))
        return users[-1]

    try:
        yield make
    finally:
        for u in users:
            await u.disconnect()
        p.stop()


async def test_a_client_that_takes_roster_item_exchange_gets_one_list(plain_user):
    """Without privileges, a client that advertises capabilities and says (disco#info) it
    takes XEP-0144 gets the network's contacts in one roster item exchange, which it shows
    as one list to accept, instead of a subscription request each."""
    user = plain_user("user2")
    await user.connect(presence=False)
    user.xmpp.plugin["xep_0030"].add_feature(ROSTERX)
    user.send_raw("<presence><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' "
                  "node='https://e2e.example' ver='e2e'/></presence>")
    await register(user, "user2", "pw")
    exchange = await user.expect(lambda s: s.kind == "message" and s.from_bare == TRANSPORT
                                 and s.xml.find(f"{{{ROSTERX}}}x") is not None, 15,
                                 what="the roster item exchange")
    items = exchange.xml.findall(f"{{{ROSTERX}}}x/{{{ROSTERX}}}item")
    assert [(i.get("action"), i.get("jid"), i.get("name"), i.findtext(f"{{{ROSTERX}}}group"))
            for i in items] == [("add", ECHO, "Echo", "Test network")], dump(exchange.xml)
    assert not [s for s in user.inbox if s.kind == "presence" and s.type == "subscribe"
                and s.from_bare == ECHO], "no subscription request besides"


async def test_a_server_that_grants_nothing_is_said_so(plain_user):
    user = plain_user("user1")
    await user.connect()
    said = await status_of(user)
    assert "Your server (localhost) has granted this gateway no privileges (XEP-0356)." in said, said
    # The network's contacts ask to be added, with their names (XEP-0172).
    await register(user, "user1", "pw")
    ask = await user.expect_presence(ECHO, "subscribe", timeout=15)
    assert ask.xml.findtext("{http://jabber.org/protocol/nick}nick") == "Echo", ask
    # The "Sync contacts" command (XEP-0050) asks them in again (the server keeps one
    # pending request per contact, so it shows the user the one it has).
    done = command_of(await user.iq("set", TRANSPORT, command_xml("sync-contacts", "execute")))
    assert done.get("status") == "completed", dump(done)
    assert done.findtext(f"{{{NS_COMMANDS}}}note") == "Your contacts on the network are being put into your roster."
    await user.expect_message(TRANSPORT, "Your Test network contact list has 1 contact: "
                              "each asks to be added to your roster.")
    # What the user wrote from another client comes from the contact, said to be theirs.
    user.send_message(TRANSPORT, "elsewhere echo typed in another app")
    await user.expect_message(ECHO, "[you, from another client] typed in another app")


RICH = {"options": {"rich": "true"}}
ECHO = f"echo@{TRANSPORT}"
BOB = f"bob@{TRANSPORT}"


async def until(pred, timeout: float = 10.0, what: str = "condition"):
    """Polls `pred` (async) every 0.1 s until it returns something true, bounded in time."""
    for _ in range(int(timeout * 10)):
        got = await pred()
        if got:
            return got
        await asyncio.sleep(0.1)
    raise AssertionError(f"{what}: not met in {timeout} s")


async def test_the_network_contact_list_is_written_into_the_roster(make_pontoon, connect):
    """With the roster permission, the network's contacts are in the user's roster, named,
    in the transport's group, mutually subscribed, with no request to accept; renamed by the
    network unless the user renamed them; removed when the network removes them, and all of
    them when the user unregisters."""
    pontoon = make_pontoon(transport=RICH)
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    await register_and_login(user, "user1", "pw")

    async def item(jid: str):
        return (await user.roster()).get(jid)

    echo = await until(lambda: item(ECHO), what="echo in the roster")
    assert echo["name"] == "Echo" and echo["groups"] == ["Test network"], echo
    assert echo["subscription"] == "both", echo
    # Its presence came without the server probing it.
    await user.expect_presence(ECHO, "available", timeout=10)
    assert not [s for s in user.inbox if s.kind == "presence" and s.type == "subscribe"
                and s.from_bare.endswith(TRANSPORT) and s.from_bare != TRANSPORT], "no subscription requests"

    # A contact added on the network appears; renamed on the network, renamed in the roster.
    user.send_message(TRANSPORT, "friend bob Bobby")
    await until(lambda: _named(item, BOB, "Bobby"), what="bob added as Bobby")
    user.send_message(TRANSPORT, "friend bob Robert")
    await until(lambda: _named(item, BOB, "Robert"), what="bob renamed Robert")

    # The user renames echo by hand: the network's next name does not overwrite it.
    await user.iq("set", None, f"<query xmlns='jabber:iq:roster'><item jid='{ECHO}' name='My echo'>"
                  "<group>Friends</group></item></query>")
    user.send_message(TRANSPORT, "friend echo Echo2")
    user.send_message(TRANSPORT, "friend bob Bob")  # a later change, to know the first was handled
    await until(lambda: _named(item, BOB, "Bob"), what="bob renamed Bob")
    assert await item(ECHO) == {"subscription": "both", "ask": None, "name": "My echo", "groups": ["Friends"]}

    # Removed on the network: out of the roster.
    user.send_message(TRANSPORT, "unfriend bob")
    await until(lambda: _gone(item, BOB), what="bob out of the roster")

    # Unregistering takes the transport's contacts out, the one the user renamed too.
    reply = await user.iq("set", TRANSPORT, "<query xmlns='jabber:iq:register'><remove/></query>")
    assert reply.get("type") == "result", reply
    await until(lambda: _gone(item, ECHO), what="echo out of the roster after unregistering")


async def _named(item, jid: str, name: str) -> bool:
    got = await item(jid)
    return got is not None and got["name"] == name


async def _gone(item, jid: str) -> bool:
    return await item(jid) is None


CARBONS = "urn:xmpp:carbons:2"


async def test_a_message_sent_from_another_client_is_a_carbon(make_pontoon, connect):
    """With the message permission, what the user wrote to a contact from another client of
    the network reaches their XMPP clients as an XEP-0280 carbon of a message they sent,
    through their server, and is not sent to the network a second time."""
    pontoon = make_pontoon(transport=RICH)
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    await register_and_login(user, "user1", "pw")
    enabled = await user.iq("set", None, f"<enable xmlns='{CARBONS}'/>")
    assert enabled.get("type") == "result", enabled

    user.send_message(TRANSPORT, "elsewhere echo typed in another app")
    carbon = await user.expect(lambda s: s.kind == "message" and s.xml.find(f"{{{CARBONS}}}sent") is not None,
                               10, what="the carbon")
    assert carbon.from_bare == "user1@localhost", carbon
    inner = carbon.xml.find(f"{{{CARBONS}}}sent/{{urn:xmpp:forward:0}}forwarded/{{jabber:client}}message")
    assert inner is not None, carbon
    assert (inner.get("from"), inner.get("to"), inner.get("type")) == ("user1@localhost", ECHO, "chat"), inner.attrib
    assert inner.findtext("{jabber:client}body") == "typed in another app"

    # Not sent to the network again: the echo contact would have answered it, before this.
    await echo_roundtrip(user, "and this from here")
    assert not [s for s in user.inbox if s.body == "echo: typed in another app"]
    assert "refused a message sent as the user" not in pontoon.log_path.read_text()


LOBBY = f"#lobby@{TRANSPORT}"


async def test_the_rooms_the_user_is_in_are_bookmarked(make_pontoon, connect):
    """With the IQ permission on pubsub, the rooms the user is in on the network (here the
    rich test network's lobby) are added to their bookmarks, not joined automatically unless
    they choose so with `bookmarks autojoin`, which writes them again."""
    pontoon = make_pontoon(transport=RICH)
    pontoon.wait_log(r"host server privileges", 15, what="the advertisement read")
    user = await connect("user1")
    await register_and_login(user, "user1", "pw")

    async def lobby(autojoin: str):
        conf = (await user.bookmarks()).get(LOBBY)
        return conf is not None and conf.get("autojoin") == autojoin and conf

    conf = await until(lambda: lobby("false"), what="the lobby bookmarked")
    assert conf.get("name") == "lobby on the test network", conf

    user.send_message(TRANSPORT, "bookmarks autojoin")
    said = await user.expect(lambda s: s.kind == "message" and s.from_bare == TRANSPORT and s.body is not None
                             and "bookmarks" in s.body, 10, what="the answer")
    assert "Adding the rooms you are in on Test network to your bookmarks (autojoin)." in said.body, said.body
    await until(lambda: lobby("true"), what="the lobby joined automatically")

    user.send_message(TRANSPORT, "bookmarks")
    said = await user.expect(lambda s: s.kind == "message" and s.from_bare == TRANSPORT and s.body is not None
                             and "Bookmarks for" in s.body, 10, what="the choice told")
    assert "autojoin. Your server lets this gateway write your bookmarks." in said.body, said.body
