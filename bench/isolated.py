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

Every loop is bounded in count and time; only loopback is used; the gateway process is
stopped (SIGTERM, then SIGKILL) before the next one starts and when this script exits.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import uuid
import xml.parsers.expat
from pathlib import Path
from xml.sax.saxutils import escape as xesc, quoteattr

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IRC_HOST = "127.0.0.2"  # an address of its own, so nothing else on 127.0.0.1:6697 can confuse biboumi
IRC_PORT = 6667
USER_DOMAIN = "bench.local"
SECRET = "bench-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LIVE: set = set()  # gateway processes started and not yet stopped


def _on_signal(signum, _frame):
    """SIGTERM/SIGINT (e.g. from bench/run's overall timeout): kill what we started, by pid."""
    for p in list(LIVE):
        if p.poll() is None:
            p.kill()
            p.wait(5)
    os._exit(128 + signum)


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# --------------------------------------------------------------------------- /proc


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14, 15)


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds."""
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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


# --------------------------------------------------------------------------- gateways


class Gateway:
    label = ""
    domain = ""

    def __init__(self, workdir: Path, comp_port: int):
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.comp_port = comp_port
        self.proc = None

    def room(self, chan: str) -> str:
        return f"{chan}%{IRC_HOST}@{self.domain}"

    def start(self):
        self.logf = open(self.dir / "stdout.log", "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self.logf, stderr=subprocess.STDOUT,
                                     cwd=self.dir, env=self.env(), start_new_session=True)
        LIVE.add(self.proc)

    def env(self):
        e = dict(os.environ)
        e["NO_COLOR"] = "1"
        e.pop("RUST_LOG", None)
        return e

    def stop(self):
        if self.proc and self.proc.poll() is None and "callgrind" in " ".join(self.argv()[:3]):
            # a profile dump before the signal: a process killed after the grace time writes none
            subprocess.run(["callgrind_control", "-d", str(self.proc.pid)], capture_output=True, timeout=60)
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc:
            self.logf.close()
            LIVE.discard(self.proc)
        self.proc = None

    async def setup_users(self, drv: Driver, users: list[str]):
        pass


class PontoonGw(Gateway):
    label = "Pontoon"
    domain = "pontoon.bench"

    def __init__(self, workdir, comp_port, binary: Path):
        super().__init__(workdir, comp_port)
        self.bin = binary
        (self.dir / "pontoon.toml").write_text(
            "[general]\n"
            'mode = "component"\n'
            f"data_dir = {json.dumps(str(self.dir / 'data'))}\n"
            'log_level = "warn"\n'
            "[store]\n"
            'url = ""\n'
            'key_file = ""\n'
            "[component]\n"
            'host = "127.0.0.1"\n'
            f"port = {comp_port}\n"
            "[transports.irc]\n"
            f'domain = "{self.domain}"\n'
            f'secret = "{SECRET}"\n'
            'name = "IRC"\n'
            "enabled = true\n"
            "public_registration = true\n"
            "[transports.irc.options]\n"
            f'allowed_networks = ["{IRC_HOST}"]\n'
            f"connect_port = {IRC_PORT}\n"
            "connect_timeout = 10\n"
            # No pacing: the largest values the transport accepts (biboumi's throttling is off too).
            "flood_burst = 10000\n"
            "flood_per_second = 100000\n"
        )

    def argv(self):
        # BENCH_PONTOON_WRAP: a profiler command line put in front (e.g. valgrind
        # --tool=callgrind); the figures of such a run are the profiler's, not Pontoon's.
        wrap = os.environ.get("BENCH_PONTOON_WRAP", "").split()
        return wrap + [str(self.bin), "--config", str(self.dir / "pontoon.toml"), "run"]


class BiboumiGw(Gateway):
    domain = "biboumi.bench"

    def __init__(self, workdir, comp_port, history: bool, db_dir: Path):
        super().__init__(workdir, comp_port)
        self.history = history
        self.label = "biboumi (defaults: history on, on-disk SQLite)" if history else "biboumi (history off, SQLite on tmpfs)"
        self.db = db_dir / "biboumi.sqlite"
        db_dir.mkdir(parents=True, exist_ok=True)
        for p in (self.db, Path(str(self.db) + "-journal")):
            if p.exists():
                p.unlink()
        pol = self.dir / "policy"
        pol.mkdir(exist_ok=True)
        (self.dir / "biboumi.cfg").write_text(
            f"hostname={self.domain}\n"
            f"password={SECRET}\n"
            "xmpp_server_ip=127.0.0.1\n"
            f"port={comp_port}\n"
            f"db_name={self.db}\n"
            f"log_file={self.dir / 'biboumi.log'}\n"
            f"log_level={os.environ.get('BENCH_BIBOUMI_LOG_LEVEL', '2')}\n"
            "identd_port=0\n"
            f"policy_directory={pol}\n"
            "admin=admin@bench.local\n"
        )

    def argv(self):
        wrap = os.environ.get("BENCH_BIBOUMI_WRAP", "").split()  # as BENCH_PONTOON_WRAP
        return wrap + ["biboumi", str(self.dir / "biboumi.cfg")]

    async def setup_users(self, drv: Driver, users: list[str]):
        """Per user, with biboumi's own ad-hoc commands (XEP-0050 'configure'): throttle_limit=-1
        on the IRC server JID (turns its 1 line/s throttling off); with history off, also
        record_history=false on the gateway JID. Not timed."""
        sem = asyncio.Semaphore(50)
        n = 0

        async def configure(user: str, target: str, fields: dict[str, str]):
            nonlocal n
            async with sem:
                n += 1
                k = n
                i1 = f"c{k}a"
                typ, _, children = await drv.iq(
                    f"<iq type='set' id='{i1}' from='{user}' to='{target}'><command xmlns='http://jabber.org/protocol/commands' "
                    f"node='configure' action='execute'/></iq>", i1)
                sid = next((a.get("sessionid") for nm, a in children if nm == "command"), None)
                if typ != "result" or not sid:
                    raise RuntimeError(f"biboumi configure on {target} failed: {typ} {children[:3]}")
                i2 = f"c{k}b"
                fx = "".join(f"<field var='{k}'>" + "".join(f"<value>{x}</value>" for x in v) + "</field>"
                             for k, v in fields.items())
                typ, _, children = await drv.iq(
                    f"<iq type='set' id='{i2}' from='{user}' to='{target}'><command xmlns='http://jabber.org/protocol/commands' "
                    f"node='configure' sessionid={quoteattr(sid)} action='next'><x xmlns='jabber:x:data' type='submit'>{fx}"
                    f"</x></command></iq>", i2)
                if typ != "result":
                    raise RuntimeError(f"biboumi configure submit on {target} failed: {children[:3]}")

        # biboumi resets the fields a submission leaves out, so every field keeps its default
        # value (as biboumi's own form shows it) except the one changed.
        server = {"address": [IRC_HOST], "ports": ["6667"], "tls_ports": ["6697", "6670"], "verify_cert": ["true"],
                  "throttle_limit": ["-1"], "max_history_length": ["20"]}
        glob = {"max_history_length": ["20"], "record_history": ["false"], "persistent": ["false"]}
        tasks = [configure(u, f"{IRC_HOST}@{self.domain}", server) for u in users]
        if not self.history:
            tasks += [configure(u, self.domain, glob) for u in users]
        await asyncio.gather(*tasks)

    def verify_db(self, n_users: int) -> dict:
        c = sqlite3.connect(str(self.db))
        try:
            thr = c.execute("select count(*) from ircserveroptions_ where throttlelimit_ < 0").fetchone()[0]
            hist_off = c.execute("select count(*) from globaloptions_ where recordhistory_ = 0").fetchone()[0]
            lines = c.execute("select count(*) from muclogline_").fetchone()[0]
        finally:
            c.close()
        return {"users_with_throttle_off": thr, "users_with_history_off": hist_off, "history_rows": lines}


# --------------------------------------------------------------------------- phases


async def until(pred, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


class Run:
    def __init__(self, drv: Driver, gw: Gateway, n: int, group: int):
        self.d, self.gw, self.n, self.group = drv, gw, n, group
        self.users = [f"u{i}@{USER_DOMAIN}/r" for i in range(n)]
        self.nchan = max(1, n // group)

    def chan(self, i: int) -> str:
        return f"#c{i % self.nchan}"

    async def start(self):
        d = self.d
        d.reset()
        d.link_waiter = asyncio.get_running_loop().create_future()
        self.gw.start()
        link = await asyncio.wait_for(d.link_waiter, 30)
        await asyncio.wait_for(link.authed, 30)
        await asyncio.sleep(1.5)  # let it settle (store, timers)
        if self.gw.proc.poll() is not None:
            raise RuntimeError(f"{self.gw.label} exited at start")
        self.pid = self.gw.proc.pid
        self.rss_idle = rss_kib(self.pid)
        await self.gw.setup_users(d, self.users)

    async def join_all(self, window: int, timeout: float) -> dict:
        """Each user sends a MUC join; at most `window` joins outstanding. Time until every
        self-presence (status 110) came back."""
        d = self.d
        sem = asyncio.Semaphore(window)
        cpu0 = cpu_seconds(self.pid)
        t0 = time.perf_counter()
        loop = asyncio.get_running_loop()

        async def one(i: int):
            u = self.users[i]
            bare = u.split("/")[0]
            async with sem:
                fut = loop.create_future()
                d.join_waiters[bare] = fut
                d.link.send(f"<presence from='{u}' to='{self.gw.room(self.chan(i))}/u{i}'>"
                            f"<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>")
                try:
                    await asyncio.wait_for(fut, 30)
                except asyncio.TimeoutError:
                    pass

        try:
            await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(self.n))), timeout)
        except asyncio.TimeoutError:
            pass
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


def ms(x):
    return None if x is None else round(x * 1000, 3)


async def bench_gateway(drv: Driver, make_gw, sizes: list[int], args) -> dict:
    res = {"sizes": {}}
    for n in sizes:
        gw = make_gw(n)
        run = Run(drv, gw, n, args.group)
        log(f"{gw.label}: {n} sessions")
        try:
            await run.start()
            r = {"rss_idle_kib": run.rss_idle}
            j = await run.join_all(window=args.join_window, timeout=args.join_timeout)
            r["join"] = j
            log(f"  online {j['online']}/{n} in {j['seconds']:.2f} s ({j['errors']} errors)")
            await asyncio.sleep(2.0)
            r["rss_joined_kib"] = rss_kib(run.pid)
            r["rss_per_session_kib"] = (r["rss_joined_kib"] - r["rss_idle_kib"]) / n
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
    results = {"biboumi_version": bv, "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release},
               "params": {k: v for k, v in vars(args).items()}, "gateways": {}}
    pontoon_bin = Path(args.pontoon_bin).resolve()
    shm = Path("/dev/shm") / f"pontoon-bench-{os.getpid()}"
    try:
        for which in args.gateways.split(","):
            if which == "pontoon":
                mk = lambda n: PontoonGw(out_dir / f"pontoon-{n}", drv.comp_port, pontoon_bin)  # noqa: E731
                key = "pontoon"
            elif which == "biboumi-default":
                mk = lambda n: BiboumiGw(out_dir / f"biboumi-default-{n}", drv.comp_port, True, out_dir / f"biboumi-default-{n}")  # noqa: E731
                key = which
            elif which == "biboumi-nohist":
                mk = lambda n: BiboumiGw(out_dir / f"biboumi-nohist-{n}", drv.comp_port, False, shm / f"nohist-{n}")  # noqa: E731
                key = which
            else:
                raise SystemExit(f"unknown gateway {which}")
            res = await bench_gateway(drv, mk, args.sizes, args)
            res["label"] = mk(0).label if False else {"pontoon": "Pontoon (defaults; no pacing)",
                                                      "biboumi-default": "biboumi (defaults: history on, on-disk SQLite; throttle off)",
                                                      "biboumi-nohist": "biboumi (history off, SQLite on tmpfs; throttle off)"}[key]
            results["gateways"][key] = res
    finally:
        await drv.irc.close()
        drv.comp_server.close()
        subprocess.run(["rm", "-rf", str(shm)])
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pontoon-bin", default=str(REPO / "target" / "release" / "pontoon"))
    ap.add_argument("--gateways", default="pontoon,biboumi-nohist,biboumi-default")
    ap.add_argument("--sizes", default="200,1000", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--traffic-at", type=int, default=1000, help="session count at which traffic is measured")
    ap.add_argument("--group", type=int, default=10, help="users per channel")
    ap.add_argument("--join-window", type=int, default=200, help="joins outstanding at once")
    ap.add_argument("--join-timeout", type=float, default=120.0)
    ap.add_argument("--idle-seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=100.0, help="messages/s for the latency runs")
    ap.add_argument("--latency-seconds", type=float, default=10.0)
    ap.add_argument("--drain", type=float, default=10.0)
    ap.add_argument("--messages", type=int, default=20000, help="messages per saturation run")
    ap.add_argument("--repeats", type=int, default=3, help="saturation runs per direction (median kept)")
    ap.add_argument("--sat-timeout", type=float, default=30.0)
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "isolated"))
    ap.add_argument("--out", default=str(HERE / "tmp" / "isolated.json"))
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(res, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
