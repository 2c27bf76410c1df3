"""A raw-socket IRC client for the tests: the person on the IRC side.

It speaks IRC by hand over asyncio, so a test sees exactly the lines the gateway produces.
Every line it sends is checked: it must end in CRLF and hold no other CR or LF (a test
client that injected commands itself would prove nothing). Every received line is kept
(raw bytes too, to check lengths) in an inbox; expect() consumes the first match, whether
it came before or after the call. PING is answered automatically. Every wait has a timeout.
"""

from __future__ import annotations

import asyncio
import re
import logging
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("e2e.rawirc")

DEFAULT_TIMEOUT = 10.0


@dataclass
class Msg:
    """One received line, parsed."""

    raw: bytes  # as received, with its CRLF
    text: str  # decoded (UTF-8, else latin-1), without CRLF
    tags: dict[str, str] = field(default_factory=dict)
    prefix: str = ""
    command: str = ""
    params: list[str] = field(default_factory=list)

    @property
    def nick(self) -> str:
        return self.prefix.split("!", 1)[0]

    def param(self, i: int) -> str:
        return self.params[i] if i < len(self.params) else ""

    @property
    def trailing(self) -> str:
        return self.params[-1] if self.params else ""

    def __repr__(self) -> str:
        return repr(self.text)


def decode(b: bytes) -> str:
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def parse(raw: bytes) -> Msg:
    text = decode(raw.rstrip(b"\r\n"))
    m = Msg(raw=raw, text=text)
    rest = text
    if rest.startswith("@"):
        tagstr, _, rest = rest[1:].partition(" ")
        for t in tagstr.split(";"):
            k, _, v = t.partition("=")
            m.tags[k] = v
    if rest.startswith(":"):
        m.prefix, _, rest = rest[1:].partition(" ")
    rest = rest.lstrip(" ")
    if " :" in rest:
        head, _, trailing = rest.partition(" :")
        parts = head.split()
        m.params = parts[1:] + [trailing]
        m.command = parts[0].upper() if parts else ""
    else:
        parts = rest.split()
        m.command = parts[0].upper() if parts else ""
        m.params = parts[1:]
    return m


def check_outgoing(data: bytes) -> None:
    """The rule for every line this client sends: ends in CRLF, no other CR or LF."""
    assert data.endswith(b"\r\n"), f"raw IRC client: line does not end in CRLF: {data!r}"
    body = data[:-2]
    assert b"\r" not in body and b"\n" not in body, f"raw IRC client: bare CR/LF inside a line: {data!r}"
    assert len(data) <= 512, f"raw IRC client: line longer than 512 bytes: {data!r}"


