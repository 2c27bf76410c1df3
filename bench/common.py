"""Shared by the benchmark set-ups (isolated.py, real_peers.py): the gateways under test and
how they are started, configured and stopped, the /proc measurements, bounded waits, and the
signal handler that kills what a driver started.

Standard library only. Every process started here is registered in LIVE and killed by pid on
SIGTERM/SIGINT (bench/run's overall timeout, Ctrl-C) or stopped by its owner.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import time
from pathlib import Path
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
IRC_HOST = "127.0.0.2"  # an address of its own, so nothing else on 127.0.0.1:6697 can confuse biboumi
IRC_PORT = 6667
SECRET = "bench-secret"
CLK_TCK = os.sysconf("SC_CLK_TCK")
LIVE: set = set()  # processes (subprocess.Popen) started and not yet stopped

# Which gateway configuration each key stands for (the table's column heads).
LABELS = {
    "pontoon": "Pontoon (defaults: history on, on-disk SQLite; no pacing)",
    "pontoon-nohist": "Pontoon (history off; no pacing)",
    "biboumi-nohist": "biboumi (history off, SQLite on tmpfs; throttle off)",
    "biboumi-default": "biboumi (defaults: history on, on-disk SQLite; throttle off)",
    # The same IRC workload through a backend process (docs/backends.md); CPU and memory
    # are Pontoon's and the backend's together.
    "pontoon-py": "Pontoon + a Python SDK backend (bench/backends/irc_sdk.py)",
    "pontoon-purple": "Pontoon + the libpurple backend (prpl-irc)",
}


def track(proc: subprocess.Popen) -> subprocess.Popen:
    """Registers a started process so that the signal handler kills it."""
    LIVE.add(proc)
    return proc


def install_signal_handlers():
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)


def _on_signal(signum, _frame):
    """SIGTERM/SIGINT (e.g. from bench/run's overall timeout): kill what we started, by pid."""
    for p in list(LIVE):
        if p.poll() is None:
            p.kill()
            p.wait(5)
        kill_group(p.pid)
    os._exit(128 + signum)


def kill_group(pgid: int):
    """Kills the process group of a process started with start_new_session (its leader's pid)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


# --------------------------------------------------------------------------- /proc


def family(pid: int) -> list[int]:
    """`pid` and its live descendants (a gateway's backend processes): what it costs is
    theirs together. Biboumi and an in-process Pontoon have none."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo and len(found) < 10_000:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def _stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None  # ended meanwhile
    return s[s.rindex(")") + 2:].split()


def cpu_seconds(pid: int) -> float:
    """utime + stime of `pid` and its descendants."""
    return sum(cpu_split(pid))


def cpu_split(pid: int) -> tuple[float, float]:
    """(user, system) CPU seconds of `pid` and its descendants."""
    user = system = 0
    for p in family(pid):
        fields = _stat_fields(p)
        if fields:
            user += int(fields[11])  # utime, stime (fields 14, 15)
            system += int(fields[12])
    return user / CLK_TCK, system / CLK_TCK


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS of `pid` and its descendants (or another field of /proc/PID/status in KiB, e.g.
    `RssAnon`: the memory the process allocated, without the file pages of its code, which
    move by a MiB or two between two builds of the same code)."""
    total = 0
    for p in family(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith(f"{field}:")), 0)
        except OSError:
            pass
    return total


# --------------------------------------------------------------------------- bounded waits, statistics


async def until(pred, timeout: float, step: float = 0.02) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(step)
    return True


def get(d, *path):
    """`d[path[0]][path[1]]...`, or None where a level is missing or not a mapping."""
    for p in path:
        if not isinstance(d, dict):
            return None
        d = d.get(p)
    return d


def pct(xs: list[float], p: float) -> float | None:
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100 * (len(xs) - 1)))))
    return xs[k]


def ms(x):
    return None if x is None else round(x * 1000, 3)


# --------------------------------------------------------------------------- rounds


def round_order(gateways: list[str], rnd: int) -> list[str]:
    """The gateways' order in round `rnd` (0-based): rotated by one each round, so that round 2
    starts with the second gateway and no gateway always follows the same one."""
    k = rnd % len(gateways) if gateways else 0
    return gateways[k:] + gateways[:k]


def round_plan(gateways: list[str], rounds: int, out_dir: Path, shm: Path):
    """Each round of an interleaved run: (round index, the gateways' order, the round's data
    directory, its /dev/shm directory). Every gateway process gets fresh directories, as in a
    single pass; one round keeps the single pass's layout."""
    for rnd in range(rounds):
        sub = f"round{rnd + 1}"
        yield (rnd, round_order(gateways, rnd), out_dir if rounds == 1 else out_dir / sub,
               shm if rounds == 1 else shm / sub)


def median_of(nums: list):
    """The median of numbers over the rounds; counts stay whole numbers where the median is
    one (with 2 rounds it is the mean of the two)."""
    m = statistics.median(nums)
    return int(m) if all(isinstance(v, int) for v in nums) and m == int(m) else m


def median_tree(samples: list):
    """The per-figure median of several rounds' results (nested dicts of the same shape): a
    number becomes the median of the rounds that have it, a flag true only if it is in every
    round, a value that is the same in every round stays; lists (the saturation repetitions)
    and values that differ are None here (every round's own are kept beside it). One round
    gives a copy of its results unchanged."""
    vals = [s for s in samples if s is not None]
    if not vals:
        return None
    if len(vals) == 1:
        return copy.deepcopy(vals[0])
    if all(isinstance(v, dict) for v in vals):
        keys = list(dict.fromkeys(k for v in vals for k in v))
        return {k: median_tree([v.get(k) for v in vals]) for k in keys}
    if all(isinstance(v, bool) for v in vals):
        return all(vals)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in vals):
        return median_of(vals)
    if all(v == vals[0] for v in vals) and not isinstance(vals[0], (list, dict)):
        return vals[0]
    return None


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
            # Whatever is left of its process group (the gateway under a profiler wrapper that
            # exited first): a stray gateway would reconnect to the next run's IRC server.
            kill_group(self.proc.pid)
            self.logf.close()
            LIVE.discard(self.proc)
        self.proc = None

    async def setup_users(self, iq, users: list[str]):
        """Per-user settings before the joins (not timed). `iq(user, to, payload, id)` sends an
        iq of type set from `user` and returns (type, attributes, children) of the answer."""


def pontoon_toml_head(workdir: Path, comp_port: int) -> str:
    """The part of a benchmarked Pontoon's pontoon.toml before its transport: component mode
    on `comp_port`, its own SQLite store under `workdir`, log level warn, no console."""
    return (
        "[general]\n"
        'mode = "component"\n'
        f"data_dir = {json.dumps(str(workdir / 'data'))}\n"
        'log_level = "warn"\n'
        "[store]\n"
        'url = ""\n'
        'key_file = ""\n'
        "[component]\n"
        'host = "127.0.0.1"\n'
        f"port = {comp_port}\n"
        # The operator's console is not part of the comparison (biboumi has none), and
        # its default port may be taken by a Pontoon running on the machine.
        "[admin]\n"
        "enabled = false\n"
    )


async def windowed(n: int, window: int, send, waiters: dict, key, each: float, timeout: float):
    """For i in 0..n: a future is put in `waiters` under `key(i)`, `send(i)` writes what it
    answers, and the answer is awaited up to `each` seconds; at most `window` outstanding at
    once, all of it bounded by `timeout`. Whoever reads the answers completes the futures."""
    sem = asyncio.Semaphore(window)
    loop = asyncio.get_running_loop()

    async def one(i: int):
        async with sem:
            fut = loop.create_future()
            waiters[key(i)] = fut
            send(i)
            try:
                await asyncio.wait_for(fut, each)
            except asyncio.TimeoutError:
                pass

    try:
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(n))), timeout)
    except asyncio.TimeoutError:
        pass


