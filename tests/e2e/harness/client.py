"""An XMPP user, driven by slixmpp, as a real client would be: c2s to Prosody, no TLS, PLAIN.

Every incoming message and presence is kept in an inbox; expect_*() consume the first match,
whether it arrived before or after the call, so a test never races a fast reply. Every wait
has a timeout.
"""

from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from typing import Callable

from slixmpp import ClientXMPP
from slixmpp.exceptions import IqError, IqTimeout
from slixmpp.xmlstream.handler import Callback
from slixmpp.xmlstream.matcher import MatchXPath

from harness.xep import breaches

NS_CLIENT = "jabber:client"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
NS_REGISTER = "jabber:iq:register"
NS_DATA = "jabber:x:data"
NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"
NS_DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
NS_GATEWAY = "jabber:iq:gateway"
NS_PING = "urn:xmpp:ping"
NS_VERSION = "jabber:iq:version"
NS_ROSTER = "jabber:iq:roster"

log = logging.getLogger("e2e.client")

DEFAULT_TIMEOUT = 10.0


def q(tag: str, ns: str = NS_CLIENT) -> str:
    return f"{{{ns}}}{tag}"


def error_condition(xml: ET.Element) -> str | None:
    """The defined condition of a stanza's <error/> (e.g. 'service-unavailable'), or None."""
    err = xml.find(q("error"))
    if err is None:
        return None
    for child in err:
        if child.tag.startswith("{" + NS_STANZAS + "}") and not child.tag.endswith("}text"):
            return child.tag.split("}", 1)[1]
    return "(no condition)"


def error_text(xml: ET.Element) -> str:
    err = xml.find(q("error"))
    if err is None:
        return ""
    t = err.find(f"{{{NS_STANZAS}}}text")
    return (t.text or "") if t is not None else ""


def dump(xml: ET.Element) -> str:
    return ET.tostring(xml, encoding="unicode")


class Stanza:
    """A received stanza, reduced to what tests look at (plus the raw XML)."""

    def __init__(self, xml: ET.Element):
        self.xml = xml
        self.kind = xml.tag.split("}", 1)[-1]  # message | presence
        self.type = xml.get("type") or ("normal" if self.kind == "message" else "available")
        self.frm = xml.get("from") or ""
        self.to = xml.get("to") or ""
        body = xml.find(q("body"))
        self.body = body.text if body is not None and body.text is not None else None
        self.condition = error_condition(xml)

    @property
    def from_bare(self) -> str:
        return self.frm.split("/", 1)[0]

    def __repr__(self) -> str:
        return dump(self.xml)


class LoginFailed(AssertionError):
    """SASL failed; the text is `<condition>: <text>` from the server."""


