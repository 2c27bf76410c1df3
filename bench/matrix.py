#!/usr/bin/env python3
"""Matrix transport at scale (issue 23): many idle Matrix sessions in one Pontoon process,
each with its own long-poll /sync, against a real Synapse on loopback.

Peers:

- **Synapse** (tests/e2e/harness/synapse.py: SQLite, every rate limit raised, no federation),
  from the virtualenv $SYNAPSE_VENV (bench/run creates <repo>/.venv-synapse as scripts/test
  does when it is missing). One Synapse serves the whole run: the Matrix users b0..b<N-1> and
  a peer are registered once through the admin API, before any Pontoon starts.
- **The XMPP server side of XEP-0114 is this driver** (bench/isolated.py's ComponentLink): the
  synthetic users u<i>@bench.local register in band (XEP-0077 username/password) and send
  available presence to matrix.bench; Pontoon then logs each one in to Synapse (a password
  login, keeping the device token) and starts its /sync loop. A session counts as online when
  the transport's available presence reaches its user (the first sync is done by then).
  No Prosody: it would cost Pontoon nothing and the driver's CPU a lot.
- **Latency**: user b0 and the peer share a direct chat (created, joined and put in b0's
  m.direct before Pontoon starts). Matrix->XMPP: the peer PUTs an m.room.message; timed until
  the driver parses the chat stanza to u0. XMPP->Matrix: the driver writes a chat stanza from
  u0 to the peer's contact JID; timed until the peer's own /sync long-poll returns the event.
  One message at a time, every other session idle.
- **CPU per message** (after the latency): --throughput messages each way on the same pair
  with --window in flight (the peer's PUTs from as many threads; the driver writes the next
  stanza as the peer's sync returns one): Pontoon's and Synapse's CPU from the first send to
  the last arrival, per 10k messages, gross and net of Pontoon's idle rate.

Per N (a fresh Pontoon each time): RSS with the link up, RSS after the N registrations (the
base), RSS with N sessions online and their long-polls parked, CPU of Pontoon and of Synapse
over --idle-seconds of idle syncing (and how many /sync requests Synapse served meanwhile),
the latencies, CPU per message each way, RSS after all that; open sockets and threads of Pontoon.

Bounded: every wait has a limit, every loop a count; on SIGTERM/SIGINT the processes started
here are killed by pid (common.install_signal_handlers). Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from common import (HERE, REPO, SECRET, Gateway, PontoonGw, cpu_seconds, install_signal_handlers, log, ms, pct,
                    pontoon_toml_head, rss_kib, track, until, windowed)
from isolated import Driver

sys.path.insert(0, str(REPO / "tests" / "e2e"))
from harness.synapse import Synapse  # noqa: E402

DOMAIN = "matrix.bench"
USER_DOMAIN = "bench.local"
PEER = "peer"


def matrix_local(i: int) -> str:
    return f"b{i}"


def password(i: int) -> str:
    return f"pw-b{i}"


# --------------------------------------------------------------------------- Pontoon


class MatrixPontoon(PontoonGw):
    """Pontoon with the Matrix transport alone, on the driver's component port."""

    label = "Pontoon (Matrix)"
    domain = DOMAIN

    def __init__(self, workdir: Path, comp_port: int, binary: Path, homeserver: str, options: dict):
        Gateway.__init__(self, workdir, comp_port)
        self.bin = binary
        opts = "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items())
        (self.dir / "pontoon.toml").write_text(
            pontoon_toml_head(self.dir, comp_port) +
            "[transports.matrix]\n"
            f'domain = "{DOMAIN}"\n'
            f'secret = "{SECRET}"\n'
            'name = "Matrix"\n'
            "enabled = true\n"
            "public_registration = true\n"
            "[transports.matrix.options]\n"
            f"homeserver = {json.dumps(homeserver)}\n"
            'server_name = "localhost"\n'
            f"{opts}"
        )


def fd_counts(pid: int) -> dict:
    """Open sockets and other descriptors, and threads, of a process."""
    socks = other = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:"):
                socks += 1
            else:
                other += 1
        threads = len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return {}
    return {"sockets": socks, "other_fds": other, "threads": threads}


