"""Real terminal XMPP clients driven through tmux: what a person sees on the screen.

Each client runs in its own tmux server (a private socket under the test's directory) with
its own HOME, so tests share nothing and leave nothing behind. Keys go in with
`send-keys -l` (literal text) and the screen comes back with `capture-pane`; waits poll the
screen until the text a person would look for is there, bounded in time, and fail with the
screen attached. See docs/testing-peers.md (trusting a CA, what the clients need from stanzas).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_TIMEOUT = 15.0


class ScreenTimeout(AssertionError):
    pass


class Terminal:
    """One program in a private tmux server, 200 columns by 50 lines."""

    def __init__(self, base: Path, command: list[str], env: dict[str, str] | None = None,
                 width: int = 200, height: int = 50):
        if shutil.which("tmux") is None:
            raise RuntimeError("tmux is not installed (scripts/test installs it)")
        self.base = base
        base.mkdir(parents=True, exist_ok=True)
        self.socket = base / "tmux.sock"
        self.session = "t"
        self.argv = command
        self.env = env or {}
        self.width, self.height = width, height
        self.started = False
        self.seen: list[str] = []

    def _tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=check, capture_output=True,
                              text=True, timeout=10)

    def start(self) -> None:
        env_args = [f"{k}={v}" for k, v in self.env.items()]
        self._tmux("new-session", "-d", "-s", self.session, "-x", str(self.width), "-y", str(self.height),
                   "env", *env_args, *self.argv)
        self.started = True

    def stop(self) -> None:
        if self.started:
            self._tmux("kill-server", check=False)
            self.started = False

    def type(self, text: str, enter: bool = True) -> None:
        """Types `text` as a person would (literally), then Enter."""
        self._tmux("send-keys", "-t", self.session, "-l", text)
        if enter:
            self._tmux("send-keys", "-t", self.session, "Enter")

    def enter(self) -> None:
        """Presses Enter, alone."""
        self._tmux("send-keys", "-t", self.session, "Enter")

    def screen(self) -> str:
        """The visible screen, wrapped lines joined. Every capture is kept in `seen`."""
        text = self._tmux("capture-pane", "-p", "-J", "-t", self.session).stdout
        self.seen.append(text)
        return text

    def ever_shown(self, text: str) -> bool:
        """Whether any screen captured so far showed `text`."""
        return any(text in s for s in self.seen)

    async def wait_screen(self, pattern: str, timeout: float = DEFAULT_TIMEOUT, what: str | None = None) -> re.Match:
        """Waits until the screen matches `pattern` (a regex, multi-line)."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.M)
        while True:
            text = self.screen()
            m = rx.search(text)
            if m:
                return m
            if time.monotonic() > deadline:
                raise ScreenTimeout(f"no {what or pattern!r} on the screen within {timeout} s:\n{text}")
            await asyncio.sleep(0.2)


class Profanity(Terminal):
    """profanity 0.13 (Debian's), with its own HOME; one XMPP account."""

    def __init__(self, base: Path):
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "XDG_DATA_HOME": str(home / ".local/share"), "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        super().__init__(base, ["profanity"], env=env)

    async def open(self) -> "Profanity":
        self.start()
        await self.wait_screen(r"Type '/help' to show complete help", what="profanity's welcome")
        return self

    async def connect(self, jid: str, password: str, port: int, tls: str = "disable", ca_dir: Path | None = None,
                      timeout: float = 30.0) -> None:
        """`/connect` to 127.0.0.1:port; with `ca_dir` (a directory of CA certificates made with
        `openssl rehash`), TLS is required and checked against it."""
        if ca_dir is not None:
            self.type(f"/tls certpath set {ca_dir}")
            await self.wait_screen(r"Certificate path set to", what="the certificate path")
        self.type(f"/connect {jid} server 127.0.0.1 port {port} tls {tls}")
        await self.wait_screen(r"Enter password", what="the password prompt")
        self.type(password)
        m = await self.wait_screen(r"logged in successfully|Login failed|[Cc]ertificate verification|/tls allow",
                                   timeout=timeout, what="the login outcome")
        if m.group(0) != "logged in successfully":
            raise AssertionError(f"profanity did not log in:\n{self.screen()}")

    def window(self, n: int) -> None:
        self.type(f"/win {n}")

    async def show_window(self, n: int, title: str) -> str:
        """Switches to window `n` and waits for its title bar to name `title`."""
        self.window(n)
        await self.wait_screen(r"^ " + re.escape(title) + r"\s", what=f"window {n} ({title})")
        return self.screen()


