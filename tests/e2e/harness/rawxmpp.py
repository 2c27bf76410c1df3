"""A raw XMPP client stream for hostile-client tests: it writes whatever bytes a test gives it
(thousands of stanzas in one write) and reads everything Pontoon sends back, counting it.

slixmpp is the well-behaved client of the suite; this one is the flooder. It speaks just
enough of RFC 6120 to log in to Pontoon's server mode over a plain-text loopback stream (the
listener allows it with `allow_plaintext_on_loopback`): stream header, SASL PLAIN, restart,
bind. Everything it receives after binding is parsed with ElementTree's pull parser and kept
(bounded), so a test can wait on what a user would see: replies by id, error conditions, a
stream error, the socket closing.
"""

from __future__ import annotations

import asyncio
import base64
import time
import xml.etree.ElementTree as ET

from .client import error_condition

NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_STREAMS_ERR = "urn:ietf:params:xml:ns:xmpp-streams"

# Stanzas kept for inspection; counters go on beyond it.
KEEP = 20000


class RawXmppError(RuntimeError):
    pass


class RawXmpp:
    """One raw c2s stream. `await RawXmpp.login(port, "alice", "irc.localhost", "pw")`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, domain: str):
        self.reader = reader
        self.writer = writer
        self.domain = domain
        self.jid = ""
        self.stanzas: list[ET.Element] = []
        self.counts: dict[str, int] = {}
        self.stream_error: str | None = None
        self.stream_error_text = ""
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task | None = None

    # --- connecting ------------------------------------------------------------------

    @staticmethod
    async def open(port: int, domain: str, host: str = "127.0.0.1", local_host: str | None = None,
                   timeout: float = 10.0) -> "RawXmpp":
        """A TCP connection with the stream header sent (nothing read yet)."""
        local = (local_host, 0) if local_host else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, local_addr=local, limit=1 << 20), timeout)
        c = RawXmpp(reader, writer, domain)
        c.write(c._header())
        return c

    @staticmethod
    async def login(port: int, user: str, domain: str, password: str, resource: str = "raw",
                    local_host: str | None = None, timeout: float = 20.0,
                    bind: bool = True) -> "RawXmpp":
        """A bound stream for user@domain/resource (plain text on loopback); with
        bind=False, an authenticated stream whose features were read, not yet bound (to
        try a XEP-0198 resumption instead)."""
        c = await RawXmpp.open(port, domain, local_host=local_host, timeout=timeout)
        await asyncio.wait_for(c._negotiate(user, password, resource, bind), timeout)
        return c

    def _header(self) -> bytes:
        return (f"<?xml version='1.0'?><stream:stream to='{self.domain}' version='1.0' "
                f"xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>").encode()

    async def _read_until(self, needle: bytes) -> bytes:
        buf = b""
        while needle not in buf:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise RawXmppError(f"stream closed while waiting for {needle!r}: {buf[-500:]!r}")
            buf += chunk
        return buf

    async def _negotiate(self, user: str, password: str, resource: str, bind: bool = True) -> None:
        await self._read_until(b"features>")
        auth = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        self.write(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{auth}</auth>")
        got = await self._read_until(b">")
        while b"success" not in got and b"failure" not in got:
            got += await self._read_until(b">")
        if b"failure" in got:
            if b"</failure>" not in got:
                got += await self._read_until(b"</failure>")
            raise RawXmppError(f"login failed: {got.decode(errors='replace')}")
        self.write(self._header())
        await self._read_until(b"features>")
        if not bind:
            self._task = asyncio.ensure_future(self._read_loop())
            return
        self.write(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'><resource>{resource}"
                   f"</resource></bind></iq>")
        got = await self._read_until(b"</iq>")
        text = got.decode(errors="replace")
        start = text.find("<jid>")
        end = text.find("</jid>")
        if start < 0 or end < 0:
            raise RawXmppError(f"bind failed: {text}")
        self.jid = text[start + 5:end]
        self._task = asyncio.ensure_future(self._read_loop())

    # --- reading ---------------------------------------------------------------------

    async def _read_loop(self) -> None:
        parser = ET.XMLPullParser(events=("start", "end"))
        # The bound stream's own header was consumed with the features; give the parser one.
        parser.feed(f"<stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")
        depth = 0
        try:
            while True:
                chunk = await self.reader.read(65536)
                if not chunk:
                    break
                parser.feed(chunk)
                for ev, el in parser.read_events():
                    if ev == "start":
                        depth += 1
                        continue
                    depth -= 1
                    if depth == 1:
                        self._on_element(el)
        except (ConnectionError, ET.ParseError, OSError):
            pass
        finally:
            self.closed.set()
            self._changed.set()

    def _on_element(self, el: ET.Element) -> None:
        if el.tag == f"{{{NS_STREAM}}}error":
            for child in el:
                if child.tag.startswith("{" + NS_STREAMS_ERR + "}") and not child.tag.endswith("}text"):
                    self.stream_error = child.tag.split("}", 1)[1]
                elif child.tag.endswith("}text"):
                    self.stream_error_text = child.text or ""
        else:
            kind = el.tag.split("}", 1)[-1]
            key = kind if el.get("type") != "error" else f"{kind}-error:{error_condition(el)}"
            self.counts[key] = self.counts.get(key, 0) + 1
            if len(self.stanzas) < KEEP:
                self.stanzas.append(el)
        self._changed.set()

    async def wait_for(self, pred, timeout: float, what: str) -> None:
        """Wait until pred(self) holds (checked at every stanza and at close)."""
        deadline = time.monotonic() + timeout
        while not pred(self):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                                     f"counts={self.counts} stream_error={self.stream_error} "
                                     f"closed={self.closed.is_set()}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))
            except asyncio.TimeoutError:
                pass

    def replies(self, prefix: str) -> list[ET.Element]:
        """Kept iq replies whose id starts with prefix."""
        return [s for s in self.stanzas
                if s.tag == f"{{{NS_CLIENT}}}iq" and (s.get("id") or "").startswith(prefix)]

    # --- writing ---------------------------------------------------------------------

    def write(self, data: str | bytes) -> None:
        if isinstance(data, str):
            data = data.encode()
        if not self.writer.is_closing():
            self.writer.write(data)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until what was written left the buffer; False if the peer stopped reading
        for `timeout` (the gateway slowing a flooder down) or closed."""
        try:
            await asyncio.wait_for(self.writer.drain(), timeout)
            return True
        except (asyncio.TimeoutError, ConnectionError):
            return False

    async def close(self) -> None:
        if not self.writer.is_closing():
            try:
                self.writer.write(b"</stream:stream>")
            except Exception:  # noqa: BLE001  (already broken)
                pass
            self.writer.close()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