def smaps_rollup(pid: int) -> dict:
    """Rss split into anonymous and file-backed pages (KiB); anonymous pages are what the
    process allocated, file pages its code (shared, and paged in once)."""
    out = {}
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                k, _, rest = line.partition(":")
                if k in ("Rss", "Anonymous", "Pss_Anon", "Pss_File"):
                    out[k] = int(rest.split()[0])
    except OSError:
        pass
    return out


# --------------------------------------------------------------------------- Matrix peer (blocking, in threads)


class Peer:
    """The Matrix side of the latency runs: its token, the direct chat with b0 and a /sync
    long-poll thread that time-stamps the events it receives."""

    def __init__(self, syn: Synapse, token: str):
        self.syn = syn
        self.token = token
        self.room = None
        self.since = None
        self.arrived: dict[str, float] = {}  # body -> perf_counter at arrival
        self.stop = threading.Event()
        self.errors = 0
        self.txn = 0

    def api(self, method: str, path: str, body: dict | None = None, token: str | None = None, timeout=30.0):
        status, out = self.syn.request(method, path, body, token=token or self.token, timeout=timeout)
        if status != 200:
            raise RuntimeError(f"{method} {path}: {status} {out}")
        return out

    def open_dm(self, other_id: str, other_token: str):
        """A direct chat between the peer and `other` as Element makes one, joined by both and in
        other's m.direct (so Pontoon's session knows it at its start)."""
        r = self.api("POST", "/_matrix/client/v3/createRoom",
                     {"preset": "trusted_private_chat", "is_direct": True, "invite": [other_id]})
        self.room = r["room_id"]
        self.api("POST", f"/_matrix/client/v3/join/{urllib.parse.quote(self.room)}", {}, token=other_token)
        self.api("PUT", f"/_matrix/client/v3/user/{urllib.parse.quote(other_id)}/account_data/m.direct",
                 {self.syn.user_id(PEER): [self.room]}, token=other_token)
        # The peer's sync starts after all that, so its first answer is not timed.
        r = self.api("GET", "/_matrix/client/v3/sync?timeout=0&filter=" + urllib.parse.quote(
            json.dumps({"room": {"timeline": {"limit": 1}}})))
        self.since = r["next_batch"]

    def sync_loop(self):
        flt = urllib.parse.quote(json.dumps({"presence": {"types": []}, "account_data": {"types": []},
                                             "room": {"rooms": [self.room], "ephemeral": {"types": []}}}))
        for _ in range(100000):
            if self.stop.is_set():
                return
            path = (f"/_matrix/client/v3/sync?timeout=5000&filter={flt}"
                    f"&since={urllib.parse.quote(self.since)}")
            try:
                status, r = self.syn.request("GET", path, token=self.token, timeout=30)
            except (OSError, ValueError):
                status, r = 0, {}
            now = time.perf_counter()
            if self.stop.is_set():
                return
            if status != 200:
                self.errors += 1
                time.sleep(0.5)
                continue
            self.since = r["next_batch"]
            for ev in r.get("rooms", {}).get("join", {}).get(self.room, {}).get("timeline", {}).get("events", []):
                body = ev.get("content", {}).get("body")
                if ev.get("type") == "m.room.message" and body:
                    self.arrived.setdefault(body, now)

    def send(self, body: str):
        self.txn += 1
        self.api("PUT", f"/_matrix/client/v3/rooms/{urllib.parse.quote(self.room)}/send/m.room.message/"
                        f"bench{time.time_ns()}-{self.txn}", {"msgtype": "m.text", "body": body})


# --------------------------------------------------------------------------- driver


