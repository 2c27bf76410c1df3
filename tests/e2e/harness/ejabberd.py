"""A private ejabberd for the tests: loopback only, random ports, its own directory, no TLS,
no Erlang distribution.

The same interface as harness/prosody.py (dir, c2s_port, component_port, components,
accounts, add_account, start, stop, restart, log_tail, log_contains, running()), so a test
module can yield an Ejabberd from its `prosody` fixture and the suite's fixtures use it as
the host server. See docs/testing-peers.md for why each setting is there. Verified with
Debian 12's ejabberd 23.01 (Erlang/OTP 25).
"""

from __future__ import annotations

import glob
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .util import free_ports, outcome_failed, random_secret, read_text, stop_process, tail

VHOST = "localhost"

# The modules a client of the tests needs (ejabberd 23.01 names). Presence, messages and
# c2s are the core's; no mod_offline (a test that wants offline storage, as operators
# usually have it, adds "mod_offline" before starting), no mod_register (accounts come from
# the harness), no mod_s2s_dialback. mod_http_api and mod_admin_extra are the harness's
# own way in (accounts, rosters), on the loopback-only HTTP listener.
MODULES = {
    "mod_disco": {},
    "mod_roster": {},
    "mod_ping": {},
    "mod_version": {},
    "mod_time": {},
    "mod_http_api": {},
    "mod_admin_extra": {},
}


# Installed in the node in place of OTP's SIGTERM handler (which calls init:stop(): in OTP 25
# that alone takes a second, even in an empty node). This one stops what init:stop() would
# stop that matters (ejabberd: sessions, streams and listeners closed; Mnesia: tables
# closed), writes out the log files, which the logger writes with a delay, and halts: about
# 30 ms. Written into the instance's directory and compiled in the node at start.
SIGTERM_MODULE = """\
%% Written by tests/e2e/harness/ejabberd.py: a quick stop on SIGTERM.
-module(e2e_sigterm).
-behaviour(gen_event).
-export([install/1, init/1, handle_event/2, handle_call/2]).

%% Marker: a file written once installed (the harness waits for it).
install(Marker) ->
    ok = gen_event:swap_handler(erl_signal_server, {erl_signal_handler, []}, {?MODULE, []}),
    ok = file:write_file(Marker, <<>>).

init(_) -> {ok, []}.

handle_event(sigterm, S) ->
    spawn(fun stop/0),
    {ok, S};
handle_event(Signal, S) ->
    erl_signal_handler:handle_event(Signal, S).

handle_call(_, S) -> {ok, ok, S}.

stop() ->
    logger:notice("SIGTERM received: stopping ejabberd and Mnesia, then halting"),
    application:stop(ejabberd),
    application:stop(mnesia),
    ejabberd_logger:flush(),
    erlang:halt(0, [{flush, true}]).
"""


