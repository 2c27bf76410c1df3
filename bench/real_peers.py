#!/usr/bin/env python3
"""Real-peers benchmark: Pontoon against biboumi between a real Prosody and a real ngircd.

For each gateway in turn (a fresh Prosody, ngircd and gateway each time), in rounds
(--rounds, default 3: every gateway once per round, the order rotated by one each round; the
output keeps every round's figures under gateways.<key>.rounds, and their per-figure median
in the single pass's place):

- a private Prosody (tests/e2e/harness/prosody.py: loopback, free ports, no TLS, plain auth;
  log level raised to warn here) with the components pontoon.bench and biboumi.bench, and
  N accounts u0..u<N-1> written as account files before it starts;
- a private ngircd (tests/e2e/irc/ircd.py's configuration: no per-IP limit, no penalties,
  nicks up to 30) listening on 127.0.0.2:6667, as the isolated set-up's IRC server does;
- N XMPP users, each a small asyncio c2s client in this process (stream, SASL PLAIN, bind,
  initial presence; it answers disco#info and refuses other iqs as a client would), each
  joined through the gateway to its own channel `#c<i>%127.0.0.2@<gateway>/u<i>`
  (`--group` users per channel, default 1);
- P raw IRC clients ("peers", default 10) on ngircd, in the channels before the users join,
  which receive the XMPP users' messages and send the IRC side's.

Measured: the gateway's (and separately Prosody's, ngircd's and this driver's) CPU from
/proc, the gateway's RSS, the time to bring the N sessions online, latency at a fixed rate,
and throughput at saturation (a bounded number of messages, a bounded number in flight).

Every loop is bounded in count and time; only loopback is used; every process started here is
stopped by pid on exit and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import subprocess
import sys
import time
import xml.parsers.expat
from pathlib import Path
from xml.sax.saxutils import quoteattr

from common import (HERE, IRC_HOST, IRC_PORT, LABELS, LIVE, REPO, SECRET, BiboumiGw, cpu_seconds, cpu_split,
                    install_signal_handlers, log, make_gateway, median_tree, ms, pct, round_plan, rss_kib, track,
                    until)

sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "e2e" / "irc"))
from harness.prosody import VHOST, Prosody  # noqa: E402
from harness.util import port_open  # noqa: E402
from ircd import Ngircd  # noqa: E402

PASSWORD = "bench-pw"
NS_STREAM = "http://etherx.jabber.org/streams"


def listen_drops() -> int | None:
    """TcpExtListenDrops (/proc/net/netstat): SYNs dropped by full listen queues, all sockets."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return None
    for head, vals in zip(lines[::2], lines[1::2]):
        if head.startswith("TcpExt:"):
            d = dict(zip(head.split()[1:], vals.split()[1:]))
            return int(d["ListenDrops"]) if "ListenDrops" in d else None
    return None


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


# --------------------------------------------------------------------------- servers


class BenchProsody(Prosody):
    """The e2e harness's Prosody, logging warnings only (debug logging would be most of its
    CPU under load), with the benchmark's two components."""

    def write_config(self) -> None:
        super().write_config()
        text = self.config_path.read_text()
        text = text.replace('levels = { min = "debug" }', 'levels = { min = "warn" }')
        self.config_path.write_text(text)


class BenchNgircd(Ngircd):
    """The e2e harness's ngircd configuration, listening on 127.0.0.2:6667 (biboumi tries TLS
    on 6697 and 6670 of the same host first: nothing may listen there)."""

    def write_config(self) -> Path:
        conf = super().write_config()
        conf.write_text(conf.read_text().replace("Listen = 127.0.0.1", f"Listen = {IRC_HOST}"))
        return conf

    def start(self, timeout: float = 10.0) -> None:
        if self.bin is None:
            raise RuntimeError("ngircd is not installed (Debian package ngircd)")
        if port_open(self.port, host=IRC_HOST, timeout=0.2):
            raise RuntimeError(f"{IRC_HOST}:{self.port} is taken")
        conf = self.write_config()
        self._log = open(self.log_path, "ab")
        self.proc = track(subprocess.Popen([self.bin, "-n", "-f", str(conf)], stdin=subprocess.DEVNULL,
                                           stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True))
        deadline = time.monotonic() + timeout
        while not port_open(self.port, host=IRC_HOST, timeout=0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"ngircd did not listen on {IRC_HOST}:{self.port}: {self.log_tail()}")
            time.sleep(0.05)