class MatrixDriver(Driver):
    """isolated.Driver (the component link, iq answers) with what the Matrix run reads."""

    def reset(self):
        super().reset()
        self.online: dict[str, float] = {}
        self.online_waiters: dict[str, asyncio.Future] = {}
        self.domain_msgs: list[str] = []
        self.chat_in: dict[str, float] = {}  # body -> perf_counter at arrival
        self.offline = 0

    def stanza(self, name, attrs, children, body):
        typ = attrs.get("type")
        frm = attrs.get("from", "")
        bare_to = attrs.get("to", "").split("/", 1)[0]
        if name == "iq":
            return super().stanza(name, attrs, children, body)
        self.stanzas_in += 1
        if name == "presence" and frm == DOMAIN:
            if typ is None:
                if bare_to not in self.online:
                    self.online[bare_to] = time.perf_counter()
                w = self.online_waiters.pop(bare_to, None)
                if w and not w.done():
                    w.set_result(True)
            elif typ in ("unavailable", "error"):
                self.offline += 1
                w = self.online_waiters.pop(bare_to, None)
                if w and not w.done():
                    w.set_result(False)
        elif name == "message" and body is not None:
            if frm == DOMAIN:
                if len(self.domain_msgs) < 20:
                    self.domain_msgs.append(f"{bare_to}: {body[:200]}")
            elif typ == "error":
                self.msg_errors += 1
            else:
                self.chat_in.setdefault(body, time.perf_counter())


class Run:
    def __init__(self, drv: MatrixDriver, gw: MatrixPontoon, n: int):
        self.d, self.gw, self.n = drv, gw, n
        self.users = [f"u{i}@{USER_DOMAIN}/r" for i in range(n)]

    async def start(self):
        self.pid = await self.d.start_gateway(self.gw)

    async def register_all(self, window: int) -> dict:
        """XEP-0077 in band, as a client would: username and password, at most `window` at once."""
        sem = asyncio.Semaphore(window)
        errors: list[str] = []
        t0 = time.perf_counter()

        async def one(i: int):
            async with sem:
                iid = f"reg{i}"
                typ, _, children = await self.d.iq(
                    f"<iq type='set' id='{iid}' from={quoteattr(self.users[i])} to='{DOMAIN}'>"
                    f"<query xmlns='jabber:iq:register'><username>{matrix_local(i)}</username>"
                    f"<password>{escape(password(i))}</password></query></iq>", iid, timeout=30)
                if typ != "result":
                    errors.append(f"u{i}: {typ} {children[:3]}")

        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(self.n))), 120 + self.n * 0.2)
        if errors:
            raise RuntimeError(f"{len(errors)} registrations failed, e.g. {errors[:3]}")
        return {"seconds": time.perf_counter() - t0}

    async def bring_online(self, window: int, timeout: float) -> dict:
        """Available presence from each user; at most `window` logins outstanding. Time until
        the transport's available presence came back to every user."""
        d = self.d
        cpu0 = cpu_seconds(self.pid)
        t0 = time.perf_counter()
        await windowed(self.n, window, lambda i: d.link.send(f"<presence from='{self.users[i]}' to='{DOMAIN}'/>"),
                       d.online_waiters, lambda i: self.users[i].split("/")[0], 90, timeout)
        return {"online": len(d.online), "seconds": time.perf_counter() - t0, "offline_or_error": d.offline,
                "cpu_s": cpu_seconds(self.pid) - cpu0, "transport_messages": d.domain_msgs[:5]}

    async def latency(self, peer: Peer, count: int) -> dict:
        """Matrix->XMPP then XMPP->Matrix, one message at a time, on u0/b0."""
        d = self.d
        loop = asyncio.get_running_loop()
        contact = f"{PEER}\\3alocalhost@{DOMAIN}"
        m2x: list[float] = []
        x2m: list[float] = []
        tag = f"{self.n}-{time.monotonic_ns()}"
        for k in range(count):
            body = f"M{tag}-{k}"
            t0 = time.perf_counter()
            await loop.run_in_executor(None, peer.send, body)
            if await until(lambda: body in d.chat_in, 20, step=0.001):
                m2x.append(d.chat_in[body] - t0)
        for k in range(count):
            body = f"X{tag}-{k}"
            t0 = time.perf_counter()
            d.link.send(f"<message type='chat' id='x{k}' from={quoteattr(self.users[0])} to={quoteattr(contact)}>"
                        f"<body>{body}</body></message>")
            if await until(lambda: body in peer.arrived, 20, step=0.001):
                x2m.append(peer.arrived[body] - t0)

        def stats(xs):
            return {"n": len(xs), "p50_ms": ms(pct(xs, 50)), "p95_ms": ms(pct(xs, 95)), "max_ms": ms(max(xs) if xs else None)}

        return {"matrix_to_xmpp": stats(m2x), "xmpp_to_matrix": stats(x2m), "sent_each_way": count,
                "errors_to_xmpp": d.msg_errors}


    async def throughput(self, peer: Peer, count: int, window: int, idle_cores: float) -> dict:
        """Pontoon's CPU per message each way on u0/b0 with `window` messages in flight (the
        peer's PUTs from as many threads; the driver's stanzas as answers arrive), every other
        session idle: Pontoon's and Synapse's CPU from the first send to the last arrival, gross
        and net of Pontoon's idle rate of the idle minute."""
        d = self.d
        loop = asyncio.get_running_loop()
        contact = f"{PEER}\\3alocalhost@{DOMAIN}"
        tag = f"T{self.n}-{time.monotonic_ns()}"
        syn_pid = peer.syn.proc.pid

        async def phase(send_all, arrived) -> dict:
            p0, s0, t0 = cpu_seconds(self.pid), cpu_seconds(syn_pid), time.perf_counter()
            await send_all()
            done = await until(lambda: arrived() >= count, 60 + count * 0.2, step=0.002)
            dt = time.perf_counter() - t0
            cpu = cpu_seconds(self.pid) - p0
            got = arrived()
            per = 10000 / got if got else None
            return {"sent": count, "received": got, "complete": done, "seconds": round(dt, 3),
                    "msgs_per_s": round(got / dt, 1) if dt else None, "cpu_s": round(cpu, 3),
                    "cpu_s_per_10k_gross": round(cpu * per, 3) if per else None,
                    "cpu_s_per_10k_net": round(max(cpu - idle_cores * dt, 0) * per, 3) if per else None,
                    "synapse_cpu_s_per_10k": round((cpu_seconds(syn_pid) - s0) * per, 2) if per else None}

        m2x_bodies = [f"{tag}-m-{k}" for k in range(count)]

        async def m2x_send():
            with ThreadPoolExecutor(window) as pool:
                await asyncio.gather(*(loop.run_in_executor(pool, peer.send, b) for b in m2x_bodies))

        m2x = await phase(m2x_send, lambda: sum(1 for b in m2x_bodies if b in d.chat_in))
        x2m_bodies = [f"{tag}-x-{k}" for k in range(count)]

        def x2m_arrived() -> int:
            return sum(1 for b in x2m_bodies if b in peer.arrived)

        async def x2m_send():
            sent = 0
            deadline = time.monotonic() + 60 + count * 0.2
            while sent < count and time.monotonic() < deadline:
                if sent - x2m_arrived() < window:
                    d.link.send(f"<message type='chat' id='t{sent}' from={quoteattr(self.users[0])} "
                                f"to={quoteattr(contact)}><body>{x2m_bodies[sent]}</body></message>")
                    sent += 1
                else:
                    await asyncio.sleep(0.002)

        x2m = await phase(x2m_send, x2m_arrived)
        return {"matrix_to_xmpp": m2x, "xmpp_to_matrix": x2m, "window": window,
                "errors_to_xmpp": d.msg_errors}


