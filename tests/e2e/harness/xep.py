"""The XEP rules every stanza Pontoon sends must keep, checked on what the e2e users receive
(the same rules as `pontoon_core::xep_check` in the Rust service tests, issue 13): XEP-0045
occupant items carry `affiliation` and `role` (role `none` when leaving), XEP-0004 fields of
a form or result carry their `type`, and a room message with a body carries a XEP-0359
stanza-id by the room.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_DATA = "jabber:x:data"
NS_SID = "urn:xmpp:sid:0"
FIELD_TYPES = {"boolean", "fixed", "hidden", "jid-multi", "jid-single", "list-multi", "list-single",
               "text-multi", "text-private", "text-single"}


def breaches(xml: ET.Element) -> list[str]:
    """What in `xml` breaks the rules above (empty when nothing does)."""
    out: list[str] = []
    kind = xml.tag.split("}", 1)[-1]
    stype = xml.get("type") or ""
    if kind == "presence":
        for item in xml.iter(f"{{{NS_MUC_USER}}}item"):
            if item.get("affiliation") is None or item.get("role") is None:
                out.append("occupant item without affiliation or role")
            elif stype == "unavailable" and item.get("role") != "none":
                out.append(f"leaving occupant with role {item.get('role')}")
    if kind == "message" and stype == "groupchat" and xml.find("{jabber:client}body") is not None:
        room = (xml.get("from") or "").split("/", 1)[0]
        if not any(s.get("by") == room and s.get("id") for s in xml.findall(f"{{{NS_SID}}}stanza-id")):
            out.append(f"room message without a stanza-id by {room}")
    for form in xml.iter(f"{{{NS_DATA}}}x"):
        if form.get("type") == "submit":
            continue
        for field in form.findall(f"{{{NS_DATA}}}field"):
            t = field.get("type")
            # XEP-0004 section 3.3: without a type a field is text-single; results (an
            # XEP-0128 extension of disco, XEP-0363's max-file-size) may leave it out.
            if t is None and form.get("type") == "result":
                continue
            if t not in FIELD_TYPES:
                out.append(f"form field {field.get('var')!r} with type {t!r}")
    return [f"{b}: {ET.tostring(xml, encoding='unicode')[:400]}" for b in out]


def assert_xep_rules(users) -> None:
    """Fails when any stanza the users (harness.client.User) received broke a rule above."""
    broken = [b for u in users for b in u.breaches]
    assert not broken, "stanzas that break XEP rules:\n" + "\n".join(broken[:10])
