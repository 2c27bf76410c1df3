"""WHOIS as the person's vCard (issue 19, point 3): a vCard request to a room occupant or
to an IRC contact, as Gajim's and Conversations' contact details send it, answers with
what the IRC server says of them (real name, server, address, idle time, away message);
a nick nobody holds answers with the nick alone. The user's own raw WHOIS at the network's
JID is untouched (test_irc_raw.py)."""

from __future__ import annotations

from harness.client import dump
from ircxmpp import IRC, contact, joined, register_irc, room, wait_on_irc

NS_VCARD = "vcard-temp"


def card_of(reply) -> dict[str, str]:
    assert reply.get("type") == "result", dump(reply)
    card = reply.find(f"{{{NS_VCARD}}}vCard")
    assert card is not None, dump(reply)
    return {child.tag.split("}")[1]: (child.text or "") for child in card}


async def test_whois_as_the_vcard_of_an_occupant_and_a_contact(irc_pontoon, ngircd, connect, raw_irc):
    bob = await raw_irc("whobob")
    bob.send("AWAY :out for lunch")
    await bob.join("#who")
    user = await connect("user1")
    await register_irc(user, "alice")
    await joined(user, room("#who"), "alice")
    await bob.expect_cmd("JOIN", frm="alice")

    card = card_of(await user.iq("get", f"{room('#who')}/whobob", f"<vCard xmlns='{NS_VCARD}'/>"))
    assert card["FN"] == "raw e2e client" and card["NICKNAME"] == "whobob", card
    desc = card.get("DESC", "")
    for part in ("Server: irc.test", "whobob@127.0.0.1", "Away: out for lunch", "Idle: "):
        assert part in desc, (part, desc)

    card = card_of(await user.iq("get", contact("whobob"), f"<vCard xmlns='{NS_VCARD}'/>"))
    assert card["FN"] == "raw e2e client" and "Away: out for lunch" in card.get("DESC", ""), card

    # Nobody by that nick: the nick alone, at once rather than after a timeout.
    card = card_of(await user.iq("get", f"{room('#who')}/nobodyhere", f"<vCard xmlns='{NS_VCARD}'/>",
                                 timeout=5))
    assert card == {"FN": "nobodyhere", "NICKNAME": "nobodyhere"}, card
    # The WHOIS lines were the lookup's: none reached the user as a message.
    await wait_on_irc(bob, "alice")
    assert not [s for s in user.inbox if s.kind == "message" and s.body and "whobob" in s.body], \
        [s.body for s in user.inbox if s.kind == "message"]