def sync_requests(syn: Synapse, since: int) -> int:
    """/sync requests Synapse logged as processed since a log offset (its access log lines)."""
    return len(re.findall(r"GET /_matrix/client/v3/sync", syn.log_text(since)))


def ensure_users(syn: Synapse, n: int, workers: int = 4) -> dict:
    """Registers b0..b<n-1> and the peer (admin API). Returns the tokens of b0 and the peer."""
    t0 = time.perf_counter()
    tokens = {}

    def reg(i: int):
        r = syn.register(matrix_local(i), password(i))
        if i == 0:
            tokens["b0"] = r["access_token"]

    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(reg, range(n)))
    tokens["peer"] = syn.register(PEER, "pw-peer")["access_token"]
    log(f"registered {n + 1} Matrix users in {time.perf_counter() - t0:.1f} s")
    return tokens


def at_hook(var: str, pid: int, n: int, gw: Gateway):
    """Runs the command in $BENCH_AT_BASE (before the sessions) or $BENCH_AT_ONLINE (with them
    online), e.g. a heap snapshot of a run under BENCH_PONTOON_WRAP="valgrind --tool=massif":
    `vgdb --pid={pid} detailed_snapshot snap-{n}.out`. Bounded, not timed."""
    hook = os.environ.get(var)
    if hook:
        cmd = hook.format(pid=pid, n=n, dir=gw.dir)
        log(f"N={n}: {var}: {cmd}")
        subprocess.run(cmd, shell=True, timeout=300)