class RawIrc:
    def __init__(self, port: int, nick: str, host: str = "127.0.0.1"):
        self.host = host
        self.port = port
        self.nick = nick
        self.inbox: list[Msg] = []
        self.history: list[Msg] = []
        self.sent: list[bytes] = []
        self._arrived = asyncio.Event()
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task | None = None
        self.closed = asyncio.Event()

    # --- connection ------------------------------------------------------------------

    async def connect(self, timeout: float = DEFAULT_TIMEOUT, realname: str = "raw e2e client") -> "RawIrc":
        self.closed.clear()
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), timeout)
        self._task = asyncio.create_task(self._read_loop())
        self.send(f"NICK {self.nick}")
        self.send(f"USER {self.nick[:10].lower()} 0 * :{realname}")
        welcome = await self.expect(lambda m: m.command in ("001", "433", "432"), timeout,
                                    what="001 (welcome)")
        assert welcome.command == "001", f"{self.nick}: registration refused: {welcome.text}"
        self.nick = welcome.param(0)
        return self

    async def _read_loop(self) -> None:
        assert self._reader is not None
        try:
            while True:
                raw = await self._reader.readuntil(b"\n")
                m = parse(raw)
                log.debug("%s <- %s", self.nick, m.text)
                if m.command == "PING":
                    self.send(f"PONG :{m.trailing}")
                    continue
                self.inbox.append(m)
                self.history.append(m)
                self._arrived.set()
        except (asyncio.IncompleteReadError, ConnectionError, OSError, asyncio.LimitOverrunError):
            pass
        finally:
            self.closed.set()
            self._arrived.set()

    async def close(self, quit_message: str | None = "bye") -> None:
        if self._writer is None:
            return
        w, self._writer = self._writer, None
        try:
            if quit_message is not None and not self.closed.is_set():
                data = f"QUIT :{quit_message}\r\n".encode()
                check_outgoing(data)
                w.write(data)
                await asyncio.wait_for(w.drain(), 2)
                try:
                    await asyncio.wait_for(self.closed.wait(), 2)
                except asyncio.TimeoutError:
                    pass
        except (ConnectionError, OSError, asyncio.TimeoutError):
            pass
        w.close()
        try:
            await asyncio.wait_for(w.wait_closed(), 2)
        except (ConnectionError, OSError, asyncio.TimeoutError):
            pass
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    # --- sending ---------------------------------------------------------------------

    def send_bytes(self, data: bytes) -> None:
        """Sends one line given as bytes without its CRLF (e.g. latin-1 text)."""
        data = data + b"\r\n"
        check_outgoing(data)
        assert self._writer is not None, f"{self.nick}: not connected"
        log.debug("%s -> %r", self.nick, data)
        self.sent.append(data)
        self._writer.write(data)

    def send(self, line: str) -> None:
        self.send_bytes(line.encode("utf-8"))

    def privmsg(self, target: str, text: str) -> None:
        self.send(f"PRIVMSG {target} :{text}")

    def notice(self, target: str, text: str) -> None:
        self.send(f"NOTICE {target} :{text}")

    # --- receiving -------------------------------------------------------------------

    def clear(self) -> None:
        self.inbox.clear()

    async def expect(self, pred: Callable[[Msg], bool], timeout: float = DEFAULT_TIMEOUT,
                     what: str = "line") -> Msg:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            closed = self.closed.is_set()  # read before the scan: no line can follow it
            for i, m in enumerate(self.inbox):
                if pred(m):
                    del self.inbox[i]
                    return m
            remaining = deadline - loop.time()
            if remaining <= 0 or closed:
                seen = "\n  ".join(repr(m) for m in self.inbox[-20:]) or "(nothing)"
                state = " (connection closed)" if self.closed.is_set() else ""
                raise AssertionError(f"IRC {self.nick}: no {what} within {timeout} s{state}; unconsumed lines:\n  {seen}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def expect_none(self, pred: Callable[[Msg], bool], wait: float, what: str = "line") -> None:
        await asyncio.sleep(wait)
        bad = [m for m in self.inbox if pred(m)]
        assert not bad, f"IRC {self.nick}: unexpected {what}: {bad}"

    async def expect_cmd(self, command: str, frm: str | None = None, param0: str | None = None,
                         timeout: float = DEFAULT_TIMEOUT) -> Msg:
        def match(m: Msg) -> bool:
            return (m.command == command.upper()
                    and (frm is None or m.nick.lower() == frm.lower())
                    and (param0 is None or m.param(0).lower() == param0.lower()))
        return await self.expect(match, timeout, what=f"{command} from {frm or 'anyone'} to {param0 or 'anything'}")

    async def expect_privmsg(self, frm: str, target: str, text: str | None = None,
                             timeout: float = DEFAULT_TIMEOUT) -> Msg:
        def match(m: Msg) -> bool:
            return (m.command == "PRIVMSG" and m.nick.lower() == frm.lower()
                    and m.param(0).lower() == target.lower()
                    and (text is None or m.trailing == text))
        return await self.expect(match, timeout, what=f"PRIVMSG {target} from {frm}" + (f" {text!r}" if text else ""))

    # --- queries ---------------------------------------------------------------------

    async def join(self, chan: str, key: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Joins and returns the names (with prefixes) from the NAMES reply."""
        self.send(f"JOIN {chan}" + (f" {key}" if key else ""))
        names: list[str] = []
        while True:
            m = await self.expect(lambda m: (m.command in ("353", "366") and chan.lower() in
                                             [p.lower() for p in m.params])
                                  or (m.command in ("403", "471", "473", "474", "475") and m.param(1).lower() == chan.lower()),
                                  timeout, what=f"NAMES of {chan}")
            if m.command == "353":
                names += m.trailing.split()
            elif m.command == "366":
                return names
            else:
                raise AssertionError(f"IRC {self.nick}: cannot join {chan}: {m.text}")

    async def names(self, chan: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """NAMES: the nicks in the channel, without prefixes."""
        self.send(f"NAMES {chan}")
        names: list[str] = []
        while True:
            m = await self.expect(lambda m: m.command in ("353", "366") and chan.lower() in
                                  [p.lower() for p in m.params], timeout, what=f"NAMES of {chan}")
            if m.command == "366":
                return [n.lstrip("~&@%+") for n in names]
            names += m.trailing.split()

    async def user_count(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """What the server counts (LUSERS 251): every connected client."""
        self.inbox[:] = [m for m in self.inbox if m.command != "251"]  # the welcome burst's
        self.send("LUSERS")
        m = await self.expect(lambda m: m.command == "251", timeout, what="LUSERS")
        found = re.search(r"There are (\d+) users", m.trailing)
        assert found, m
        return int(found.group(1))

    async def wait_gone(self, nick: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Polls WHOIS until `nick` is not on IRC."""
        deadline = asyncio.get_running_loop().time() + timeout
        while "401" not in await self.whois(nick):
            assert asyncio.get_running_loop().time() < deadline, f"{nick} still on IRC after {timeout} s"
            await asyncio.sleep(0.1)

    async def wait_away(self, nick: str, want: str | None, timeout: float = DEFAULT_TIMEOUT) -> str | None:
        """Polls WHOIS until `nick`'s away message is `want` (None: not away); returns the
        last one seen, which the caller compares with `want` (nothing is raised)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            who = await self.whois(nick)
            away = who["301"].trailing if "301" in who else None
            if away == want or asyncio.get_running_loop().time() >= deadline:
                return away
            await asyncio.sleep(0.3)

    async def whois(self, nick: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Msg]:
        """WHOIS: the reply numerics by code (318 ends it; 401 when there is no such nick)."""
        self.send(f"WHOIS {nick}")
        got: dict[str, Msg] = {}
        while True:
            m = await self.expect(lambda m: m.command.isdigit() and len(m.params) >= 2
                                  and m.param(1).lower() == nick.lower()
                                  and m.command in ("301", "311", "312", "313", "317", "318", "319", "330",
                                                    "338", "378", "379", "401", "671", "276", "307", "320"),
                                  timeout, what=f"WHOIS reply for {nick}")
            got[m.command] = m
            if m.command == "318":
                return got
