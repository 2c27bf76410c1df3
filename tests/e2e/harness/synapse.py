"""A private Synapse (the Matrix homeserver) for the tests: loopback only, a free port, SQLite
in its own directory, every rate limit raised, no federation.

Synapse runs from ./.venv-synapse (scripts/test installs it from
tests/e2e/matrix/requirements-synapse.txt). The config is written by hand rather than by
`--generate-config` (which costs a ~3 s Python start of its own and then needs editing):
JSON is valid YAML, so homeserver.yaml is a json.dumps. docs/testing-peers.md says why each
setting is there. start()/stop()/kill() keep the port, database and media store, so a test
can kill the homeserver mid-conversation and bring it back.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from .util import REPO_ROOT, file_size, free_port, read_text, stop_process, tail

SERVER_NAME = "localhost"
START_TIMEOUT = 30.0
# Rates no test comes near: Synapse's defaults (e.g. 0.2 messages/s after a burst of 10,
# 0.003 logins/s) would make a busy test wait for 429s. per_second 0 is NOT "unlimited"
# (nothing would ever drain the burst), so every limit gets a large rate and burst instead.
UNLIMITED = {"per_second": 100000, "burst_count": 100000}
RATE_LIMITS = {
    "rc_message": UNLIMITED,
    "rc_registration": UNLIMITED,
    "rc_registration_token_validity": UNLIMITED,
    "rc_login": {"address": UNLIMITED, "account": UNLIMITED, "failed_attempts": UNLIMITED},
    "rc_admin_redaction": UNLIMITED,
    "rc_joins": {"local": UNLIMITED, "remote": UNLIMITED},
    "rc_joins_per_room": UNLIMITED,
    "rc_3pid_validation": UNLIMITED,
    "rc_invites": {"per_room": UNLIMITED, "per_user": UNLIMITED, "per_issuer": UNLIMITED},
    "rc_third_party_invite": UNLIMITED,
    "rc_media_create": UNLIMITED,
    "rc_presence": {"per_user": UNLIMITED},
    "rc_delayed_event_mgmt": UNLIMITED,
    "rc_room_creation": UNLIMITED,
    "rc_reports": UNLIMITED,
    "rc_user_directory": UNLIMITED,
    "rc_profile": UNLIMITED,
    "rc_key_requests": UNLIMITED,
}


def synapse_python() -> Path:
    """The Python of the Synapse virtualenv: $SYNAPSE_VENV/bin/python, default
    <checkout>/.venv-synapse."""
    env = os.environ.get("SYNAPSE_VENV")
    venv = Path(env) if env else REPO_ROOT / ".venv-synapse"
    return venv / "bin" / "python"


def signing_key_line() -> str:
    """A fresh ed25519 signing key in Synapse's file format (`ed25519 <version> <seed>`, the
    32-byte seed in unpadded base64, as signedjson writes it): written here so that no extra
    `--generate-keys` run of Synapse is needed."""
    seed = base64.b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    return f"ed25519 a_e2e {seed}\n"


class SynapseError(RuntimeError):
    pass


class Synapse:
    """One Synapse process. start() (waits until the client API answers), stop() (SIGTERM,
    then SIGKILL), kill() (SIGKILL). Port, database and media survive both."""

    def __init__(self, workdir: Path, port: int | None = None, overrides: dict | None = None):
        self.dir = Path(workdir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server_name = SERVER_NAME
        self.shared_secret = secrets.token_hex(16)
        self.config_path = self.dir / "homeserver.yaml"
        self.log_config_path = self.dir / "log.config"
        self.log_path = self.dir / "homeserver.log"
        self.console_path = self.dir / "synapse.console.log"
        self.signing_key_path = self.dir / "signing.key"
        self.media_path = self.dir / "media_store"
        self.db_path = self.dir / "homeserver.db"
        # Top-level keys that replace the defaults of config() (e.g. low rc_message limits
        # for a 429 test, or max_upload_size).
        self.overrides = dict(overrides or {})
        self.proc: subprocess.Popen | None = None
        self._console = None
        self.start_offset = 0
        self._secrets = {"macaroon_secret_key": secrets.token_hex(32), "form_secret": secrets.token_hex(32)}

    # --- configuration ---------------------------------------------------------------

    def config(self) -> dict:
        cfg = {
            "server_name": self.server_name,
            "public_baseurl": self.url + "/",
            "pid_file": str(self.dir / "homeserver.pid"),
            "listeners": [{
                "port": self.port,
                "bind_addresses": ["127.0.0.1"],
                "type": "http",
                "tls": False,
                "x_forwarded": False,
                "resources": [{"names": ["client"], "compress": False}],
            }],
            "database": {"name": "sqlite3", "args": {"database": str(self.db_path)}},
            "log_config": str(self.log_config_path),
            "media_store_path": str(self.media_path),
            "max_upload_size": "10M",
            "url_preview_enabled": False,
            "enable_registration": False,
            "registration_shared_secret": self.shared_secret,
            # Password hashing at bcrypt's cheapest cost: each registration and login costs
            # milliseconds instead of a quarter second.
            "bcrypt_rounds": 4,
            "report_stats": False,
            "enable_metrics": False,
            "signing_key_path": str(self.signing_key_path),
            # No key server to ask (no internet) and no federation: nothing leaves the machine.
            "trusted_key_servers": [],
            "suppress_key_server_warning": True,
            "federation_domain_whitelist": [],
            "presence": {"enabled": True},
            # Public rooms can be published to the room directory (Synapse denies it by default).
            "room_list_publication_rules": [{"action": "allow"}],
            "user_directory": {"enabled": True, "search_all_users": True},
            **self._secrets,
            **RATE_LIMITS,
        }
        cfg.update(self.overrides)
        return cfg

    def write_config(self) -> None:
        self.config_path.write_text(json.dumps(self.config(), indent=2) + "\n")
        self.log_config_path.write_text(json.dumps({
            "version": 1,
            "formatters": {"precise": {"format": "%(asctime)s %(levelname)s %(name)s %(request)s: %(message)s"}},
            "filters": {"context": {"()": "synapse.logging.context.LoggingContextFilter", "request": ""}},
            "handlers": {"file": {
                "class": "logging.FileHandler", "filename": str(self.log_path),
                "formatter": "precise", "filters": ["context"], "encoding": "utf8",
            }},
            "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
            "root": {"level": "INFO", "handlers": ["file"]},
            "disable_existing_loggers": False,
        }, indent=2) + "\n")
        if not self.signing_key_path.exists():
            self.signing_key_path.write_text(signing_key_line())
            self.signing_key_path.chmod(0o600)

    # --- process ---------------------------------------------------------------------

    def start(self, timeout: float = START_TIMEOUT) -> float:
        """Starts Synapse and waits until GET /_matrix/client/versions answers 200.
        Returns the seconds it took."""
        if self.running():
            raise SynapseError("Synapse is already running")
        python = synapse_python()
        if not python.exists():
            raise SynapseError(f"{python} does not exist: scripts/test creates .venv-synapse from "
                               "tests/e2e/matrix/requirements-synapse.txt (or set SYNAPSE_VENV)")
        self.write_config()
        self.start_offset = file_size(self.log_path)
        console_offset = file_size(self.console_path)
        self._console = open(self.console_path, "ab")
        began = time.monotonic()
        self.proc = subprocess.Popen(
            [str(python), "-m", "synapse.app.homeserver", "--config-path", str(self.config_path)],
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
        )
        deadline = began + timeout
        while True:
            if self.proc.poll() is not None:
                self._close_console()
                self._fail(f"Synapse exited with status {self.proc.returncode} while starting", console_offset)
            if self._versions_ok():
                return time.monotonic() - began
            if time.monotonic() >= deadline:
                self.stop()
                self._fail(f"Synapse did not answer {self.url}/_matrix/client/versions in {timeout} s",
                           console_offset)
            time.sleep(0.05)

    def _versions_ok(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/_matrix/client/versions", timeout=1) as r:
                return r.status == 200 and "versions" in json.load(r)
        except (OSError, ValueError):
            return False

    def _fail(self, msg: str, console_offset: int = 0):
        raise SynapseError(
            f"{msg}\n--- tail of {self.log_path} ---\n{self.log_tail(40)}"
            f"\n--- {self.console_path} (this start) ---\n"
            + "\n".join(read_text(self.console_path, console_offset).splitlines()[-30:])
        )

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM by pid; SIGKILL if it has not exited in timeout seconds. Returns the status."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=timeout)
        self._close_console()
        return rc

    def kill(self) -> int | None:
        """SIGKILL, as a crash or the OOM killer would: no shutdown of any kind."""
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=5, sig=signal.SIGKILL)
        self._close_console()
        return rc

    def restart(self) -> float:
        self.stop()
        return self.start()

    def _close_console(self) -> None:
        if self._console:
            self._console.close()
            self._console = None

    # --- logs ------------------------------------------------------------------------

    def log_tail(self, lines: int = 60) -> str:
        return tail(self.log_path, lines)

    def log_text(self, since: int = 0) -> str:
        return read_text(self.log_path, since)

    def log_offset(self) -> int:
        return file_size(self.log_path)

    def log_contains(self, pattern: str, since: int = 0) -> bool:
        return re.search(pattern, self.log_text(since)) is not None

    # --- admin API -------------------------------------------------------------------

    def request(self, method: str, path: str, body: dict | None = None, token: str | None = None,
                timeout: float = 10.0) -> tuple[int, dict]:
        """One client-server or admin API call: (HTTP status, JSON body). Does not raise on
        4xx/5xx, so a test can assert the exact status."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as e:
            raw = e.read()
            try:
                return e.code, json.loads(raw)
            except ValueError:
                return e.code, {"raw": raw.decode("utf-8", "replace")}

    def register(self, localpart: str, password: str, admin: bool = False,
                 displayname: str | None = None) -> dict:
        """Registers a user through the shared-secret admin API (POST /_synapse/admin/v1/register:
        GET a nonce, then an HMAC-SHA1 over nonce, user, password and admin flag). Returns
        Synapse's answer: user_id, access_token, device_id, home_server."""
        path = "/_synapse/admin/v1/register"
        status, body = self.request("GET", path)
        if status != 200:
            raise SynapseError(f"GET {path}: {status} {body}")
        nonce = body["nonce"]
        message = "\x00".join([nonce, localpart, password, "admin" if admin else "notadmin"])
        mac = hmac.new(self.shared_secret.encode(), message.encode(), hashlib.sha1)
        payload = {"nonce": nonce, "username": localpart, "password": password, "admin": admin,
                   "mac": mac.hexdigest()}
        if displayname:
            payload["displayname"] = displayname
        status, body = self.request("POST", path, payload)
        if status != 200:
            raise SynapseError(f"registering {localpart}: {status} {body}")
        return body

    def user_id(self, localpart: str) -> str:
        return f"@{localpart}:{self.server_name}"