async def bench_size(drv: MatrixDriver, syn: Synapse, peer: Peer, n: int, args, k: int) -> dict:
    options = {"sync_timeout_secs": str(args.sync_timeout)}
    gw_dir = Path(args.workdir) / f"pontoon-{n}-{k}"
    subprocess.run(["rm", "-rf", str(gw_dir)], check=True)  # a fresh store: no login of an earlier run
    gw = MatrixPontoon(gw_dir, drv.comp_port, Path(args.pontoon_bin), syn.url,
                       options)
    run = Run(drv, gw, n)
    res: dict = {"n": n, "sync_timeout_secs": args.sync_timeout}
    try:
        await run.start()
        pid = run.pid
        res["rss_link_up_kib"] = rss_kib(pid)
        res["registration"] = await run.register_all(50)
        await asyncio.sleep(2)
        res["rss_base_kib"] = rss_kib(pid)
        res["smaps_base"] = smaps_rollup(pid)
        res["base_fds"] = fd_counts(pid)
        at_hook("BENCH_AT_BASE", pid, n, gw)
        log(f"N={n}: base RSS {res['rss_base_kib'] / 1024:.1f} MiB after {n} registrations; bringing them online")
        syn_cpu0 = cpu_seconds(syn.proc.pid)
        res["online"] = await run.bring_online(args.login_window, args.online_timeout)
        res["online"]["synapse_cpu_s"] = cpu_seconds(syn.proc.pid) - syn_cpu0
        on = res["online"]["online"]
        log(f"N={n}: {on} online in {res['online']['seconds']:.1f} s")
        if on == 0:
            raise RuntimeError(f"no session came online: {res['online']['transport_messages']}")
        # Every session's first sync is done (it precedes the presence); give the long-polls
        # that replace it time to park.
        await asyncio.sleep(args.settle)
        res["rss_online_kib"] = rss_kib(pid)
        res["smaps_online"] = smaps_rollup(pid)
        res["online_fds"] = fd_counts(pid)
        res["rss_per_session_kib"] = round((res["rss_online_kib"] - res["rss_base_kib"]) / on, 2)
        # Anonymous memory (what the gateway allocated) apart from RSS: the first Matrix
        # sessions page in the Matrix stack's code (file pages, about 7.5 MiB, once per
        # process), which RSS counts as theirs.
        anon = res["smaps_online"].get("Anonymous", 0) - res["smaps_base"].get("Anonymous", 0)
        res["anon_per_session_kib"] = round(anon / on, 2)
        log(f"N={n}: RSS {res['rss_online_kib'] / 1024:.1f} MiB, {res['rss_per_session_kib']} KiB per session "
            f"({res['anon_per_session_kib']} KiB anonymous), {res['online_fds']}")
        at_hook("BENCH_AT_ONLINE", pid, n, gw)

        # Idle: nothing happens but the long-polls ending and being sent again.
        log_off = syn.log_offset()
        p0, s0, t0 = cpu_seconds(pid), cpu_seconds(syn.proc.pid), time.perf_counter()
        await asyncio.sleep(args.idle_seconds)
        dt = time.perf_counter() - t0
        res["idle"] = {"seconds": round(dt, 2), "pontoon_cpu_s": round(cpu_seconds(pid) - p0, 3),
                       "synapse_cpu_s": round(cpu_seconds(syn.proc.pid) - s0, 3),
                       "sync_requests": sync_requests(syn, log_off), "stanzas_to_driver": drv.stanzas_in}
        res["rss_after_idle_kib"] = rss_kib(pid)
        res["rss_per_session_after_idle_kib"] = round((res["rss_after_idle_kib"] - res["rss_base_kib"]) / on, 2)
        log(f"N={n}: idle {dt:.0f} s: Pontoon {res['idle']['pontoon_cpu_s']} CPU s, Synapse "
            f"{res['idle']['synapse_cpu_s']} CPU s, {res['idle']['sync_requests']} /sync requests; "
            f"RSS {res['rss_after_idle_kib'] / 1024:.1f} MiB")

        if args.messages and f"u0@{USER_DOMAIN}" in drv.online:
            res["latency"] = await run.latency(peer, args.messages)
            log(f"N={n}: latency {res['latency']}")
        if args.throughput and f"u0@{USER_DOMAIN}" in drv.online:
            idle_cores = res["idle"]["pontoon_cpu_s"] / res["idle"]["seconds"] if res["idle"]["seconds"] else 0.0
            res["throughput"] = await run.throughput(peer, args.throughput, args.window, idle_cores)
            log(f"N={n}: throughput {res['throughput']}")
        res["rss_end_kib"] = rss_kib(pid)
        res["end_fds"] = fd_counts(pid)
    finally:
        gw.stop()
    return res