# --------------------------------------------------------------------------- XMPP users (c2s)


class XmppUser(asyncio.Protocol):
    """One c2s session: stream, SASL PLAIN, bind (resource r), initial presence. Top-level
    elements are parsed with expat into (name, attrs, [(name, attrs) of descendants], body)."""

    def __init__(self, drv: "Driver", i: int):
        self.d = drv
        self.i = i
        self.local = f"u{i}"
        self.jid = f"u{i}@{VHOST}/r"
        self.t = None
        self.state = "features"
        self.ready = asyncio.get_running_loop().create_future()
        self.iq_waiters: dict[str, asyncio.Future] = {}
        self._new_parser()

    def _new_parser(self):
        self.p = xml.parsers.expat.ParserCreate()
        self.p.buffer_text = True
        self.p.StartElementHandler = self._start
        self.p.EndElementHandler = self._end
        self.p.CharacterDataHandler = self._chars
        self.depth = 0
        self.cur = None
        self.in_body = False

    def _open(self):
        self.t.write(f"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='{NS_STREAM}' "
                     f"to='{VHOST}' version='1.0'>".encode())

    def connection_made(self, transport):
        self.t = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._open()

    def connection_lost(self, exc):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.jid}: connection lost in state {self.state}"))
        elif self.d.running:
            self.d.lost += 1

    def data_received(self, data):
        try:
            self.p.Parse(data, False)
        except xml.parsers.expat.ExpatError as e:
            log(f"{self.jid}: XML error {e}")
            self.t.close()

    def _start(self, name, attrs):
        self.depth += 1
        if self.depth == 2:
            self.cur = [name, attrs, [], None, []]
        elif self.depth >= 3:
            self.cur[2].append((name, attrs))
            self.in_body = name == "body" and self.depth == 3

    def _chars(self, data):
        if self.in_body:
            self.cur[4].append(data)

    def _end(self, name):
        if self.depth == 3 and self.in_body:
            self.cur[3] = "".join(self.cur[4])
            self.in_body = False
        elif self.depth == 2:
            st, self.cur = self.cur, None
            self.depth -= 1
            self._top(*st[:4])
            return
        self.depth -= 1

    def send(self, data: str):
        self.t.write(data.encode())

    def _fail(self, why: str):
        if not self.ready.done():
            self.ready.set_exception(RuntimeError(f"{self.jid}: {why}"))
        self.t.close()

    def _top(self, name, attrs, children, body):
        if self.state == "ready":
            self.d.stanza(self, name, attrs, children, body)
        elif self.state == "features" and name == "stream:features":
            token = base64.b64encode(f"\0{self.local}\0{PASSWORD}".encode()).decode()
            self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{token}</auth>")
            self.state = "auth"
        elif self.state == "auth" and name == "success":
            self.state = "features2"
            self._new_parser()  # a new stream (RFC 6120 6.4.6); the parser is replaced after this event
            self._open()
        elif self.state == "auth" and name == "failure":
            self._fail("SASL failure")
        elif self.state == "features2" and name == "stream:features":
            self.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                      "<resource>r</resource></bind></iq>")
            self.state = "bind"
        elif self.state == "bind" and name == "iq" and attrs.get("id") == "bind":
            if attrs.get("type") != "result":
                self._fail("bind refused")
                return
            self.send("<presence/>")
            self.state = "ready"
            if not self.ready.done():
                self.ready.set_result(True)
        elif name == "stream:error":
            self._fail(f"stream error {children[:2]}")

    async def iq(self, to: str, payload: str, iid: str, typ: str = "set", timeout: float = 30.0):
        fut = asyncio.get_running_loop().create_future()
        self.iq_waiters[iid] = fut
        self.send(f"<iq type='{typ}' id={quoteattr(iid)} to={quoteattr(to)}>{payload}</iq>")
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            self.iq_waiters.pop(iid, None)