class Poezio(Terminal):
    """poezio (Debian's), logged in from its configuration file at start. poezio refuses to
    run as root, so as root it runs as `nobody` (setpriv), with a HOME of its own in a fresh
    directory under /tmp that `nobody` owns (the test's directory may not be reachable for
    it); the directory is removed by `stop`."""

    def __init__(self, base: Path, jid: str, password: str, port: int, ca_pem: Path | None = None):
        self.home = Path(tempfile.mkdtemp(prefix="pontoon-e2e-poezio-"))
        config = self.home / ".config" / "poezio"
        config.mkdir(parents=True)
        lines = ["[Poezio]", f"jid = {jid}", f"password = {password}", "custom_host = 127.0.0.1",
                 f"custom_port = {port}"]
        if ca_pem is not None:
            shutil.copy(ca_pem, self.home / "ca.pem")
            lines.append(f"ca_cert_path = {self.home / 'ca.pem'}")
        else:
            lines.append("force_encryption = false")
        (config / "poezio.cfg").write_text("\n".join(lines) + "\n")
        env = {"HOME": str(self.home), "XDG_CONFIG_HOME": str(self.home / ".config"),
               "XDG_DATA_HOME": str(self.home / ".local/share"), "XDG_CACHE_HOME": str(self.home / ".cache"),
               "TERM": "xterm-256color", "LANG": "C.UTF-8"}
        command = ["poezio"]
        if os.geteuid() == 0:
            for root, dirs, files in os.walk(self.home):
                for name in [root, *(os.path.join(root, f) for f in dirs + files)]:
                    shutil.chown(name, "nobody", "nogroup")
            os.chmod(self.home, 0o700)
            command = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "poezio"]
        super().__init__(base, command, env=env)

    async def open(self, timeout: float = 30.0) -> "Poezio":
        self.start()
        m = await self.wait_screen(r"Your JID is|Authentication failed|[Cc]ertificate|Connection failed",
                                   timeout=timeout, what="poezio's login")
        if m.group(0) != "Your JID is":
            raise AssertionError(f"poezio did not log in:\n{self.screen()}")
        return self

    async def command(self, text: str) -> None:
        """A `/command`: the `/` first, alone (in the roster tab poezio takes a `/` that comes
        with more keys at once for a paste, not a command), then the rest."""
        self.type("/", enter=False)
        await self.wait_screen(r"/\s*\Z", what="the command line")
        await self.say(text.removeprefix("/"))

    async def say(self, text: str) -> None:
        """Types a line and sends it: the text first, then Enter once the text is on the input
        line. (poezio takes keys that arrive in one read for a paste, where Enter is a new
        line in the input, not "send": on a loaded machine text and Enter typed at once can
        arrive together, and the line was never sent.)"""
        self.type(text, enter=False)
        await self.wait_screen(re.escape(text[-20:]) + r"\s*\Z", what="the typed line")
        self.enter()

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self.home, ignore_errors=True)


def ca_directory(ca_pem: Path, into: Path) -> Path:
    """A directory holding `ca_pem` and the hash link OpenSSL looks certificates up by."""
    into.mkdir(parents=True, exist_ok=True)
    shutil.copy(ca_pem, into / "ca.pem")
    subprocess.run(["openssl", "rehash", str(into)], check=True, capture_output=True, timeout=10)
    return into


def count_lines(screen: str, pattern: str) -> int:
    """How many screen lines match `pattern`."""
    rx = re.compile(pattern)
    return sum(1 for line in screen.splitlines() if rx.search(line))


def installed() -> bool:
    return shutil.which("profanity") is not None and shutil.which("tmux") is not None