async def main_async(args) -> dict:
    sizes = args.sizes
    # A fresh homeserver: the users are registered below.
    subprocess.run(["rm", "-rf", str(Path(args.workdir) / "synapse")], check=True)
    syn = Synapse(Path(args.workdir) / "synapse", overrides=json.loads(args.synapse_overrides or "{}"))
    results: dict = {"sizes": sizes, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "machine": {"cpus": os.cpu_count(), "kernel": os.uname().release,
                                 "loadavg_before": open("/proc/loadavg").read().split()[:3]},
                     "runs": []}
    drv = MatrixDriver(args)
    await drv.listen()
    peer = None
    pt = None
    try:
        log(f"starting Synapse ({syn.url})")
        results["synapse_start_s"] = round(syn.start(timeout=60), 2)
        track(syn.proc)
        results["synapse_rss_idle_kib"] = rss_kib(syn.proc.pid)
        tokens = await asyncio.get_running_loop().run_in_executor(None, ensure_users, syn, max(sizes))
        peer = Peer(syn, tokens["peer"])
        peer.open_dm(syn.user_id(matrix_local(0)), tokens["b0"])
        pt = threading.Thread(target=peer.sync_loop, daemon=True)
        pt.start()
        for k, n in enumerate(sizes):
            for rep in range(args.repeats):
                r = await bench_size(drv, syn, peer, n, args, k * 10 + rep)
                r["synapse_rss_kib"] = rss_kib(syn.proc.pid)
                results["runs"].append(r)
                await asyncio.sleep(3)  # Synapse notices the closed long-polls
        results["peer_sync_errors"] = peer.errors
    finally:
        if peer:
            peer.stop.set()
        syn.stop()
        drv.comp_server.close()
    if pt:
        pt.join(10)
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pontoon-bin", default=str(REPO / "target" / "release" / "pontoon"),
                    type=lambda s: str(Path(s).resolve()))
    ap.add_argument("--sizes", default="100,500", type=lambda s: [int(x) for x in s.split(",")])
    ap.add_argument("--repeats", type=int, default=1, help="fresh Pontoon runs per size")
    ap.add_argument("--sync-timeout", type=int, default=30, help="the transport's sync_timeout_secs")
    ap.add_argument("--login-window", type=int, default=50, help="logins outstanding at once")
    ap.add_argument("--online-timeout", type=float, default=300.0)
    ap.add_argument("--settle", type=float, default=5.0, help="seconds after the last session came online")
    ap.add_argument("--idle-seconds", type=float, default=60.0)
    ap.add_argument("--messages", type=int, default=50, help="messages each way for the latency (0: none)")
    ap.add_argument("--throughput", type=int, default=500,
                    help="messages each way for CPU per message, --window in flight (0: none)")
    ap.add_argument("--window", type=int, default=8, help="messages in flight in the throughput phase")
    ap.add_argument("--synapse-overrides", default="", help="JSON: top-level Synapse config keys")
    ap.add_argument("--workdir", default=str(HERE / "tmp" / "matrix"), type=lambda s: str(Path(s).resolve()))
    ap.add_argument("--out", default=str(HERE / "tmp" / "matrix.json"))
    args = ap.parse_args()
    install_signal_handlers()
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    res = asyncio.run(main_async(args))
    res["args"] = vars(args)
    Path(args.out).write_text(json.dumps(res, indent=2))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
