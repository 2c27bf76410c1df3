"""Contacts' presence and the room directory through the IRC transport (fixed network, so
contacts are nick@irc.localhost and rooms #chan@irc.localhost).

- InspIRCd (MONITOR, away-notify): a subscribed contact comes online, goes away and back
  (seen in a shared channel), and quits.
- ngircd (no MONITOR): the same presence, learned by ISON polling (interval shortened).
- disco#items on irc.localhost lists the network's channels (IRC LIST), those the user is in first
  (a secret one, which LIST leaves out, too), paged with RSM.
"""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET

import pytest

from ircxmpp import IRC, contact, joined, register_irc, room, wait_on_irc

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_CAPS = "http://jabber.org/protocol/caps"
NS_RSM = "http://jabber.org/protocol/rsm"
NS_CLIENT = "jabber:client"


def show_of(s) -> str | None:
    el = s.xml.find(f"{{{NS_CLIENT}}}show")
    return None if el is None else (el.text or "")


def status_of(s) -> str | None:
    el = s.xml.find(f"{{{NS_CLIENT}}}status")
    return None if el is None else (el.text or "")


def caps_ver(query: ET.Element) -> str:
    """XEP-0115 section 5.1 (no extended forms): what a client computes before caching."""
    idents = sorted(
        "/".join([i.get("category", ""), i.get("type", ""),
                  i.get("{http://www.w3.org/XML/1998/namespace}lang", ""), i.get("name", "")])
        for i in query.findall(f"{{{NS_DISCO_INFO}}}identity"))
    feats = sorted(f.get("var", "") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature"))
    text = "".join(x + "<" for x in idents + feats)
    return base64.b64encode(hashlib.sha1(text.encode()).digest()).decode()


async def subscribe(user, jid: str) -> None:
    """Adds a contact the way a client does: subscribe, and the transport approves."""
    user.send_presence(to=jid, ptype="subscribe")
    await user.expect_presence(jid, "subscribed", timeout=15)


def contact_presence(user, jid: str, ptype: str, show: str | None = None):
    def match(s) -> bool:
        return (s.kind == "presence" and s.from_bare == jid and s.type == ptype
                and (show is None or show_of(s) == show))
    return user.expect(match, 20, what=f"{ptype} presence (show={show}) from {jid}")


@pytest.fixture
def insp_pontoon(make_irc_pontoon, inspircd):
    return make_irc_pontoon({"connect_host": "127.0.0.1", "connect_port": inspircd.port, "connect_timeout": 5})


async def test_contact_presence_with_monitor_and_away_notify(insp_pontoon, inspircd, connect, raw_irc_any):
    user = await connect("user1")
    await register_irc(user, "alice")
    watcher = await raw_irc_any(inspircd.port, "watcher")
    await wait_on_irc(watcher, "alice")
    bob_jid = contact("bob")
    await subscribe(user, bob_jid)
    await contact_presence(user, bob_jid, "unavailable")

    # bob connects: MONITOR tells the gateway at once.
    bob = await raw_irc_any(inspircd.port, "bob")
    got = await contact_presence(user, bob_jid, "available")
    assert show_of(got) is None, got

    # The presence says what a chat with bob takes (XEP-0115), and the client can check it:
    # disco#info at the caps node hashes to the announced ver, typing included (InspIRCd
    # has message tags).
    caps = got.xml.find(f"{{{NS_CAPS}}}c")
    assert caps is not None and caps.get("hash") == "sha-1", got
    node = f"{caps.get('node')}#{caps.get('ver')}"
    reply = await user.iq("get", bob_jid, f"<query xmlns='{NS_DISCO_INFO}' node='{node}'/>")
    query = reply.find(f"{{{NS_DISCO_INFO}}}query")
    assert query is not None and query.get("node") == node, ET.tostring(reply)
    assert caps_ver(query) == caps.get("ver"), ET.tostring(reply)
    features = {f.get("var") for f in query.findall(f"{{{NS_DISCO_INFO}}}feature")}
    assert "http://jabber.org/protocol/chatstates" in features, features

    # In a shared channel, away-notify carries bob's away message.
    await bob.join("#pres")
    await joined(user, room("#pres"), "alice")
    bob.send("AWAY :gone fishing")
    away = await contact_presence(user, bob_jid, "available", show="away")
    assert status_of(away) == "gone fishing", away
    bob.send("AWAY")
    back = await contact_presence(user, bob_jid, "available")
    assert show_of(back) is None, back

    # bob quits: unavailable.
    await bob.close("bye")
    await contact_presence(user, bob_jid, "unavailable")


@pytest.mark.irc_options(presence_poll_interval=1)
async def test_contact_presence_with_ison_polling(irc_pontoon, ngircd, connect, raw_irc):
    user = await connect("user1")
    await register_irc(user, "alice")
    watcher = await raw_irc("watcher")
    await wait_on_irc(watcher, "alice")
    bob_jid = contact("bob")
    await subscribe(user, bob_jid)
    await contact_presence(user, bob_jid, "unavailable")
    bob = await raw_irc("bob")
    await contact_presence(user, bob_jid, "available")
    await bob.close("bye")
    await contact_presence(user, bob_jid, "unavailable")


async def disco_items(user, rsm: str = "") -> ET.Element:
    reply = await user.iq("get", IRC, f"<query xmlns='{NS_DISCO_ITEMS}'>{rsm}</query>", timeout=30)
    assert reply.get("type") == "result", ET.tostring(reply, encoding="unicode")
    query = reply.find(f"{{{NS_DISCO_ITEMS}}}query")
    assert query is not None, ET.tostring(reply, encoding="unicode")
    return query


async def test_disco_items_lists_the_channels_with_rsm(irc_pontoon, ngircd, connect, raw_irc):
    bob = await raw_irc("bob")
    for chan in ("#alpha", "#beta", "#gamma", "#zsecret"):
        await bob.join(chan)
    # A secret channel: not in the network's LIST.
    bob.send("MODE #zsecret +s")
    await bob.expect_cmd("MODE", frm="bob")
    user = await connect("user1")
    await register_irc(user, "alice")
    await wait_on_irc(bob, "alice")
    await joined(user, room("#zsecret"), "alice")

    query = await disco_items(user)
    jids = [i.get("jid") for i in query.findall(f"{{{NS_DISCO_ITEMS}}}item")]
    # The rooms the user is in come first, the secret one too.
    assert jids[0] == room("#zsecret"), jids
    for chan in ("#alpha", "#beta", "#gamma"):
        assert room(chan) in jids, jids

    query = await disco_items(user, f"<set xmlns='{NS_RSM}'><max>2</max></set>")
    items = query.findall(f"{{{NS_DISCO_ITEMS}}}item")
    assert len(items) == 2, ET.tostring(query, encoding="unicode")
    rsm = query.find(f"{{{NS_RSM}}}set")
    assert rsm is not None, ET.tostring(query, encoding="unicode")
    count = rsm.find(f"{{{NS_RSM}}}count")
    last = rsm.find(f"{{{NS_RSM}}}last")
    assert count is not None and int(count.text) == len(jids), ET.tostring(rsm, encoding="unicode")
    assert last is not None and last.text, ET.tostring(rsm, encoding="unicode")