class PontoonGw(Gateway):
    label = "Pontoon"
    domain = "pontoon.bench"

    def __init__(self, workdir, comp_port, binary: Path, history: bool = True):
        super().__init__(workdir, comp_port)
        self.bin = binary
        # History (the room archive) is on by default; history_days = 0 turns it off.
        (self.dir / "pontoon.toml").write_text(
            pontoon_toml_head(self.dir, comp_port) +
            "[transports.irc]\n"
            f'domain = "{self.domain}"\n'
            f'secret = "{SECRET}"\n'
            'name = "IRC"\n'
            "enabled = true\n"
            "public_registration = true\n"
            + ("" if history else "history_days = 0\n") +
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

    async def setup_users(self, iq, users: list[str]):
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
                typ, _, children = await iq(
                    user, target, "<command xmlns='http://jabber.org/protocol/commands' node='configure' action='execute'/>", i1)
                sid = next((a.get("sessionid") for nm, a in children if nm == "command"), None)
                if typ != "result" or not sid:
                    raise RuntimeError(f"biboumi configure on {target} failed: {typ} {children[:3]}")
                i2 = f"c{k}b"
                fx = "".join(f"<field var='{k}'>" + "".join(f"<value>{x}</value>" for x in v) + "</field>"
                             for k, v in fields.items())
                typ, _, children = await iq(
                    user, target, f"<command xmlns='http://jabber.org/protocol/commands' node='configure' "
                    f"sessionid={quoteattr(sid)} action='next'><x xmlns='jabber:x:data' type='submit'>{fx}</x></command>", i2)
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


class PontoonBackendGw(PontoonGw):
    """Pontoon whose IRC transport is a backend process: the Python SDK one of
    bench/backends/irc_sdk.py, or the libpurple one with prpl-irc. One network, so rooms are
    `#chan@domain`."""

    def __init__(self, workdir, comp_port, binary: Path, which: str):
        super().__init__(workdir, comp_port, binary)
        self.label = LABELS[which]
        env = ""
        if which == "pontoon-py":
            # The SDK from the tree, no install needed: it has no dependencies.
            command = ["python3", str(HERE / "backends" / "irc_sdk.py")]
            env = f"[transports.irc.env]\nPYTHONPATH = {json.dumps(str(REPO / 'sdk' / 'python'))}\n"
            options = f'host = "{IRC_HOST}"\nport = "{IRC_PORT}"\n'
        else:
            command = [str(REPO / "backends" / "purple" / "build" / "pontoon-purple"), "--protocol", "prpl-irc"]
            # libpurple's IRC drains its send queue once a second, 5 lines then one every
            # ratelimit-interval seconds (2 by default): 0 lifts the spacing (as the other
            # columns have no pacing), not the once-a-second drain.
            options = f'server = "{IRC_HOST}"\nport = "{IRC_PORT}"\nratelimit-interval = "0"\n'
        (self.dir / "pontoon.toml").write_text(
            pontoon_toml_head(self.dir, comp_port) +
            "[transports.irc]\n"
            'kind = "backend"\n'
            f"command = {json.dumps(command)}\n"
            f'domain = "{self.domain}"\n'
            f'secret = "{SECRET}"\n'
            'name = "IRC"\n'
            "enabled = true\n"
            "public_registration = true\n"
            + env + "[transports.irc.options]\n" + options
        )

    def room(self, chan: str) -> str:
        return f"{chan}@{self.domain}"

    async def setup_users(self, iq, users: list[str]):
        """A backend has no anonymous logins: each user registers (XEP-0077, its nick the
        user's name). Not timed."""
        sem = asyncio.Semaphore(50)

        async def register(k: int, user: str):
            async with sem:
                nick = user.split("@", 1)[0]
                typ, _, children = await iq(user, self.domain,
                                            f"<query xmlns='jabber:iq:register'><username>{nick}</username></query>",
                                            f"reg{k}")
                if typ != "result":
                    raise RuntimeError(f"registration of {user} failed: {children[:3]}")

        await asyncio.gather(*(register(k, u) for k, u in enumerate(users)))


def make_gateway(which: str, workdir: Path, comp_port: int, pontoon_bin: Path, shm: Path, n: int) -> Gateway:
    """A fresh gateway of kind `which` (a key of LABELS) with its own directory for run `n`."""
    if which == "pontoon":
        return PontoonGw(workdir / f"pontoon-{n}", comp_port, pontoon_bin)
    if which == "pontoon-nohist":
        return PontoonGw(workdir / f"pontoon-nohist-{n}", comp_port, pontoon_bin, history=False)
    if which in ("pontoon-py", "pontoon-purple"):
        return PontoonBackendGw(workdir / f"{which}-{n}", comp_port, pontoon_bin, which)
    if which == "biboumi-default":
        return BiboumiGw(workdir / f"biboumi-default-{n}", comp_port, True, workdir / f"biboumi-default-{n}")
    if which == "biboumi-nohist":
        return BiboumiGw(workdir / f"biboumi-nohist-{n}", comp_port, False, shm / f"nohist-{n}")
    raise SystemExit(f"unknown gateway {which}")


# --------------------------------------------------------------------------- the report scripts


def provenance(path: str) -> dict:
    """bench/run's provenance of the binary (tmp/provenance.json), or {} when there is none."""
    if not path:
        return {}
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}


def replace_section(readme: Path, begin: str, end: str, body: str) -> None:
    """Puts `body` between the markers `begin` and `end` of `readme`, if it has both."""
    text = readme.read_text()
    if begin in text and end in text:
        pre, rest = text.split(begin, 1)
        _, post = rest.split(end, 1)
        readme.write_text(f"{pre}{begin}\n{body}\n{end}{post}")