class User:
    """One XMPP account logged in to Prosody over c2s."""

    def __init__(self, jid: str, password: str, c2s_port: int, resource: str = "e2e", ca_file: str | None = None,
                 direct_tls: bool = False):
        self.jid = jid
        self.bare = jid.split("/", 1)[0]
        self.password = password
        self.port = c2s_port
        self.resource = resource
        # With a CA file: STARTTLS required, the server's certificate checked against it
        # (Pontoon's server mode); without: plain text (Prosody on loopback).
        self.ca_file = ca_file
        # With direct_tls (and a CA file): XEP-0368, TLS from the first byte.
        self.direct_tls = direct_tls
        self.auth_failure: str | None = None
        self._auth_failed = asyncio.Event()
        self.xmpp: ClientXMPP | None = None
        self.inbox: list[Stanza] = []
        self.history: list[Stanza] = []
        # XEP rules broken by what this user received (harness/xep.py); checked at teardown.
        self.breaches: list[str] = []
        self._arrived = asyncio.Event()
        self._session = asyncio.Event()
        self._disconnected = asyncio.Event()

    # --- connection ------------------------------------------------------------------

    async def connect(self, presence: bool = True, roster: bool = True, timeout: float = DEFAULT_TIMEOUT) -> "User":
        x = ClientXMPP(f"{self.bare}/{self.resource}", self.password)
        x.enable_direct_tls = self.direct_tls
        if self.ca_file:
            x.enable_starttls = not self.direct_tls
            x.enable_plaintext = False
            x.ca_certs = self.ca_file
        else:
            x.enable_starttls = False
            x.enable_plaintext = True
            x.plugin["feature_mechanisms"].unencrypted_plain = True
        # Tests decide about subscriptions themselves, like a user clicking accept.
        x.auto_authorize = None
        x.auto_subscribe = False
        x.register_plugin("xep_0030")
        x.register_plugin("xep_0199")
        x.register_handler(Callback("e2e-message", MatchXPath(f"{{{NS_CLIENT}}}message"), self._on_stanza))
        x.register_handler(Callback("e2e-presence", MatchXPath(f"{{{NS_CLIENT}}}presence"), self._on_stanza))
        x.add_event_handler("session_start", lambda _e: self._session.set())
        x.add_event_handler("disconnected", lambda _e: self._disconnected.set())
        x.add_event_handler("failed_auth", self._on_failed_auth)
        self.xmpp = x
        self._session.clear()
        self._disconnected.clear()
        x.connect("127.0.0.1", self.port)
        self._auth_failed.clear()
        self.auth_failure = None
        session = asyncio.ensure_future(self._session.wait())
        failed = asyncio.ensure_future(self._auth_failed.wait())
        done, pending = await asyncio.wait({session, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for f in pending:
            f.cancel()
        if failed in done:
            x.abort()
            self.xmpp = None
            raise LoginFailed(self.auth_failure or "")
        if session not in done:
            raise AssertionError(f"{self.bare} could not log in on port {self.port} within {timeout} s")
        if roster:
            await asyncio.wait_for(x.get_roster(), timeout)
        if presence:
            self.send_presence()
        return self

    def _on_failed_auth(self, failure) -> None:
        log.error("%s: authentication failed", self.bare)
        try:
            xml = failure.xml
            cond = next((c.tag.split("}", 1)[1] for c in xml if not c.tag.endswith("}text")), "")
            text = next((c.text or "" for c in xml if c.tag.endswith("}text")), "")
            self.auth_failure = f"{cond}: {text}"
        except Exception:  # noqa: BLE001 - the event's payload varies between versions
            self.auth_failure = str(failure)
        self._auth_failed.set()

    async def disconnect(self, timeout: float = 5.0) -> None:
        if self.xmpp is None:
            return
        x, self.xmpp = self.xmpp, None
        try:
            fut = x.disconnect(wait=1.0)
            if fut is not None:
                await asyncio.wait_for(fut, timeout)
        except (asyncio.TimeoutError, Exception) as e:  # noqa: BLE001 - best effort at teardown
            log.debug("%s: disconnect: %r", self.bare, e)
            try:
                x.abort()
            except Exception:  # noqa: BLE001
                pass

    def _on_stanza(self, st) -> None:
        s = Stanza(st.xml)
        log.debug("%s <- %s", self.bare, s)
        self.breaches.extend(breaches(st.xml))
        self.inbox.append(s)
        self.history.append(s)
        self._arrived.set()

    # --- sending ---------------------------------------------------------------------

    def send_raw(self, xml: str) -> None:
        assert self.xmpp is not None, "not connected"
        self.xmpp.send_raw(xml)

    def send_presence(self, to: str | None = None, ptype: str | None = None, status: str | None = None) -> None:
        assert self.xmpp is not None, "not connected"
        kwargs = {}
        if to:
            kwargs["pto"] = to
        if ptype:
            kwargs["ptype"] = ptype
        if status:
            kwargs["pstatus"] = status
        self.xmpp.send_presence(**kwargs)

    def send_message(self, to: str, body: str, mtype: str = "chat") -> None:
        assert self.xmpp is not None, "not connected"
        self.xmpp.send_message(mto=to, mbody=body, mtype=mtype)

    async def iq(self, itype: str, to: str, payload: str | None, timeout: float = DEFAULT_TIMEOUT) -> ET.Element:
        """Sends an IQ with the given payload XML; returns the reply's XML (result or error)."""
        assert self.xmpp is not None, "not connected"
        iq = self.xmpp.Iq()
        iq["type"] = itype
        if to:
            iq["to"] = to
        if payload:
            iq.append(ET.fromstring(payload))
        try:
            reply = (await iq.send(timeout=timeout)).xml
        except IqError as e:
            reply = e.iq.xml
        except IqTimeout:
            raise AssertionError(f"no reply within {timeout} s to {itype} IQ to {to}: {payload}")
        self.breaches.extend(breaches(reply))
        return reply

    async def roster(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict]:
        """The roster as the server has it now: {jid: {'subscription', 'ask', 'name', 'groups'}}."""
        reply = await self.iq("get", None, f"<query xmlns='{NS_ROSTER}'/>", timeout)
        items = {}
        query = reply.find(f"{{{NS_ROSTER}}}query")
        if query is not None:
            for item in query.findall(f"{{{NS_ROSTER}}}item"):
                items[item.get("jid")] = {
                    "subscription": item.get("subscription"),
                    "ask": item.get("ask"),
                    "name": item.get("name"),
                    "groups": [g.text for g in item.findall(f"{{{NS_ROSTER}}}group")],
                }
        return items

    async def bookmarks(self, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict]:
        """The XEP-0402 bookmarks as the server has them now: {room JID: conference attributes}."""
        pubsub, node = "http://jabber.org/protocol/pubsub", "urn:xmpp:bookmarks:1"
        reply = await self.iq("get", self.bare, f"<pubsub xmlns='{pubsub}'><items node='{node}'/></pubsub>", timeout)
        if reply.get("type") != "result":
            return {}
        items = {}
        for item in reply.iter(f"{{{pubsub}}}item"):
            conference = item.find(f"{{{node}}}conference")
            items[item.get("id")] = dict(conference.attrib) if conference is not None else {}
        return items

    async def remove_from_roster(self, jid: str, timeout: float = DEFAULT_TIMEOUT) -> ET.Element:
        return await self.iq(
            "set", None, f"<query xmlns='{NS_ROSTER}'><item jid='{jid}' subscription='remove'/></query>", timeout
        )

    # --- receiving -------------------------------------------------------------------

    def clear_inbox(self) -> None:
        self.inbox.clear()

    async def expect(self, predicate: Callable[[Stanza], bool], timeout: float = DEFAULT_TIMEOUT, what: str = "stanza") -> Stanza:
        """Consumes and returns the first inbox stanza matching predicate, waiting up to timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for i, s in enumerate(self.inbox):
                if predicate(s):
                    del self.inbox[i]
                    return s
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = "\n  ".join(repr(s) for s in self.inbox[-15:]) or "(nothing)"
                raise AssertionError(f"{self.bare}: no {what} within {timeout} s; unconsumed stanzas:\n  {seen}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def expect_none(self, predicate: Callable[[Stanza], bool], wait: float, what: str = "stanza") -> None:
        """Waits `wait` seconds and asserts that no matching stanza arrived."""
        await asyncio.sleep(wait)
        bad = [s for s in self.inbox if predicate(s)]
        assert not bad, f"{self.bare}: unexpected {what}: {bad}"

    async def expect_presence(self, frm: str, ptype: str | None = "available", timeout: float = DEFAULT_TIMEOUT) -> Stanza:
        """A presence from frm (bare JID or full JID); ptype None matches any type."""
        def match(s: Stanza) -> bool:
            return (
                s.kind == "presence"
                and (s.frm == frm or s.from_bare == frm)
                and (ptype is None or s.type == ptype)
            )
        return await self.expect(match, timeout, what=f"presence type={ptype} from {frm}")

    async def expect_message(self, frm: str, body: str | None = None, mtype: str | None = None, timeout: float = DEFAULT_TIMEOUT,
                             with_body: bool = True) -> Stanza:
        def match(s: Stanza) -> bool:
            return (
                s.kind == "message"
                and (s.frm == frm or s.from_bare == frm)
                and (mtype is None or s.type == mtype)
                and (body is None or s.body == body)
                and (not with_body or s.body is not None)
            )
        return await self.expect(match, timeout, what=f"message from {frm}" + (f" with body {body!r}" if body else ""))

    async def expect_message_error(self, frm: str, timeout: float = DEFAULT_TIMEOUT) -> Stanza:
        return await self.expect(
            lambda s: s.kind == "message" and s.type == "error" and (s.frm == frm or s.from_bare == frm),
            timeout,
            what=f"message error from {frm}",
        )
