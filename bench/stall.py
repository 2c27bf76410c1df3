#!/usr/bin/env python3
"""How long others wait while one user loads the gateway: the worker-thread question.

Pontoon in server mode (the mode where CPU-heavy work lands on the gateway: TLS handshakes,
c2s XML), a private ngircd, and a "victim": a plain-text c2s client in a channel that sends
one room message at a time and waits for its echo (c2s reader -> IRC session -> IRC ->
session -> c2s writer), for the whole run. While it does, a load runs in another process:

- `logins`: --logins users log in at once over STARTTLS (TLS handshake, SASL PLAIN, an IRC
  connection each, bind), --concurrency at a time, then leave: a restart's reconnection wave;
- `iqs`: one logged-in user writes --flood disco#info requests in one write and reads the
  answers (the gateway's default stanza rate applies, as an operator runs it);
- `mam`: one user pages through the channel's archive (--history messages an IRC user sent
  while they were in), 250 per page, front to back, --passes times.

Each phase reports the victim's echo round trips (count, p50, p99, max), the load's own
duration and the gateway's CPU over the phase. The same phases run with each worker count
of --workers (TOKIO_WORKER_THREADS), interleaved over --rounds rounds (the order rotates);
figures are medians over the rounds, with min-max. biboumi has no server mode, so it is not in
this table: the question answered is Pontoon's own default (bench/README.md).

Standard library only; loopback only; every loop bounded in count and time; every process
started here is killed by pid on exit and on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import shutil
import ssl
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from common import (HERE, LIVE, REPO, cpu_seconds, install_signal_handlers, log, median_tree, pct, track,
                    until)

sys.path.insert(0, str(REPO / "tests" / "e2e"))
sys.path.insert(0, str(REPO / "tests" / "e2e" / "irc"))
from harness.util import free_ports, port_open  # noqa: E402
from ircd import Ngircd  # noqa: E402

DOMAIN = "irc.localhost"
ROOM = "#stall"
NS_CLIENT = "jabber:client"
NS_STREAM = "http://etherx.jabber.org/streams"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_MAM = "urn:xmpp:mam:2"
NS_RSM = "http://jabber.org/protocol/rsm"
PROBE_TIMEOUT = 10.0   # one echo slower than this is reported as this
PHASE_LIMIT = 180.0    # a load that has not finished by then is stopped (and reported)
IDLE_SECONDS = 3.0


def header() -> bytes:
    return (f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' version='1.0' "
            f"xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>").encode()


class Client:
    """One c2s stream: login (optionally over STARTTLS), then top-level elements handed to
    `on_element` as they are read."""

    def __init__(self):
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.buf = b""
        self.on_element = lambda el: None
        self.closed = asyncio.Event()
        self._task = None

    async def _until(self, needle: bytes) -> bytes:
        while needle not in self.buf:
            chunk = await self.reader.read(65536)
            if not chunk:
                raise ConnectionError(f"closed while waiting for {needle!r}: {self.buf[-300:]!r}")
            self.buf += chunk
        got, self.buf = self.buf, b""
        return got

    async def login(self, port: int, user: str, resource: str, ca: Path | None = None,
                    source: str | None = None, timeout: float = 60.0) -> "Client":
        await asyncio.wait_for(self._login(port, user, resource, ca, source), timeout)
        return self

    async def _login(self, port: int, user: str, resource: str, ca: Path | None, source: str | None):
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", port, limit=1 << 22, local_addr=(source, 0) if source else None)
        self.writer.write(header())
        await self._until(b"features>")
        if ca is not None:
            self.writer.write(f"<starttls xmlns='{NS_TLS}'/>".encode())
            await self._until(b"proceed")
            ctx = ssl.create_default_context(cafile=str(ca))
            await self.writer.start_tls(ctx, server_hostname=DOMAIN)
            self.writer.write(header())
            await self._until(b"features>")
        auth = base64.b64encode(f"\0{user}\0pw".encode()).decode()
        self.writer.write(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{auth}</auth>".encode())
        got = await self._until(b">")
        while b"success" not in got and b"failure" not in got:
            got += await self._until(b">")
        if b"failure" in got:
            raise ConnectionError(f"login of {user} refused: {got!r}")
        self.writer.write(header())
        await self._until(b"features>")
        self.writer.write(f"<iq type='set' id='bind'><bind xmlns='{NS_BIND}'><resource>{resource}"
                          f"</resource></bind></iq>".encode())
        await self._until(b"</iq>")
        self._task = asyncio.ensure_future(self._read_loop())

    async def _read_loop(self):
        parser = ET.XMLPullParser(events=("start", "end"))
        parser.feed(f"<stream:stream xmlns='{NS_CLIENT}' xmlns:stream='{NS_STREAM}'>")
        depth = 0
        try:
            while True:
                chunk = await self.reader.read(1 << 20)
                if not chunk:
                    break
                parser.feed(chunk)
                for ev, el in parser.read_events():
                    if ev == "start":
                        depth += 1
                        continue
                    depth -= 1
                    if depth == 1:
                        self.on_element(el)
                        el.clear()
        except (ConnectionError, ET.ParseError, OSError):
            pass
        finally:
            self.closed.set()

    def write(self, data: str):
        self.writer.write(data.encode())

    async def join(self, nick: str):
        """Joins ROOM and waits for the self-presence."""
        joined = asyncio.get_running_loop().create_future()

        def on(el):
            if (el.tag == f"{{{NS_CLIENT}}}presence" and el.get("from") == f"{ROOM}@{DOMAIN}/{nick}"
                    and not joined.done()):
                joined.set_result(True)
        self.on_element = on
        self.write(f"<presence to='{ROOM}@{DOMAIN}/{nick}'><x xmlns='http://jabber.org/protocol/muc'>"
                   f"<history maxstanzas='0'/></x></presence>")
        await asyncio.wait_for(joined, 30)
        self.on_element = lambda el: None

    async def close(self):
        try:
            self.writer.write(b"</stream:stream>")
            self.writer.close()
        except (ConnectionError, OSError):
            pass


class Victim:
    """Sends one room message at a time and records each echo's round trip (a refusal is
    counted apart: it would mean the probe itself broke a limit)."""

    def __init__(self, client: Client):
        self.c = client
        self.waiting: tuple[str, str, asyncio.Future] | None = None
        self.refused = 0
        client.on_element = self._on

    def _on(self, el):
        if self.waiting is None or el.tag != f"{{{NS_CLIENT}}}message":
            return
        pid, text, fut = self.waiting
        if fut.done():
            return
        if el.get("type") == "error" and el.get("id") == pid:
            fut.set_result(None)
            return
        body = el.find(f"{{{NS_CLIENT}}}body")
        if body is not None and body.text == text:
            fut.set_result(time.monotonic())

    async def probe_until(self, done: asyncio.Event, samples: list[float], gap: float = 0.025):
        """One probe at a time, `gap` apart: under the default rate (50 a second) of a user."""
        n = 0
        while not done.is_set():
            n += 1
            pid, text = f"p{n}", f"probe {n} {time.monotonic_ns()}"
            fut = asyncio.get_running_loop().create_future()
            self.waiting = (pid, text, fut)
            t0 = time.monotonic()
            self.c.write(f"<message type='groupchat' id='{pid}' to='{ROOM}@{DOMAIN}'><body>{text}</body></message>")
            try:
                t1 = await asyncio.wait_for(fut, PROBE_TIMEOUT)
                if t1 is None:
                    self.refused += 1
                else:
                    samples.append(t1 - t0)
            except asyncio.TimeoutError:
                samples.append(PROBE_TIMEOUT)
            await asyncio.sleep(gap)


async def irc_peer(port: int, nick: str, lines: int) -> None:
    """An IRC user who joins ROOM and says `lines` lines (ngircd: no penalties), then stays
    until the end of the round (the connection is left open; the round kills ngircd)."""
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
    buf = b""
    while b" 001 " not in buf:
        chunk = await r.read(4096)
        if not chunk:
            raise ConnectionError("ngircd closed the peer")
        buf += chunk
    w.write(f"JOIN {ROOM}\r\n".encode())
    buf = b""
    while b" 366 " not in buf:
        buf += await r.read(4096)
    for i in range(lines):
        w.write(f"PRIVMSG {ROOM} :history line {i} with a few words of text in it\r\n".encode())
        if i % 50 == 49:
            # At most about 2,000 lines a second: faster, this driver's two clients fall
            # behind their streams and the gateway closes them (as it should: a client that
            # does not read), and the gateway's id-map writer drops records (logged).
            await w.drain()
            await asyncio.sleep(0.025)
    await w.drain()
    irc_peer.keep = (r, w)  # keeps the connection open


# --- the loads (each in a process of its own, so the victim's timing is not theirs) -------

async def load_logins(port: int, ca: str, n: int, concurrency: int) -> dict:
    sem = asyncio.Semaphore(concurrency)
    failed = 0

    async def one(i: int):
        nonlocal failed
        async with sem:
            c = Client()
            try:
                # One source address each (the gateway allows 10 login attempts a minute
                # per address): a reconnection wave comes from many clients.
                await c.login(port, f"l{i}", "load", ca=Path(ca), source=f"127.1.{i // 250}.{i % 250 + 1}")
            except (ConnectionError, OSError, asyncio.TimeoutError, ssl.SSLError):
                failed += 1
            finally:
                if c.writer is not None:
                    await c.close()
    await asyncio.gather(*(one(i) for i in range(n)))
    return {"logins": n, "failed": failed}


async def load_iqs(port: int, n: int) -> dict:
    c = await Client().login(port, "flooder", "load")
    answered = 0
    done = asyncio.Event()

    def on(el):
        nonlocal answered
        if el.tag == f"{{{NS_CLIENT}}}iq" and (el.get("id") or "").startswith("q"):
            answered += 1
            if answered >= n:
                done.set()
    c.on_element = on
    c.write("".join(f"<iq type='get' id='q{i}' to='{DOMAIN}'>"
                    f"<query xmlns='http://jabber.org/protocol/disco#info'/></iq>" for i in range(n)))
    closed = asyncio.ensure_future(c.closed.wait())
    await asyncio.wait([asyncio.ensure_future(done.wait()), closed], timeout=PHASE_LIMIT,
                       return_when=asyncio.FIRST_COMPLETED)
    await c.close()
    return {"sent": n, "answered": answered, "closed": c.closed.is_set()}


async def load_mam(port: int, passes: int) -> dict:
    c = await Client().login(port, "reader", "mam")
    pages = results = 0
    reply: asyncio.Future | None = None

    def on(el):
        nonlocal results
        if el.tag == f"{{{NS_CLIENT}}}message" and el.find(f"{{{NS_MAM}}}result") is not None:
            results += 1
        elif el.tag == f"{{{NS_CLIENT}}}iq" and reply is not None and not reply.done():
            fin = el.find(f"{{{NS_MAM}}}fin")
            last = fin.find(f"{{{NS_RSM}}}set/{{{NS_RSM}}}last") if fin is not None else None
            reply.set_result((el.get("type"), fin is not None and fin.get("complete") == "true",
                              last.text if last is not None else None))
    c.on_element = on
    for p in range(passes):
        after = ""
        for _ in range(1000):
            reply = asyncio.get_running_loop().create_future()
            pages += 1
            c.write(f"<iq type='set' id='m{pages}' to='{ROOM}@{DOMAIN}'><query xmlns='{NS_MAM}'>"
                    f"<set xmlns='{NS_RSM}'><max>250</max>{after}</set></query></iq>")
            kind, complete, last = await asyncio.wait_for(reply, 60)
            if kind != "result":
                raise RuntimeError(f"MAM page refused ({kind})")
            if complete or last is None:
                break
            after = f"<after>{last}</after>"
    await c.close()
    return {"pages": pages, "messages": results}


def _load_main(kind: str, kwargs: dict, out):
    fn = {"logins": load_logins, "iqs": load_iqs, "mam": load_mam}[kind]
    try:
        out.put(asyncio.run(fn(**kwargs)))
    except Exception as e:  # reported in the table, not swallowed
        out.put({"error": f"{type(e).__name__}: {e}"})


# --- one gateway run ----------------------------------------------------------------------

class Gateway:
    """Pontoon in server mode with TOKIO_WORKER_THREADS=workers, and its ngircd."""

    def __init__(self, workdir: Path, binary: Path, workers: int):
        self.dir = workdir
        # A fresh store each time: an earlier run's policy (the ngircd port) would be in force.
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(parents=True)
        self.bin = binary
        self.workers = workers
        self.ircd = Ngircd(workdir / "ngircd")
        self.c2s, self.admin = free_ports(2)
        self.proc = None

    def start(self):
        self.ircd.start()
        track(self.ircd.proc)
        data = self.dir / "data"
        (self.dir / "pontoon.toml").write_text(
            "[general]\nmode = \"server\"\n"
            f"data_dir = \"{data}\"\nlog_level = \"warn\"\n"
            f"[server]\nlisten = \"127.0.0.1:{self.c2s}\"\nallow_plaintext_on_loopback = true\n"
            f"[admin]\nlisten = \"127.0.0.1:{self.admin}\"\n"
            f"[transports.irc]\ndomain = \"{DOMAIN}\"\nname = \"IRC\"\nenabled = true\n"
            f"[transports.irc.options]\nconnect_host = \"127.0.0.1\"\nconnect_port = {self.ircd.port}\n"
            # No pacing (as in the other set-ups): the echo then measures the gateway, not
            # the half second a paced line waits.
            "flood_burst = 10000\nflood_per_second = 100000\n")
        env = dict(os.environ, TOKIO_WORKER_THREADS=str(self.workers), NO_COLOR="1")
        self.log = open(self.dir / "pontoon.log", "w")
        self.proc = track(subprocess.Popen([str(self.bin), "--config", str(self.dir / "pontoon.toml"), "run"],
                                           stdout=self.log, stderr=subprocess.STDOUT, env=env))
        deadline = time.monotonic() + 30
        while not port_open(self.c2s, timeout=0.2):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Pontoon did not listen (see {self.dir / 'pontoon.log'})")
            time.sleep(0.05)

    @property
    def ca(self) -> Path:
        return self.dir / "data" / "tls" / "ca.pem"

    def stop(self):
        for p in (self.proc, self.ircd.proc):
            if p is not None and p.poll() is None:
                p.kill()
                p.wait(10)
            LIVE.discard(p)
        self.log.close()


def summary(samples: list[float]) -> dict:
    return {"n": len(samples), "p50_ms": round(pct(samples, 50) * 1000, 2) if samples else None,
            "p99_ms": round(pct(samples, 99) * 1000, 2) if samples else None,
            "max_ms": round(max(samples) * 1000, 2) if samples else None}


async def phase(gw: Gateway, victim: Victim, kind: str | None, kwargs: dict) -> dict:
    samples: list[float] = []
    done = asyncio.Event()
    cpu0 = cpu_seconds(gw.proc.pid)
    t0 = time.monotonic()
    prober = asyncio.ensure_future(victim.probe_until(done, samples))
    result: dict = {}
    if kind is None:
        await asyncio.sleep(IDLE_SECONDS)
    else:
        ctx = multiprocessing.get_context("spawn")
        out = ctx.Queue()
        proc = ctx.Process(target=_load_main, args=(kind, kwargs, out), daemon=True)
        proc.start()
        await until(lambda: not proc.is_alive() or not out.empty(), PHASE_LIMIT, step=0.05)
        result = out.get(timeout=5) if not out.empty() else {"error": "did not finish in time"}
        proc.join(5)
        if proc.is_alive():
            proc.kill()
    seconds = time.monotonic() - t0
    done.set()
    await prober
    refused, victim.refused = victim.refused, 0
    return {"load": result, "seconds": round(seconds, 2), "refused": refused,
            "cpu_s": round(cpu_seconds(gw.proc.pid) - cpu0, 2), "echo": summary(samples)}


async def run_one(workdir: Path, binary: Path, workers: int, args) -> dict:
    gw = Gateway(workdir, binary, workers)
    gw.start()
    try:
        victim_c = await Client().login(gw.c2s, "victim", "probe")
        await victim_c.join("victim")
        reader = await Client().login(gw.c2s, "reader", "idle")
        await reader.join("reader")
        seen = 0

        def count(el):
            nonlocal seen
            if el.tag == f"{{{NS_CLIENT}}}message":
                seen += 1
        reader.on_element = count
        await irc_peer(gw.ircd.port, "talker", args.history)
        if not await until(lambda: seen >= args.history, 120):
            raise RuntimeError(f"the reader saw {seen} of {args.history} history lines")
        victim = Victim(victim_c)
        out = {"idle": await phase(gw, victim, None, {})}
        out["logins"] = await phase(gw, victim, "logins", {"port": gw.c2s, "ca": str(gw.ca),
                                                           "n": args.logins, "concurrency": args.concurrency})
        out["iqs"] = await phase(gw, victim, "iqs", {"port": gw.c2s, "n": args.flood})
        out["mam"] = await phase(gw, victim, "mam", {"port": gw.c2s, "passes": args.passes})
        out["after"] = await phase(gw, victim, None, {})
        for c in (victim_c, reader):
            await c.close()
        return out
    finally:
        gw.stop()


def table(rounds: dict) -> str:
    """One row per phase and worker count; each cell the median over the rounds, with
    (min-max) when there were several."""
    def cell(runs: list, get) -> str:
        xs = [get(r) for r in runs if get(r) is not None]
        if not xs:
            return "-"
        m = statistics.median(xs)
        return f"{m:g}" if len(xs) == 1 else f"{m:g} ({min(xs):g}-{max(xs):g})"

    lines = ["| phase | workers | echoes | echo p50 ms | echo p99 ms | echo max ms | phase s | Pontoon CPU s |",
             "|---|---|---|---|---|---|---|---|"]
    for ph in ("idle", "logins", "iqs", "mam", "after"):
        for w, runs in rounds.items():
            lines.append(" | ".join([
                f"| {ph}", str(w), cell(runs, lambda r: r[ph]["echo"]["n"]),
                cell(runs, lambda r: r[ph]["echo"]["p50_ms"]), cell(runs, lambda r: r[ph]["echo"]["p99_ms"]),
                cell(runs, lambda r: r[ph]["echo"]["max_ms"]), cell(runs, lambda r: r[ph]["seconds"]),
                cell(runs, lambda r: r[ph]["cpu_s"])]) + " |")
    return "\n".join(lines)


async def main_async(args) -> dict:
    binary = Path(args.pontoon_bin).resolve()
    workers = [int(w) for w in args.workers.split(",")]
    rounds: dict[int, list] = {w: [] for w in workers}
    base = Path(args.workdir)
    for r in range(args.rounds):
        order = workers[r % len(workers):] + workers[:r % len(workers)]
        for w in order:
            log(f"round {r + 1}: {w} worker(s)")
            res = await run_one(base / f"r{r}-w{w}", binary, w, args)
            log(json.dumps({k: (v["echo"], v["seconds"], v["cpu_s"], v["load"]) for k, v in res.items()}))
            rounds[w].append(res)
    medians = {w: median_tree(rs) for w, rs in rounds.items()}
    return {"binary": str(binary), "args": vars(args), "rounds": rounds, "median": medians,
            "table": table(rounds)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--pontoon-bin", default=str(REPO / "target" / "release" / "pontoon"))
    p.add_argument("--workers", default="1,2")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--logins", type=int, default=300)
    p.add_argument("--concurrency", type=int, default=50)
    p.add_argument("--flood", type=int, default=1000)
    p.add_argument("--history", type=int, default=3000)
    p.add_argument("--passes", type=int, default=3)
    p.add_argument("--workdir", default=str(HERE / "tmp" / "stall"))
    p.add_argument("--out", default=str(HERE / "stall-results.json"))
    args = p.parse_args()
    install_signal_handlers()
    res = asyncio.run(main_async(args))
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(res["table"])


if __name__ == "__main__":
    main()