# --------------------------------------------------------------------------- IRC peers


class IrcPeer(asyncio.Protocol):
    """A raw IRC client on ngircd: registers, joins its channels, answers PING, counts (and
    time-stamps) the gateway users' PRIVMSGs."""

    def __init__(self, drv: "Driver", k: int):
        self.d = drv
        self.nick = f"peer{k}"
        self.t = None
        self.buf = b""
        self.registered = asyncio.get_running_loop().create_future()
        self.joined = 0
        self.errors: list[str] = []

    def connection_made(self, transport):
        self.t = transport
        transport.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.t.write(f"NICK {self.nick}\r\nUSER {self.nick} 0 * :bench peer\r\n".encode())

    def connection_lost(self, exc):
        if not self.registered.done():
            self.registered.set_exception(RuntimeError(f"{self.nick}: connection lost"))
        elif self.d.running:
            self.d.lost += 1

    def data_received(self, data):
        self.buf += data
        lines = self.buf.split(b"\r\n")
        self.buf = lines.pop()
        for raw in lines:
            self.line(raw.decode("utf-8", "replace"))
        if len(self.buf) > 65536:
            self.t.close()

    def line(self, line: str):
        if line.startswith("PING"):
            self.t.write(("PONG" + line[4:] + "\r\n").encode())
            return
        parts = line.split(" ", 3)
        if len(parts) < 2:
            return
        cmd = parts[1]
        if cmd == "PRIVMSG" and len(parts) == 4:
            text = parts[3][1:] if parts[3].startswith(":") else parts[3]
            if text.startswith("X"):
                self.d.x_recv += 1
                try:
                    seq = int(text[1:].split()[0])
                except ValueError:
                    return
                t0 = self.d.x_sent.pop(seq, None)
                if t0 is not None:
                    self.d.x_lat.append(time.perf_counter() - t0)
        elif cmd == "001":
            if not self.registered.done():
                self.registered.set_result(True)
        elif cmd == "366":
            self.joined += 1
        elif cmd[:1] in ("4", "5") and len(cmd) == 3:
            self.errors.append(line[:200])

    def send(self, data: str):
        self.t.write(data.encode())


# --------------------------------------------------------------------------- driver


