#!/usr/bin/env python3
"""Isolated-gateway benchmark: Pontoon against biboumi, same workload, same run.

This process is both peers of the gateway under test:

- the XMPP server side of XEP-0114: it listens on a loopback port, accepts the gateway's
  component stream, checks the handshake (SHA-1 of stream id + secret), then injects stanzas
  from N synthetic users (u0@bench.local/r ...) and reads what the gateway sends back;
- a minimal IRC server on 127.0.0.2:6667: registration (CAP LS answered with an empty list,
  001-005, 422), PING/PONG, JOIN with JOIN echo + 353/366, MODE/WHO answered minimally,
  PRIVMSG counted and timestamped; it can broadcast PRIVMSG from `bot` into a channel.

Only the gateway's own cost is measured: its CPU (utime+stime from /proc/PID/stat) and RSS
(VmRSS from /proc/PID/status). Python here shares the 2 cores with the gateway, so the
throughput figures are a floor (the driver can be the bottleneck); CPU per message is not
affected by that.

Rounds (--rounds, default 3): round 1 measures every gateway in turn, then round 2 every
gateway again, starting with the second one (the order rotates by one each round), and so on;
each run is a fresh gateway process with a fresh data directory. The output keeps every round's
figures (gateways.<key>.rounds) and, under gateways.<key>.sizes, their per-figure median.

Every loop is bounded in count and time; only loopback is used; the gateway process is
stopped (SIGTERM, then SIGKILL) before the next one starts and when this script exits.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import socket
import subprocess
import time
import uuid
import xml.parsers.expat
from pathlib import Path
from xml.sax.saxutils import quoteattr

from common import (HERE, IRC_HOST, IRC_PORT, LABELS, REPO, SECRET, BiboumiGw, Gateway,
                    cpu_seconds, cpu_split, install_signal_handlers, log, make_gateway, median_tree, ms, pct,
                    round_plan, rss_kib, until, windowed)

USER_DOMAIN = "bench.local"


# --------------------------------------------------------------------------- fake IRC server


class IrcConn(asyncio.Protocol):
    def __init__(self, srv: "IrcServer"):
        self.srv = srv
        self.buf = b""
        self.nick = None
        self.user = None
        self.cap = False
        self.registered = False
        self.chans: set[str] = set()
        self.t = None

    def connection_made(self, transport):
        self.t = transport
        self.srv.conns.add(self)

    def connection_lost(self, exc):
        self.srv.conns.discard(self)
        for c in self.chans:
            self.srv.channels.get(c, set()).discard(self)

    def send(self, line: str):
        self.t.write(line.encode() + b"\r\n")

    def data_received(self, data):
        self.buf += data
        while True:
            i = self.buf.find(b"\n")
            if i < 0:
                break
            line, self.buf = self.buf[:i].rstrip(b"\r"), self.buf[i + 1:]
            if line:
                self.line(line.decode("utf-8", "replace"))
        if len(self.buf) > 65536:
            self.t.close()

    def line(self, line: str):
        s = self.srv
        if line.startswith(":"):
            line = line.split(" ", 1)[1] if " " in line else ""
        trailing = None
        if " :" in line:
            line, trailing = line.split(" :", 1)
        parts = line.split()
        if not parts:
            return
        cmd = parts[0].upper()
        args = parts[1:] + ([trailing] if trailing is not None else [])
        if cmd == "PRIVMSG" and len(args) >= 2:
            s.privmsg_count += 1
            text = args[1]
            if text.startswith("X"):
                try:
                    seq = int(text[1:].split()[0])
                except ValueError:
                    return
                t0 = s.driver.x_sent.pop(seq, None)
                if t0 is not None:
                    s.driver.x_lat.append(time.perf_counter() - t0)
            return
        if cmd == "PING":
            self.send(f":{s.name} PONG {s.name} :{args[0] if args else ''}")
        elif cmd == "CAP":
            sub = args[0].upper() if args else ""
            if sub == "LS":
                self.cap = True
                self.send(f":{s.name} CAP * LS :")
            elif sub == "REQ":
                self.send(f":{s.name} CAP * NAK :{args[1] if len(args) > 1 else ''}")
            elif sub == "END":
                self.cap = False
                self.maybe_welcome()
        elif cmd == "NICK" and args:
            if self.registered:
                self.send(f":{self.nick}!{self.user}@{IRC_HOST} NICK :{args[0]}")
            self.nick = args[0]
            self.maybe_welcome()
        elif cmd == "USER" and args:
            self.user = args[0]
            self.maybe_welcome()
        elif cmd == "JOIN" and args and self.registered:
            for chan in args[0].split(","):
                self.join(chan)
        elif cmd == "PART" and args:
            for chan in args[0].split(","):
                members = s.channels.get(chan.lower(), set())
                members.discard(self)
                self.chans.discard(chan.lower())
                self.send(f":{self.nick}!{self.user}@{IRC_HOST} PART {chan}")
        elif cmd == "MODE" and args:
            if args[0].startswith("#") and len(args) == 1:
                self.send(f":{s.name} 324 {self.nick} {args[0]} +nt")
        elif cmd == "WHO" and args:
            self.send(f":{s.name} 315 {self.nick} {args[0]} :End of WHO list")
        elif cmd == "QUIT":
            self.t.close()

    def maybe_welcome(self):
        if self.registered or not self.nick or not self.user or self.cap:
            return
        self.registered = True
        n, srv = self.nick, self.srv.name
        self.srv.registrations += 1
        self.t.write(
            (
                f":{srv} 001 {n} :Welcome to the bench network {n}\r\n"
                f":{srv} 002 {n} :Your host is {srv}\r\n"
                f":{srv} 003 {n} :This server was created today\r\n"
                f":{srv} 004 {n} {srv} bench-1 io ntklovb\r\n"
                f":{srv} 005 {n} CHANTYPES=# PREFIX=(ov)@+ CASEMAPPING=ascii NICKLEN=30 CHANNELLEN=50 "
                f"NETWORK=bench :are supported on this server\r\n"
                f":{srv} 422 {n} :MOTD File is missing\r\n"
            ).encode()
        )

    def join(self, chan: str):
        s = self.srv
        key = chan.lower()
        members = s.channels.setdefault(key, set())
        if self in members:
            return
        prefix = f":{self.nick}!{self.user}@{IRC_HOST} JOIN :{chan}\r\n".encode()
        for m in members:
            m.t.write(prefix)
        members.add(self)
        self.chans.add(key)
        names = " ".join(["@bot"] + [m.nick for m in members])
        self.t.write(
            prefix
            + f":{s.name} 353 {self.nick} = {chan} :{names}\r\n:{s.name} 366 {self.nick} {chan} :End of NAMES list\r\n".encode()
        )


class IrcServer:
    def __init__(self, driver):
        self.driver = driver
        self.name = "irc.bench"
        self.conns: set[IrcConn] = set()
        self.channels: dict[str, set[IrcConn]] = {}
        self.privmsg_count = 0
        self.registrations = 0
        self.server = None

    async def start(self):
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: IrcConn(self), IRC_HOST, IRC_PORT, backlog=4096,
                                               reuse_address=True)

    def broadcast(self, chan: str, text: str) -> int:
        members = self.channels.get(chan.lower(), ())
        line = f":bot!b@{self.name} PRIVMSG {chan} :{text}\r\n".encode()
        for m in members:
            m.t.write(line)
        return len(members)

    async def close(self):
        for c in list(self.conns):
            c.t.abort()
        if self.server:
            self.server.close()
            await self.server.wait_closed()
        self.conns.clear()
        self.channels.clear()


# --------------------------------------------------------------------------- XMPP server side


class ComponentLink(asyncio.Protocol):
    """One accepted XEP-0114 stream; stanzas parsed with expat, handled by the driver."""

    def __init__(self, driver):
        self.d = driver
        self.t = None
        self.stream_id = uuid.uuid4().hex
        self.authed = asyncio.get_running_loop().create_future()
        self.p = xml.parsers.expat.ParserCreate()
        self.p.buffer_text = True
        self.p.StartElementHandler = self.start
        self.p.EndElementHandler = self.end
        self.p.CharacterDataHandler = self.chars
        self.depth = 0
        self.cur = None  # [name, attrs, children(list of (name, attrs)), body, text]
        self.text_target = None

    def connection_made(self, transport):
        self.t = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def data_received(self, data):
        try:
            self.p.Parse(data, False)
        except xml.parsers.expat.ExpatError as e:
            log(f"component stream: XML error {e}")
            self.t.close()

    def connection_lost(self, exc):
        self.d.link_lost()

    def start(self, name, attrs):
        self.depth += 1
        if self.depth == 1:
            to = attrs.get("to", "")
            self.t.write(
                f"<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' "
                f"xmlns='jabber:component:accept' from={quoteattr(to)} id='{self.stream_id}'>".encode()
            )
        elif self.depth == 2:
            self.cur = [name, attrs, [], None, []]
            self.text_target = "hs" if name == "handshake" else None
        elif self.depth >= 3:
            self.cur[2].append((name, attrs))
            self.text_target = "body" if (name == "body" and self.depth == 3) else None

    def chars(self, data):
        if self.text_target is not None and self.cur is not None:
            self.cur[4].append(data)

    def end(self, name):
        if self.depth == 3 and self.text_target == "body":
            self.cur[3] = "".join(self.cur[4])
            self.text_target = None
        elif self.depth == 2:
            st, self.cur = self.cur, None
            if st[0] == "handshake":
                want = hashlib.sha1((self.stream_id + SECRET).encode()).hexdigest()
                got = "".join(st[4]).strip()
                if got == want:
                    self.t.write(b"<handshake/>")
                    if not self.authed.done():
                        self.authed.set_result(True)
                else:
                    self.t.write(b"<stream:error><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                                 b"</stream:error></stream:stream>")
                    if not self.authed.done():
                        self.authed.set_exception(RuntimeError("bad handshake"))
                    self.t.close()
            else:
                self.d.stanza(st[0], st[1], st[2], st[3])
        self.depth -= 1

    def send(self, data: str):
        self.t.write(data.encode())


class Driver:
    def __init__(self, args):
        self.args = args
        self.irc = IrcServer(self)
        self.link: ComponentLink | None = None
        self.link_waiter: asyncio.Future | None = None
        self.reset()

    def reset(self):
        self.joined: dict[str, float] = {}  # bare jid -> time of self-presence
        self.join_errors = 0
        self.join_waiters: dict[str, asyncio.Future] = {}
        self.iq_waiters: dict[str, asyncio.Future] = {}
        self.x_sent: dict[int, float] = {}
        self.x_lat: list[float] = []
        self.i_sent: dict[int, float] = {}
        self.i_lat: list[float] = []
        self.i_recv = 0
        self.reflections = 0
        self.msg_errors = 0
        self.stanzas_in = 0
        self.other_iq = 0

    # -- link
    async def listen(self):
        loop = asyncio.get_running_loop()

        def factory():
            link = ComponentLink(self)
            self.link = link
            if self.link_waiter and not self.link_waiter.done():
                self.link_waiter.set_result(link)
            return link

        self.comp_server = await loop.create_server(factory, "127.0.0.1", 0)
        self.comp_port = self.comp_server.sockets[0].getsockname()[1]

    async def start_gateway(self, gw: Gateway) -> int:
        """Starts `gw` (after a reset), waits for its component handshake and lets it settle
        (store, timers) 1.5 s; returns its pid."""
        self.reset()
        self.link_waiter = asyncio.get_running_loop().create_future()
        gw.start()
        link = await asyncio.wait_for(self.link_waiter, 30)
        await asyncio.wait_for(link.authed, 30)
        await asyncio.sleep(1.5)
        if gw.proc.poll() is not None:
            raise RuntimeError(f"{gw.label} exited at start")
        return gw.proc.pid

    def link_lost(self):
        log("component link closed by the gateway")

    # -- stanzas from the gateway
    def stanza(self, name, attrs, children, body):
        self.stanzas_in += 1
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
                t0 = self.i_sent.get(seq)
                if t0 is not None:
                    self.i_lat.append(time.perf_counter() - t0)
            elif body.startswith("X"):
                self.reflections += 1
        elif name == "presence":
            to = attrs.get("to", "")
            bare = to.split("/", 1)[0]
            if typ == "error":
                frm = attrs.get("from", "")
                if "@" in frm and "/" in frm:
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
                w = self.iq_waiters.pop(iid, None)
                if w and not w.done():
                    w.set_result((typ, attrs, children))
                return
            self.other_iq += 1
            frm, to = attrs.get("from", ""), attrs.get("to", "")
            if any(a.get("xmlns") == "http://jabber.org/protocol/disco#info" for n, a in children):
                self.link.send(f"<iq type='result' id={quoteattr(iid)} from={quoteattr(to)} to={quoteattr(frm)}>"
                               f"<query xmlns='http://jabber.org/protocol/disco#info'>"
                               f"<identity category='client' type='pc' name='bench'/>"
                               f"<feature var='http://jabber.org/protocol/disco#info'/></query></iq>")
            else:
                self.link.send(f"<iq type='error' id={quoteattr(iid)} from={quoteattr(to)} to={quoteattr(frm)}>"
                               f"<error type='cancel'><service-unavailable "
                               f"xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>")

    async def iq(self, xml_text: str, iid: str, timeout=30.0):
        fut = asyncio.get_running_loop().create_future()
        self.iq_waiters[iid] = fut
        self.link.send(xml_text)
        return await asyncio.wait_for(fut, timeout)

    async def user_iq(self, user: str, to: str, payload: str, iid: str, timeout=30.0):
        """An iq of type set from a synthetic user (for BiboumiGw.setup_users)."""
        return await self.iq(f"<iq type='set' id={quoteattr(iid)} from={quoteattr(user)} to={quoteattr(to)}>"
                             f"{payload}</iq>", iid, timeout)


# --------------------------------------------------------------------------- phases


class Run:
    def __init__(self, drv: Driver, gw: Gateway, n: int, group: int):
        self.d, self.gw, self.n, self.group = drv, gw, n, group
        self.users = [f"u{i}@{USER_DOMAIN}/r" for i in range(n)]
        self.nchan = max(1, n // group)

    def chan(self, i: int) -> str:
        return f"#c{i % self.nchan}"

    async def start(self):
        d = self.d
        self.pid = await d.start_gateway(self.gw)
        self.rss_idle = rss_kib(self.pid)
        self.anon_idle = rss_kib(self.pid, "RssAnon")
        await self.gw.setup_users(d.user_iq, self.users)

    async def join_all(self, window: int, timeout: float) -> dict:
        """Each user sends a MUC join; at most `window` joins outstanding. Time until every
        self-presence (status 110) came back."""
        d = self.d
        cpu0 = cpu_seconds(self.pid)
        t0 = time.perf_counter()

        def send(i: int):
            d.link.send(f"<presence from='{self.users[i]}' to='{self.gw.room(self.chan(i))}/u{i}'>"
                        f"<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>")

        await windowed(self.n, window, send, d.join_waiters, lambda i: self.users[i].split("/")[0], 30, timeout)
        t1 = time.perf_counter()
        ok = len(d.joined)
        return {"online": ok, "seconds": t1 - t0, "errors": d.join_errors, "cpu_s": cpu_seconds(self.pid) - cpu0,
                "irc_registrations": self.d.irc.registrations}

    async def idle_cpu(self, seconds: float) -> float:
        c0, t0 = cpu_seconds(self.pid), time.perf_counter()
        await asyncio.sleep(seconds)
        return (cpu_seconds(self.pid) - c0) / (time.perf_counter() - t0)  # cores

    def _x_stanza(self, seq: int) -> str:
        i = seq % self.n
        return (f"<message from='{self.users[i]}' to='{self.gw.room(self.chan(i))}' type='groupchat' id='x{seq}'>"
                f"<body>X{seq}</body></message>")

    async def latency(self, rate: float, seconds: float, drain: float) -> dict:
        """XMPP->IRC then IRC->XMPP at a fixed rate (messages per second), one message at a time
        (for IRC->XMPP: channel lines at rate/group, each delivered to `group` users)."""
        d = self.d
        out = {}
        # XMPP -> IRC
        d.x_lat.clear()
        d.x_sent.clear()
        count = int(rate * seconds)
        base = 1_000_000
        t0 = time.perf_counter()
        for k in range(count):
            target = t0 + k / rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = base + k
            d.x_sent[seq] = time.perf_counter()
            d.link.send(self._x_stanza(seq))
        await until(lambda: not d.x_sent, drain)
        lat = d.x_lat
        out["xmpp_to_irc"] = {"rate": rate, "sent": count, "received": len(lat), "late_or_lost": len(d.x_sent),
                              "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99))}
        d.x_sent.clear()
        # IRC -> XMPP
        d.i_lat.clear()
        d.i_sent.clear()
        lines = int(rate / self.group * seconds)
        line_rate = rate / self.group
        expected = 0
        t0 = time.perf_counter()
        for k in range(lines):
            target = t0 + k / line_rate
            delay = target - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            seq = base + k
            d.i_sent[seq] = time.perf_counter()
            expected += d.irc.broadcast(self.chan(k), f"I{seq}")
        await until(lambda: len(d.i_lat) >= expected, drain)
        lat = d.i_lat
        out["irc_to_xmpp"] = {"rate": rate, "lines": lines, "deliveries_expected": expected, "received": len(lat),
                              "p50_ms": ms(pct(lat, 50)), "p99_ms": ms(pct(lat, 99))}
        return out

    async def saturate_x(self, total: int, timeout: float, idle_cores: float) -> dict:
        """`total` groupchat stanzas XMPP->IRC, written as fast as the link takes them."""
        d = self.d
        p0, r0 = d.irc.privmsg_count, d.reflections
        s0 = cpu_split(self.pid)
        c0, t0 = cpu_seconds(self.pid), time.perf_counter()
        chunk = []
        base = 2_000_000
        for k in range(total):
            chunk.append(self._x_stanza(base + k))
            if len(chunk) == 250:
                d.link.send("".join(chunk))
                chunk.clear()
                # bounded buffering: wait while the gateway has not read what we wrote
                while d.link.t.get_write_buffer_size() > 1 << 20 and time.perf_counter() - t0 < timeout:
                    await asyncio.sleep(0.005)
                await asyncio.sleep(0)
        if chunk:
            d.link.send("".join(chunk))
        await until(lambda: d.irc.privmsg_count - p0 >= total and d.reflections - r0 >= total,
                    max(1.0, timeout - (time.perf_counter() - t0)), step=0.005)
        t1, c1 = time.perf_counter(), cpu_seconds(self.pid)
        got = d.irc.privmsg_count - p0
        s1 = cpu_split(self.pid)
        return self._sat("xmpp_to_irc", total, got, t1 - t0, c1 - c0, idle_cores,
                         extra={"reflections": d.reflections - r0, "user_s": s1[0] - s0[0], "sys_s": s1[1] - s0[1]})

    async def saturate_i(self, total: int, timeout: float, idle_cores: float) -> dict:
        """`total` deliveries IRC->XMPP: total/group channel lines broadcast by the fake server."""
        d = self.d
        r0 = d.i_recv
        s0 = cpu_split(self.pid)
        c0, t0 = cpu_seconds(self.pid), time.perf_counter()
        expected = 0
        k = 0
        base = 3_000_000
        while expected < total and k < total:  # bounded even if nobody is in the channels
            expected += d.irc.broadcast(self.chan(k), f"I{base + k}")
            k += 1
            if k % 200 == 0:
                await asyncio.sleep(0)
        await until(lambda: d.i_recv - r0 >= expected, timeout, step=0.005)
        t1, c1 = time.perf_counter(), cpu_seconds(self.pid)
        s1 = cpu_split(self.pid)
        return self._sat("irc_to_xmpp", expected, d.i_recv - r0, t1 - t0, c1 - c0, idle_cores,
                         extra={"user_s": s1[0] - s0[0], "sys_s": s1[1] - s0[1]})

    def _sat(self, name, sent, got, secs, cpu, idle_cores, extra=None):
        r = {"sent": sent, "received": got, "seconds": secs, "msgs_per_s": got / secs if secs else None,
             "cpu_s": cpu,
             "cpu_s_per_10k_gross": cpu / got * 10_000 if got else None,
             # net of the idle background measured before; None where the gateway used less CPU
             # under load than idle over the same time (its idle cost is not additive then)
             "cpu_s_per_10k_net": (cpu - idle_cores * secs) / got * 10_000 if got and cpu > idle_cores * secs else None,
             "idle_cores_subtracted": idle_cores,
             "complete": got >= sent}
        if extra:
            r.update(extra)
        return r


def callgrind_out(gw: Gateway) -> str | None:
    """The --callgrind-out-file of the profiler wrapping this gateway, if any."""
    for a in gw.argv():
        if a.startswith("--callgrind-out-file="):
            return a.split("=", 1)[1]
    return None


def callgrind_zero(pid: int):
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, timeout=60)


def callgrind_dump_ir(pid: int, out: str) -> int | None:
    """Dumps the counts since the last zero; returns the instructions (Ir) of that dump."""
    before = set(Path(out).parent.glob(Path(out).name + ".*"))
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, timeout=120)
    new = sorted(set(Path(out).parent.glob(Path(out).name + ".*")) - before, key=lambda p: p.stat().st_mtime)
    if not new:
        return None
    for line in new[-1].read_text(errors="replace").splitlines():
        if line.startswith(("summary:", "totals:")):
            return int(line.split()[1])
    return None


async def bench_gateway(drv: Driver, make_gw, sizes: list[int], args) -> dict:
    res = {"sizes": {}}
    for n in sizes:
        gw = make_gw(n)
        run = Run(drv, gw, n, args.group)
        log(f"{gw.label}: {n} sessions")
        try:
            await run.start()
            r = {"rss_idle_kib": run.rss_idle, "anon_idle_kib": run.anon_idle}
            timeout = args.join_timeout
            if n == max(args.sizes) and args.largest_join_timeout:
                timeout = args.largest_join_timeout
            j = await run.join_all(window=args.join_window, timeout=timeout)
            r["join"] = j
            log(f"  online {j['online']}/{n} in {j['seconds']:.2f} s ({j['errors']} errors)")
            await asyncio.sleep(2.0)
            r["rss_joined_kib"] = rss_kib(run.pid)
            # per session online (a gateway that did not bring all n online in time is measured
            # on those it did)
            r["rss_per_session_kib"] = (r["rss_joined_kib"] - r["rss_idle_kib"]) / max(j["online"], 1)
            r["anon_joined_kib"] = rss_kib(run.pid, "RssAnon")
            r["anon_per_session_kib"] = (r["anon_joined_kib"] - r["anon_idle_kib"]) / max(j["online"], 1)
            r["idle_cores"] = await run.idle_cpu(args.idle_seconds)
            log(f"  RSS idle {r['rss_idle_kib']} KiB, joined {r['rss_joined_kib']} KiB; idle CPU {r['idle_cores']*100:.2f} % of a core")
            if n == args.traffic_at:
                r["latency"] = await run.latency(args.rate, args.latency_seconds, drain=args.drain)
                log(f"  latency {r['latency']}")
                cg = callgrind_out(gw)
                for key, fn in (("sat_xmpp_to_irc", run.saturate_x), ("sat_irc_to_xmpp", run.saturate_i)):
                    reps = []
                    for rep in range(args.repeats if not cg else 1):
                        p_before = drv.irc.privmsg_count
                        if cg:
                            callgrind_zero(run.pid)
                        one = await fn(args.messages, args.sat_timeout, r["idle_cores"])
                        if cg:
                            ir = callgrind_dump_ir(run.pid, cg)
                            one["callgrind_ir"] = ir
                            one["ir_per_msg"] = ir / one["received"] if ir and one["received"] else None
                        log(f"  saturation {key} #{rep + 1}: {one['received']}/{one['sent']} in {one['seconds']:.2f} s, "
                            f"{one['cpu_s']:.2f} CPU s (user {one.get('user_s', 0):.2f}, sys {one.get('sys_s', 0):.2f})")
                        reps.append(one)
                        # let a gateway that fell behind finish its backlog (not measured), bounded
                        if key == "sat_xmpp_to_irc":
                            await until(lambda: drv.irc.privmsg_count - p_before >= args.messages, args.sat_timeout / 2)
                        await asyncio.sleep(1.0)
                        if not one["complete"]:
                            break  # capped by the time limit: repeating would only stack backlogs
                    # the median repetition by CPU per message; all of them are kept
                    ok = [x for x in reps if x["cpu_s_per_10k_gross"] is not None] or reps
                    med = sorted(ok, key=lambda x: x["cpu_s_per_10k_gross"] or 0)[len(ok) // 2]
                    r[key] = dict(med, repeats=reps)
                r["rss_after_traffic_kib"] = rss_kib(run.pid)
            r["stanzas_from_gateway"] = drv.stanzas_in
            r["iq_to_users"] = drv.other_iq
            r["message_errors"] = drv.msg_errors
        finally:
            gw.stop()
            await drv.irc.close()
            drv.irc = IrcServer(drv)
            await drv.irc.start()
        if isinstance(gw, BiboumiGw):
            try:
                r["biboumi_db"] = gw.verify_db(n)
            except Exception as e:  # noqa: BLE001
                r["biboumi_db"] = {"error": str(e)}
        res["sizes"][str(n)] = r
        await asyncio.sleep(0.5)
    return res


async def main_async(args) -> dict:
    drv = Driver(args)
    await drv.listen()
    await drv.irc.start()
    out_dir = Path(args.workdir).resolve()
    try:
        bv = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "biboumi"], capture_output=True, text=True).stdout
    except OSError:
        bv = None
    gateways = args.gateways.split(",")
    for which in gateways:
        if which not in LABELS:
            raise SystemExit(f"unknown gateway {which}")
    results = {"biboumi_version": bv, "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
               "params": {k: v for k, v in vars(args).items()}, "rounds": args.rounds, "order": [],
               "gateways": {}}
    # Every round's own figures, per gateway (in --gateways order, the table's columns).
    per = {which: [] for which in gateways}
    pontoon_bin = Path(args.pontoon_bin).resolve()
    shm = Path("/dev/shm") / f"pontoon-bench-{os.getpid()}"
    only = [g for g in args.largest_only_for.split(",") if g]
    largest_rounds = args.largest_rounds or args.rounds
    try:
        for rnd, order, rdir, rshm in round_plan(gateways, args.rounds, out_dir, shm):
            results["order"].append(order)
            for pos, which in enumerate(order):
                mk = lambda n, which=which, rdir=rdir, rshm=rshm: make_gateway(  # noqa: E731
                    which, rdir, drv.comp_port, pontoon_bin, rshm, n)
                sizes = args.sizes
                if (only and which not in only) or rnd >= largest_rounds:
                    sizes = [n for n in sizes if n != max(args.sizes)]
                if not sizes:
                    continue
                log(f"round {rnd + 1}/{args.rounds}, gateway {pos + 1}/{len(order)}: {which}")
                res = await bench_gateway(drv, mk, sizes, args)
                per[which].append({"round": rnd + 1, "position": pos + 1, "sizes": res["sizes"]})
    finally:
        await drv.irc.close()
        drv.comp_server.close()
        subprocess.run(["rm", "-rf", str(shm)])
    for which in gateways:
        rounds = per[which]
        # `sizes`: the per-figure median over the rounds (a single round's own figures when
        # there is one), in the single pass's shape for the readers of that shape
        # (backends_report.py, bench/profile); `rounds`: every round's raw figures.
        results["gateways"][which] = {"sizes": median_tree([r["sizes"] for r in rounds]) or {},
                                      "label": LABELS[which], "rounds": rounds}
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pontoon-bin", default=str(REPO / "target" / "release" / "pontoon"))
    ap.add_argument("--gateways", default="pontoon,pontoon-nohist,biboumi-nohist,biboumi-default")
    ap.add_argument("--sizes", default="200,1000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--traffic-at", type=int, default=1000, help="session count at which traffic is measured")
    ap.add_argument("--group", type=int, default=10, help="users per channel")
    ap.add_argument("--join-window", type=int, default=200, help="joins outstanding at once")
    ap.add_argument("--join-timeout", type=float, default=120.0)
    ap.add_argument("--largest-only-for", default="",
                    help="run the largest of --sizes only for these gateways (comma-separated; default all)")
    ap.add_argument("--largest-join-timeout", type=float, default=0.0,
                    help="join time limit at the largest of --sizes (default --join-timeout)")
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="messages/s for the latency runs")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--drain", type=float, default=10.0)
    ap.add_argument("--messages", type=int, default=20000, help="messages per saturation run")
    ap.add_argument("--repeats", type=int, default=3, help="saturation runs per direction (median kept)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds: every gateway once per round, the order rotated by one each round "
                         "(1 = a single pass)")
    ap.add_argument("--largest-rounds", type=int, default=0,
                    help="measure the largest of --sizes in the first this many rounds only (default all)")
    ap.add_argument("--sat-timeout", type=float, default=30.0)
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "isolated"))
    ap.add_argument("--out", default=str(HERE / "tmp" / "isolated.json"))
    args = ap.parse_args()
    if args.rounds < 1 or args.largest_rounds < 0:
        ap.error("--rounds must be at least 1, --largest-rounds at least 0")
    install_signal_handlers()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(res, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