def listens(pid: int, port: int) -> bool:
    """Whether process pid has a socket listening on TCP port `port` (Linux /proc)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            f = row.split()
            if f[3] == "0A" and int(f[1].rsplit(":", 1)[1], 16) == port:  # 0A: LISTEN
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return False
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in inodes:
                return True
        except OSError:
            continue
    return False


def ejabberd_libs() -> str | None:
    """The directory to put in ERL_LIBS so that `erl` finds ejabberd's application.

    Debian installs ejabberd outside Erlang's own lib directory, in
    /usr/lib/<triplet>/ejabberd-<version> (what /usr/sbin/ejabberdctl sets ERL_LIBS to)."""
    found = sorted(glob.glob("/usr/lib/*/ejabberd-*/ebin/ejabberd.app"))
    found += sorted(glob.glob("/usr/lib/erlang/lib/ejabberd-*/ebin/ejabberd.app"))
    return str(Path(found[0]).parents[2]) if found else None


def yaml_lines(value, indent: int = 0) -> list[str]:
    """Block-style YAML for dicts, lists and scalars; strings written as JSON strings (a valid
    YAML double-quoted scalar), keys bare when they are plain words."""
    pad = "  " * indent

    def scalar(v) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        return json.dumps(str(v))

    def key(k: str) -> str:
        return k if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) else json.dumps(k)

    lines: list[str] = []
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{key(k)}:")
                lines += yaml_lines(v, indent + 1)
            elif isinstance(v, dict):
                lines.append(f"{pad}{key(k)}: {{}}")
            elif isinstance(v, list):
                lines.append(f"{pad}{key(k)}: []")
            else:
                lines.append(f"{pad}{key(k)}: {scalar(v)}")
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                lines.append(f"{pad}-")
                lines += yaml_lines(item, indent + 1)
            else:
                lines.append(f"{pad}- {scalar(item)}")
    else:
        lines.append(pad + scalar(value))
    return lines


class EjabberdError(RuntimeError):
    pass


class Ejabberd:
    """One ejabberd node. Start with start(), stop with stop(); restart() keeps ports and data
    (the Mnesia directory: accounts and rosters)."""

    def __init__(
        self,
        workdir: Path,
        components: dict[str, str] | None = None,
        accounts: dict[str, str] | None = None,
        c2s_port: int | None = None,
        component_port: int | None = None,
        privileged: dict[str, dict[str, str]] | None = None,
        options: dict | None = None,
    ):
        self.dir = Path(workdir)
        # More top-level options of ejabberd.yml (e.g. domain_balancing).
        self.options = dict(options or {})
        self.dir.mkdir(parents=True, exist_ok=True)
        a, b, c = free_ports(3)
        self.c2s_port = c2s_port or a
        self.component_port = component_port or b
        # mod_http_api, for the harness only (accounts): loopback, no TLS.
        self.http_port = c
        self.components = dict(components) if components is not None else {"test.localhost": random_secret()}
        self.accounts = dict(accounts) if accounts is not None else {}
        self.config_path = self.dir / "ejabberd.yml"
        self.log_dir = self.dir / "logs"
        self.log_path = self.log_dir / "ejabberd.log"
        self.console_path = self.dir / "ejabberd.console.log"
        self.mnesia_dir = self.dir / "mnesia"
        self.sigterm_path = self.dir / "e2e_sigterm.erl"
        self.sigterm_marker = self.dir / "e2e_sigterm.installed"
        self.proc: subprocess.Popen | None = None
        self._console = None
        # Changed before a (re)start: e.g. {"mod_offline": {}} for offline storage.
        self.modules = {k: dict(v) for k, v in MODULES.items()}
        # XEP-0356 privileges per component domain ({"roster": "both", "message":
        # "outgoing"}, Prosody's names, which are also ejabberd's), granted by the built-in
        # mod_privilege; none by default (the module is not loaded).
        self.privileged = dict(privileged or {})
        self.loglevel = os.environ.get("E2E_EJABBERD_LOGLEVEL", "debug")
        # Seconds the last start() took, accounts included (docs/testing-peers.md).
        self.start_seconds: float | None = None

    # --- configuration ---------------------------------------------------------------

    def config(self) -> dict:
        listen = [
            {"port": self.c2s_port, "ip": "127.0.0.1", "module": "ejabberd_c2s", "starttls": False},
            # global_routes false: a connection serves the domain it authenticated as, not
            # every domain of the listener (ejabberd's default routes them all to it).
            {"port": self.component_port, "ip": "127.0.0.1", "module": "ejabberd_service",
             "global_routes": False,
             "hosts": {d: {"password": s} for d, s in self.components.items()}},
            {"port": self.http_port, "ip": "127.0.0.1", "module": "ejabberd_http",
             "request_handlers": {"/api": "mod_http_api"}},
        ]
        acl: dict = {"loopback": {"ip": ["127.0.0.0/8"]}}
        access_rules: dict = {}
        modules = {k: dict(v) for k, v in self.modules.items()}
        if self.privileged:
            # One ACL and access rule per granted (kind, type), matching the component
            # domains that have it: mod_privilege evaluates the rule on the component's JID.
            grants: dict = {}
            for domain, perms in self.privileged.items():
                for kind, typ in perms.items():
                    name = f"privilege_{kind}_{typ}"
                    acl.setdefault(name, {"server": []})["server"].append(domain)
                    access_rules[name] = {"allow": name}
                    grants.setdefault(kind, {})[typ] = name
            modules["mod_privilege"] = grants
        return {
            "hosts": [VHOST],
            "loglevel": self.loglevel,
            "hide_sensitive_log_data": False,
            # No certificates anywhere: nothing to request, nothing to read in /etc.
            "acme": {"auto": False},
            "certfiles": [],
            "auth_method": "internal",
            "auth_password_format": "plain",
            # No s2s: nothing listens for it, and nothing tries to reach other domains.
            "s2s_access": "none",
            "acl": acl,
            "access_rules": access_rules,
            "api_permissions": {
                "harness on loopback": {
                    "from": ["mod_http_api"],
                    "who": {"ip": "127.0.0.1/8"},
                    "what": ["*"],
                },
            },
            "listen": listen,
            "modules": modules,
            **self.options,
        }

    def write_config(self) -> None:
        text = "# Generated by tests/e2e/harness/ejabberd.py: a private, loopback-only ejabberd.\n"
        self.config_path.write_text(text + "\n".join(yaml_lines(self.config())) + "\n")

    def add_account(self, user: str, password: str) -> None:
        """Kept for the next start; registered now (HTTP API) if the node is running."""
        self.accounts[user] = password
        if self.running():
            self._register(user, password)

    def _register(self, user: str, password: str) -> None:
        status, body = self.api("register", user=user, host=VHOST, password=password, check=False)
        if status == 409 or (status != 200 and "already registered" in body):
            self.api("change_password", user=user, host=VHOST, newpass=password)
        elif status != 200:
            raise EjabberdError(f"registering {user}@{VHOST} failed: HTTP {status}: {body}")

    def api(self, command: str, check: bool = True, timeout: float = 10.0, **args) -> tuple[int, str]:
        """POST /api/<command> with the arguments as JSON (mod_http_api): (status, body)."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/api/{command}",
            data=json.dumps(args).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, body = resp.status, resp.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read().decode("utf-8", "replace")
        if check and status != 200:
            raise EjabberdError(f"ejabberd API {command} failed: HTTP {status}: {body}")
        return status, body

    # --- process ---------------------------------------------------------------------

    def command(self) -> tuple[list[str], dict[str, str]]:
        """`erl` running ejabberd in the foreground, as ejabberdctl's `foreground` would, but
        as the current user and without distribution (no node name, no epmd, no cookie)."""
        libs = ejabberd_libs()
        if shutil.which("erl") is None or libs is None:
            raise EjabberdError("ejabberd is not installed (scripts/test installs it)")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ERL_", "EJABBERD_"))}
        env.update({
            "HOME": str(self.dir),
            "ERL_LIBS": libs,
            "EJABBERD_CONFIG_PATH": str(self.config_path),
            "EJABBERD_LOG_PATH": str(self.log_path),
            "ERL_CRASH_DUMP": str(self.dir / "erl_crash.dump"),
            "ERL_CRASH_DUMP_BYTES": "0",
        })
        src = self.sigterm_path
        argv = [
            "erl", "-noinput",
            "-mnesia", "dir", json.dumps(str(self.mnesia_dir)),
            # quiet: only critical lines on the console (the log file has everything);
            # no rotation; no dropping of log lines under load (default: 500 a second).
            "-ejabberd", "quiet", "true", "log_rotate_count", "0", "log_rotate_size", "infinity",
            "log_burst_limit_count", "1000000",
            "-s", "ejabberd",
            # Once ejabberd is up (-s and -eval run in order): the quick SIGTERM handler.
            # A failure here halts the node, and start() reports it.
            "-eval", f"{{ok, M, B}} = compile:file({json.dumps(str(src))}, [binary, report]), "
                     f"{{module, M}} = code:load_binary(M, {json.dumps(str(src))}, B), "
                     f"M:install({json.dumps(str(self.sigterm_marker))}).",
        ]
        return argv, env

    def start(self, timeout: float = 30.0) -> None:
        if self.running():
            raise EjabberdError("ejabberd is already running")
        argv, env = self.command()
        self.write_config()
        self.sigterm_path.write_text(SIGTERM_MODULE)
        self.sigterm_marker.unlink(missing_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.mnesia_dir.mkdir(parents=True, exist_ok=True)
        self._console = open(self.console_path, "ab")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            argv,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        # Ready when this node listens on every port. A port probe alone could hit another
        # process that took a port freed a moment ago (ejabberd only logs a port it cannot
        # bind, and runs on without it), and the log file lags: it is written with a delay.
        ports = (self.c2s_port, self.component_port, self.http_port)
        deadline = started + timeout
        while True:
            if self.proc.poll() is not None:
                self._fail(f"ejabberd exited with status {self.proc.returncode} while starting")
            if self.sigterm_marker.exists() and all(listens(self.proc.pid, p) for p in ports):
                break
            if time.monotonic() >= deadline:
                self.kill()
                self._fail(f"ejabberd did not listen on ports {', '.join(map(str, ports))} "
                           f"(or install its SIGTERM handler) in {timeout} s")
            time.sleep(0.02)
        for user, pw in self.accounts.items():
            self._register(user, pw)
        self.start_seconds = time.monotonic() - started

    def _fail(self, msg: str):
        raise EjabberdError(
            f"{msg}\n--- tail of {self.log_path} ---\n{tail(self.log_path)}"
            f"\n--- tail of {self.console_path} ---\n{tail(self.console_path, 20)}"
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGTERM by pid (ejabberd and Mnesia stop, the log is written out: SIGTERM_MODULE);
        SIGKILL if it has not exited in timeout seconds."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=timeout)
        self._reap()
        return rc

    def kill(self) -> int | None:
        """SIGKILL: immediate; the log may miss its last lines (written with a delay)."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=0, sig=signal.SIGKILL)
        self._reap()
        return rc

    def _reap(self) -> None:
        # erl_child_setup (and inet_gethost, if it ran) exit with the VM; anything left in
        # the process group started for this node is killed by the group's id.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self._console:
            self._console.close()
            self._console = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def log_contains(self, pattern: str) -> bool:
        return re.search(pattern, read_text(self.log_path)) is not None


@contextmanager
def running(workdir: Path, request, components: list[str], accounts: dict[str, str],
            privileged: dict[str, dict[str, str]] | None = None,
            options: dict | None = None) -> Iterator[Ejabberd]:
    """A started ejabberd with a component (random secret) for each domain of `components`,
    for a fixture to yield; stopped at the end, with its log's tail printed if the test of
    `request` failed (or E2E_SHOW_LOGS is set). `options`: more top-level options."""
    e = Ejabberd(workdir, components={d: random_secret() for d in components}, accounts=accounts,
                 privileged=privileged, options=options)
    e.start()
    try:
        yield e
    finally:
        e.stop()
        if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
            print(f"\n--- tail of {e.log_path} ---\n{e.log_tail(40)}")