class Driver:
    def __init__(self, args):
        self.args = args
        self.running = False
        self.reset()

    def reset(self):
        self.lost = 0
        self.joined: dict[str, float] = {}
        self.join_errors = 0
        self.join_waiters: dict[str, asyncio.Future] = {}
        self.x_sent: dict[int, float] = {}
        self.x_lat: list[float] = []
        self.x_recv = 0
        self.i_sent: dict[int, float] = {}
        self.i_lat: list[float] = []
        self.i_recv = 0
        self.reflections = 0
        self.msg_errors = 0
        self.iq_to_users = 0

    def stanza(self, user: XmppUser, name, attrs, children, body):
        typ = attrs.get("type")
        if name == "message":
            if typ == "error":
                self.msg_errors += 1
                return
            if body is None:
                return
            if body.startswith("I"):
                self.i_recv += 1
                try:
                    seq = int(body[1:].split()[0])
                except ValueError:
                    return
                t0 = self.i_sent.pop(seq, None)
                if t0 is not None:
                    self.i_lat.append(time.perf_counter() - t0)
            elif body.startswith("X"):
                self.reflections += 1
        elif name == "presence":
            bare = user.jid.split("/", 1)[0]
            if typ == "error":
                self.join_errors += 1
                w = self.join_waiters.pop(bare, None)
                if w and not w.done():
                    w.set_result(False)
                return
            if typ == "unavailable":
                return
            if any(n == "status" and a.get("code") == "110" for n, a in children):
                if bare not in self.joined:
                    self.joined[bare] = time.perf_counter()
                w = self.join_waiters.pop(bare, None)
                if w and not w.done():
                    w.set_result(True)
        elif name == "iq":
            iid = attrs.get("id", "")
            if typ in ("result", "error"):
                w = user.iq_waiters.pop(iid, None)
                if w and not w.done():
                    w.set_result((typ, attrs, children))
                return
            self.iq_to_users += 1
            frm = attrs.get("from", "")
            if typ == "get" and any(a.get("xmlns") == "http://jabber.org/protocol/disco#info" for n, a in children):
                user.send(f"<iq type='result' id={quoteattr(iid)} to={quoteattr(frm)}>"
                          f"<query xmlns='http://jabber.org/protocol/disco#info'>"
                          f"<identity category='client' type='pc' name='bench'/>"
                          f"<feature var='http://jabber.org/protocol/disco#info'/></query></iq>")
            else:
                user.send(f"<iq type='error' id={quoteattr(iid)} to={quoteattr(frm)}>"
                          f"<error type='cancel'><service-unavailable "
                          f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")


class Run:
    """One gateway between its own Prosody and ngircd."""

    def __init__(self, drv: Driver, which: str, workdir: Path, args):
        self.d, self.which, self.dir, self.args = drv, which, workdir, args
        self.n = args.users
        self.group = max(1, args.group)
        self.nchan = max(1, self.n // self.group)
        self.users: list[XmppUser] = []
        self.peers: list[IrcPeer] = []
        self.gw = None
        self.prosody = None
        self.ircd = None

    def chan(self, i: int) -> str:
        return f"#c{i % self.nchan}"

    def room(self, i: int) -> str:
        return f"{self.chan(i)}%{IRC_HOST}@{self.gw.domain}"

    def procs(self) -> dict[str, int]:
        return {"gateway": self.gw.proc.pid, "prosody": self.prosody.proc.pid, "ngircd": self.ircd.proc.pid}

    def cpu(self) -> dict[str, float]:
        c = {k: cpu_seconds(pid) for k, pid in self.procs().items()}
        c["driver"] = self_cpu()
        return c

    async def start_servers(self, pontoon_bin: Path, shm: Path):
        args = self.args
        self.ircd = BenchNgircd(self.dir / "ngircd", port=IRC_PORT, name="irc.bench")
        self.ircd.start()
        comps = {"pontoon.bench": SECRET, "biboumi.bench": SECRET}
        self.prosody = BenchProsody(self.dir / "prosody", components=comps,
                                    accounts={f"u{i}": PASSWORD for i in range(self.n)})
        try:
            self.prosody.start(timeout=30)
        finally:
            if self.prosody.proc is not None:
                track(self.prosody.proc)
        self.gw = make_gateway(self.which, self.dir, self.prosody.component_port, pontoon_bin, shm, self.n)
        loop = asyncio.get_running_loop()
        # XMPP users log in (Prosody's work; the gateway is not started yet).
        t0, c0 = time.perf_counter(), cpu_seconds(self.prosody.proc.pid)
        sem = asyncio.Semaphore(args.login_window)

        async def login(i: int):
            async with sem:
                _, u = await loop.create_connection(lambda: XmppUser(self.d, i), "127.0.0.1", self.prosody.c2s_port)
                await asyncio.wait_for(u.ready, 30)
                return u

        self.users = list(await asyncio.wait_for(asyncio.gather(*(login(i) for i in range(self.n))), 120))
        login = {"users": self.n, "seconds": time.perf_counter() - t0,
                 "prosody_cpu_s": cpu_seconds(self.prosody.proc.pid) - c0}
        # IRC peers register and join their channels (before the gateway users, as on a
        # network where the channels exist).
        for k in range(min(args.peers, self.nchan)):
            _, p = await loop.create_connection(lambda k=k: IrcPeer(self.d, k), IRC_HOST, IRC_PORT)
            self.peers.append(p)
        await asyncio.wait_for(asyncio.gather(*(p.registered for p in self.peers)), 30)
        want = {}
        for c in range(self.nchan):
            p = self.peers[c % len(self.peers)]
            want.setdefault(p, []).append(f"#c{c}")
        for p, chans in want.items():
            for j in range(0, len(chans), 30):
                p.send(f"JOIN {','.join(chans[j:j + 30])}\r\n")
        ok = await until(lambda: all(p.joined >= len(want[p]) for p in want), 30)
        if not ok:
            raise RuntimeError(f"IRC peers did not join their channels: {[p.errors[:3] for p in self.peers]}")
        self.peer_of_chan = {f"#c{c}": self.peers[c % len(self.peers)] for c in range(self.nchan)}
        # The gateway: started, then up once Prosody routes to its domain (disco#info answered).
        self.gw.start()
        u0 = self.users[0]
        t0 = time.monotonic()
        k = 0
        while True:
            if self.gw.proc.poll() is not None:
                raise RuntimeError(f"{self.gw.label} exited at start (see {self.gw.dir})")
            k += 1
            try:
                typ, _, _ = await u0.iq(self.gw.domain, "<query xmlns='http://jabber.org/protocol/disco#info'/>",
                                        f"up{k}", typ="get", timeout=5)
                if typ == "result":
                    break
            except asyncio.TimeoutError:
                pass
            if time.monotonic() - t0 > 30:
                raise RuntimeError(f"{self.gw.label} did not come up behind Prosody in 30 s")
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # let it settle (store, timers)
        return login

    async def setup_users(self):
        by_jid = {u.jid: u for u in self.users}

        async def iq(user: str, to: str, payload: str, iid: str):
            return await by_jid[user].iq(to, payload, iid)

        await self.gw.setup_users(iq, [u.jid for u in self.users])

    async def join_all(self) -> dict:
        d = self.d
        sem = asyncio.Semaphore(self.args.join_window)
        c0 = self.cpu()
        drops0 = listen_drops()
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()

        async def one(u: XmppUser):
            async with sem:
                fut = loop.create_future()
                d.join_waiters[u.jid.split("/")[0]] = fut
                u.send(f"<presence to='{self.room(u.i)}/u{u.i}'><x xmlns='http://jabber.org/protocol/muc'>"
                       f"<history maxstanzas='0'/></x></presence>")
                try:
                    await asyncio.wait_for(fut, 30)
                except asyncio.TimeoutError:
                    pass

        try:
            await asyncio.wait_for(asyncio.gather(*(one(u) for u in self.users)), self.args.join_timeout)
        except asyncio.TimeoutError:
            pass
        last = max(d.joined.values()) if d.joined else time.perf_counter()
        c1 = self.cpu()
        drops1 = listen_drops()
        return {"online": len(d.joined), "seconds": last - t0, "errors": d.join_errors,
                "cpu_s": {k: c1[k] - c0[k] for k in c0},
                # SYNs dropped meanwhile (ngircd listens with a backlog of 10; each drop costs
                # the connecting gateway a 1 s SYN retransmission)
                "listen_drops": None if drops0 is None or drops1 is None else drops1 - drops0}

    async def idle(self, seconds: float) -> dict:
        c0, t0 = self.cpu(), time.perf_counter()
        await asyncio.sleep(seconds)
        c1, t1 = self.cpu(), time.perf_counter()
        return {k: (c1[k] - c0[k]) / (t1 - t0) for k in c0}  # cores

    def _x(self, seq: int) -> tuple[XmppUser, str]:
        u = self.users[seq % self.n]
        return u, (f"<message to='{self.room(u.i)}' type='groupchat' id='x{seq}'><body>X{seq}</body></message>")

    def _i(self, seq: int) -> tuple[IrcPeer, str]:
        chan = self.chan(seq)
        return self.peer_of_chan[chan], f"PRIVMSG {chan} :I{seq}\r\n"

    async def latency(self, rate: float, seconds: float, drain: float) -> dict:
        d = self.d
        out = {}
        count = int(rate * seconds)
        for key, base in (("xmpp_to_irc", 1_000_000), ("irc_to_xmpp", 2_000_000)):
            sent, lat = (d.x_sent, d.x_lat) if key == "xmpp_to_irc" else (d.i_sent, d.i_lat)
            sent.clear()
            lat.clear()
            t0 = time.perf_counter()
            for k in range(count):
                delay = t0 + k / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                seq = base + k
                conn, data = self._x(seq) if key == "xmpp_to_irc" else self._i(seq)
                sent[seq] = time.perf_counter()
                conn.send(data)
            await until(lambda: len(lat) >= count, drain)
            out[key] = {"rate": rate, "sent": count, "received": len(lat), "p50_ms": ms(pct(lat, 50)),
                        "p99_ms": ms(pct(lat, 99))}
            sent.clear()
        return out

    async def saturate(self, key: str, total: int, timeout: float, idle: dict) -> dict:
        """`total` messages as fast as they are taken, at most `window` in flight (sent and not
        yet received at the far end)."""
        d = self.d
        window = self.args.window
        x = key == "xmpp_to_irc"
        got = (lambda: d.x_recv) if x else (lambda: d.i_recv)
        r0, refl0 = got(), d.reflections
        base = 3_000_000 if x else 4_000_000
        s0 = cpu_split(self.gw.proc.pid)
        c0, t0 = self.cpu(), time.perf_counter()
        deadline = time.monotonic() + timeout
        pending: dict[IrcPeer, list[str]] = {}
        for k in range(total):
            while k - (got() - r0) > window and time.monotonic() < deadline:
                for p, lines in pending.items():
                    p.send("".join(lines))
                pending.clear()
                await asyncio.sleep(0.001)
            if time.monotonic() >= deadline:
                break
            if x:
                u, data = self._x(base + k)
                u.send(data)
            else:
                p, line = self._i(base + k)
                pending.setdefault(p, []).append(line)
            if k % 50 == 49:
                for p, lines in pending.items():
                    p.send("".join(lines))
                pending.clear()
                await asyncio.sleep(0)
        for p, lines in pending.items():
            p.send("".join(lines))
        pending.clear()
        if x:
            await until(lambda: got() - r0 >= total and d.reflections - refl0 >= total,
                        max(0.5, deadline - time.monotonic()), step=0.005)
        else:
            await until(lambda: got() - r0 >= total, max(0.5, deadline - time.monotonic()), step=0.005)
        t1, c1 = time.perf_counter(), self.cpu()
        s1 = cpu_split(self.gw.proc.pid)
        n = got() - r0
        secs = t1 - t0
        cpu = {k: c1[k] - c0[k] for k in c0}
        g = cpu["gateway"]
        idle_g = idle["gateway"]
        r = {"sent": total, "received": n, "seconds": secs, "msgs_per_s": n / secs if secs else None,
             "cpu_s": g, "user_s": s1[0] - s0[0], "sys_s": s1[1] - s0[1],
             "cpu_s_per_10k_gross": g / n * 10_000 if n else None,
             "cpu_s_per_10k_net": (g - idle_g * secs) / n * 10_000 if n and g > idle_g * secs else None,
             "idle_cores_subtracted": idle_g,
             "cpu_s_per_10k_by_process": {k: v / n * 10_000 if n else None for k, v in cpu.items()},
             "complete": n >= total}
        if x:
            r["reflections"] = d.reflections - refl0
        return r

    def stop(self):
        for u in self.users:
            if u.t:
                u.t.abort()
        for p in self.peers:
            if p.t:
                p.t.abort()
        for srv in (self.gw, self.prosody, self.ircd):
            if srv is None:
                continue
            proc = srv.proc
            try:
                if isinstance(srv, Ngircd):
                    srv.cleanup()
                else:
                    srv.stop()
            except Exception as e:  # noqa: BLE001 - stop the others anyway
                log(f"stopping {type(srv).__name__}: {e}")
            if proc is not None:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(5)
                LIVE.discard(proc)


async def bench_one(drv: Driver, which: str, workdir: Path, pontoon_bin: Path, shm: Path, args) -> dict:
    run = Run(drv, which, workdir, args)
    drv.reset()
    r: dict = {"label": LABELS[which], "users": args.users, "group": run.group, "peers": min(args.peers, run.nchan)}
    log(f"{LABELS[which]}: {args.users} XMPP users through Prosody, {run.nchan} channels on ngircd")
    try:
        r["c2s_login"] = await run.start_servers(pontoon_bin, shm)
        drv.running = True
        r["rss_idle_kib"] = rss_kib(run.gw.proc.pid)
        r["prosody_rss_kib_before_joins"] = rss_kib(run.prosody.proc.pid)
        await run.setup_users()
        j = await run.join_all()
        r["join"] = j
        log(f"  logins {r['c2s_login']['seconds']:.2f} s; online {j['online']}/{args.users} in {j['seconds']:.2f} s "
            f"({j['errors']} errors, {j['listen_drops']} SYNs dropped by full listen queues)")
        await asyncio.sleep(2.0)
        r["rss_joined_kib"] = rss_kib(run.gw.proc.pid)
        r["rss_per_session_kib"] = (r["rss_joined_kib"] - r["rss_idle_kib"]) / args.users
        r["idle_cores"] = await run.idle(args.idle_seconds)
        log(f"  RSS idle {r['rss_idle_kib']} KiB, joined {r['rss_joined_kib']} KiB; idle CPU "
            + ", ".join(f"{k} {v * 100:.2f} %" for k, v in r["idle_cores"].items()))
        if j["online"] == 0:
            raise RuntimeError("no session came online")
        r["latency"] = await run.latency(args.rate, args.latency_seconds, args.drain)
        log(f"  latency {r['latency']}")
        for key in ("xmpp_to_irc", "irc_to_xmpp"):
            reps = []
            for rep in range(args.repeats):
                counter = (lambda: drv.x_recv) if key == "xmpp_to_irc" else (lambda: drv.i_recv)
                before = counter()
                one = await run.saturate(key, args.messages, args.sat_timeout, r["idle_cores"])
                log(f"  saturation {key} #{rep + 1}: {one['received']}/{one['sent']} in {one['seconds']:.2f} s, "
                    f"gateway {one['cpu_s']:.2f} CPU s (user {one['user_s']:.2f}, sys {one['sys_s']:.2f}); per 10k: "
                    + ", ".join(f"{k} {v:.2f} s" for k, v in one["cpu_s_per_10k_by_process"].items() if v is not None))
                reps.append(one)
                # let a gateway that fell behind finish its backlog (not measured), bounded
                await until(lambda: counter() - before >= args.messages, args.sat_timeout / 2)
                await asyncio.sleep(1.0)
                if not one["complete"]:
                    break  # capped by the time limit: repeating would only stack backlogs
            ok = [x for x in reps if x["cpu_s_per_10k_gross"] is not None] or reps
            med = sorted(ok, key=lambda x: x["cpu_s_per_10k_gross"] or 0)[len(ok) // 2]
            r[f"sat_{key}"] = dict(med, repeats=reps)
        r["rss_after_traffic_kib"] = rss_kib(run.gw.proc.pid)
        r["prosody_rss_kib"] = rss_kib(run.prosody.proc.pid)
        r["ngircd_rss_kib"] = rss_kib(run.ircd.proc.pid)
        r["message_errors"] = drv.msg_errors
        r["iq_to_users"] = drv.iq_to_users
        r["connections_lost"] = drv.lost
        r["peer_errors"] = [e for p in run.peers for e in p.errors[:5]]
    finally:
        drv.running = False
        run.stop()
    if isinstance(run.gw, BiboumiGw):
        try:
            r["biboumi_db"] = run.gw.verify_db(args.users)
        except Exception as e:  # noqa: BLE001
            r["biboumi_db"] = {"error": str(e)}
    return r


async def main_async(args) -> dict:
    drv = Driver(args)
    out_dir = Path(args.workdir).resolve()
    pontoon_bin = Path(args.pontoon_bin).resolve()
    shm = Path("/dev/shm") / f"pontoon-bench-real-{os.getpid()}"
    versions = {}
    for pkg in ("biboumi", "prosody", "ngircd"):
        try:
            versions[pkg] = subprocess.run(["dpkg-query", "-W", "-f=${Version}", pkg], capture_output=True,
                                           text=True, timeout=30).stdout
        except (OSError, subprocess.TimeoutExpired):
            versions[pkg] = None
    gateways = args.gateways.split(",")
    for which in gateways:
        if which not in LABELS:
            raise SystemExit(f"unknown gateway {which}")
    results = {"setup": "real-peers", "versions": versions,
               "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
               "params": {k: v for k, v in vars(args).items()}, "rounds": args.rounds, "order": [],
               "gateways": {}}
    per: dict[str, list] = {which: [] for which in gateways}
    try:
        for rnd, order, rdir, rshm in round_plan(gateways, args.rounds, out_dir, shm):
            results["order"].append(order)
            for pos, which in enumerate(order):
                log(f"round {rnd + 1}/{args.rounds}, gateway {pos + 1}/{len(order)}: {which}")
                r = await bench_one(drv, which, rdir / which, pontoon_bin, rshm, args)
                per[which].append(dict(r, round=rnd + 1, position=pos + 1))
                await asyncio.sleep(0.5)
    finally:
        subprocess.run(["rm", "-rf", str(shm)], timeout=60)
    for which in gateways:
        rounds = per[which]
        # The gateway's entry has the single pass's shape (its per-figure median over the
        # rounds; one round's own figures when there is one), plus every round's raw figures.
        agg = median_tree([{k: v for k, v in r.items() if k not in ("round", "position")} for r in rounds]) or {}
        agg["rounds"] = rounds
        results["gateways"][which] = agg
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pontoon-bin", default=str(REPO / "target" / "release" / "pontoon"))
    ap.add_argument("--gateways", default="pontoon,pontoon-nohist,biboumi-nohist,biboumi-default")
    ap.add_argument("--users", type=int, default=200, help="XMPP users (c2s sessions), each joined through the gateway")
    ap.add_argument("--group", type=int, default=1, help="users per channel")
    ap.add_argument("--peers", type=int, default=10, help="raw IRC clients on ngircd")
    ap.add_argument("--login-window", type=int, default=50, help="c2s logins outstanding at once")
    ap.add_argument("--join-window", type=int, default=200, help="joins outstanding at once")
    ap.add_argument("--join-timeout", type=float, default=60.0)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="messages/s for the latency runs")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--drain", type=float, default=10.0)
    ap.add_argument("--messages", type=int, default=10000, help="messages per saturation run")
    ap.add_argument("--window", type=int, default=1000, help="messages in flight at most during saturation")
    ap.add_argument("--repeats", type=int, default=3, help="saturation runs per direction (median kept)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds: every gateway once per round, the order rotated by one each round "
                         "(1 = a single pass)")
    ap.add_argument("--sat-timeout", type=float, default=30.0)
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "real"))
    ap.add_argument("--out", default=str(HERE / "tmp" / "real.json"))
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    install_signal_handlers()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(res, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
