"""What a user's client does with MUC rooms of any transport (XEP-0045 join and leave,
groupchat messages with XEP-0359 ids, reading occupants' presences), and one-to-one chat."""

from __future__ import annotations

from xml.sax.saxutils import escape as xml_escape

from .client import Stanza, User

NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = "http://jabber.org/protocol/muc#user"
NS_DELAY = "urn:xmpp:delay"
NS_SID = "urn:xmpp:sid:0"


def join(user: User, room_jid: str, nick: str, password: str | None = None) -> None:
    pw = f"<password>{xml_escape(password)}</password>" if password is not None else ""
    user.send_raw(
        f"<presence to='{room_jid}/{nick}'><x xmlns='{NS_MUC}'><history maxstanzas='0'/>{pw}</x></presence>"
    )


def leave(user: User, room_jid: str, nick: str) -> None:
    user.send_raw(f"<presence to='{room_jid}/{nick}' type='unavailable'/>")


def say(user: User, room_jid: str, body: str, mid: str | None = None, origin_id: str | None = None) -> None:
    """A groupchat message; body is XML-escaped; CR and LF are sent as character references.
    `origin_id` adds an XEP-0359 <origin-id/>, as modern clients send."""
    text = xml_escape(body).replace("\r", "&#13;").replace("\n", "&#10;")
    idattr = f" id='{mid}'" if mid else ""
    origin = f"<origin-id xmlns='{NS_SID}' id='{origin_id}'/>" if origin_id else ""
    user.send_raw(f"<message to='{room_jid}' type='groupchat'{idattr}><body>{text}</body>{origin}</message>")


def sid_ids(s: Stanza) -> tuple[str | None, list[tuple[str | None, str | None]]]:
    """A message's XEP-0359 ids: (origin-id, [(stanza-id, by), ...])."""
    origin = s.xml.find(f"{{{NS_SID}}}origin-id")
    stamps = [(e.get("id"), e.get("by")) for e in s.xml.findall(f"{{{NS_SID}}}stanza-id")]
    return (origin.get("id") if origin is not None else None), stamps


def chat(user: User, to: str, body: str, mid: str | None = None) -> None:
    text = xml_escape(body).replace("\r", "&#13;").replace("\n", "&#10;")
    idattr = f" id='{mid}'" if mid else ""
    user.send_raw(f"<message to='{to}' type='chat'{idattr}><body>{text}</body></message>")


def statuses(s: Stanza) -> set[str]:
    x = s.xml.find(f"{{{NS_MUC_USER}}}x")
    if x is None:
        return set()
    return {st.get("code") for st in x.findall(f"{{{NS_MUC_USER}}}status")}


def item(s: Stanza) -> dict:
    """The muc#user item's attributes (role, affiliation, nick), plus its reason if any."""
    el = s.xml.find(f"{{{NS_MUC_USER}}}x/{{{NS_MUC_USER}}}item")
    if el is None:
        return {}
    d = dict(el.attrib)
    r = el.find(f"{{{NS_MUC_USER}}}reason")
    if r is not None:
        d["reason"] = r.text or ""
    return d


def subject_of(s: Stanza) -> str | None:
    el = s.xml.find("{jabber:client}subject")
    return None if el is None else (el.text or "")


def has_delay(s: Stanza) -> bool:
    return s.xml.find(f"{{{NS_DELAY}}}delay") is not None


async def expect_self_presence(user: User, room_jid: str, nick: str | None = None, ptype: str = "available",
                               timeout: float = 15.0) -> Stanza:
    def match(s: Stanza) -> bool:
        return (s.kind == "presence" and s.from_bare == room_jid and s.type == ptype
                and "110" in statuses(s) and (nick is None or s.frm == f"{room_jid}/{nick}"))
    return await user.expect(match, timeout, what=f"self-presence ({ptype}, 110) from {room_jid}" +
                             (f"/{nick}" if nick else ""))


async def expect_occupant(user: User, room_jid: str, nick: str, ptype: str = "available",
                          timeout: float = 10.0, pred=None) -> Stanza:
    def match(s: Stanza) -> bool:
        return (s.kind == "presence" and s.frm == f"{room_jid}/{nick}" and s.type == ptype
                and (pred is None or pred(s)))
    return await user.expect(match, timeout, what=f"{ptype} presence of {room_jid}/{nick}")


async def expect_subject(user: User, room_jid: str, timeout: float = 10.0, subject: str | None = None) -> Stanza:
    return await user.expect(
        lambda s: s.kind == "message" and s.from_bare == room_jid and s.type == "groupchat"
        and subject_of(s) is not None and (subject is None or subject_of(s) == subject),
        timeout, what=f"subject message from {room_jid}" + (f" ({subject!r})" if subject else ""))


async def expect_groupchat(user: User, room_jid: str, nick: str | None, body: str | None = None,
                           timeout: float = 10.0, contains: str | None = None) -> Stanza:
    """A groupchat body from room/nick (nick None: from the room itself)."""
    frm = f"{room_jid}/{nick}" if nick else room_jid

    def match(s: Stanza) -> bool:
        return (s.kind == "message" and s.frm == frm and s.type == "groupchat" and s.body is not None
                and (body is None or s.body == body) and (contains is None or contains in s.body))
    return await user.expect(match, timeout, what=f"groupchat from {frm}" + (f" {body!r}" if body else "")
                             + (f" containing {contains!r}" if contains else ""))


async def joined(user: User, room_jid: str, nick: str, password: str | None = None, timeout: float = 15.0) -> Stanza:
    """Joins and waits for the self-presence; returns it."""
    join(user, room_jid, nick, password)
    return await expect_self_presence(user, room_jid, timeout=timeout)
