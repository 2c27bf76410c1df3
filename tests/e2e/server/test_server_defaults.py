"""`pontoon run` with no configuration file (issue 6): the embedded defaults are server mode
on loopback, c2s on 127.0.0.1:5222 with STARTTLS and a certificate generated on first start
(under ./data/tls, the log names ca.pem), the console on 127.0.0.1:8780, and one transport
`irc` at irc.localhost, disabled until the operator enables it.

The ports are the fixed defaults: the test is skipped when either is taken."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import subprocess
import time
import urllib.request

import pytest

from harness.client import LoginFailed, User
from harness.pontoon import pontoon_bin
from harness.util import stop_process

C2S, CONSOLE = 5222, 8780


def _taken(port: int) -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def _wait_log(path, pattern: str, proc, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace") if path.exists() else ""
        m = re.search(pattern, text)
        if m:
            return text
        if proc.poll() is not None:
            raise AssertionError(f"pontoon exited ({proc.returncode}):\n{text[-4000:]}")
        time.sleep(0.1)
    raise AssertionError(f"no {pattern!r} in the log within {timeout} s:\n{text[-4000:]}")


async def test_run_without_a_config_file_serves_loopback(tmp_path, ngircd, raw_irc):
    taken = [p for p in (C2S, CONSOLE) if _taken(p)]
    if taken:
        pytest.skip(f"the default ports {taken} on 127.0.0.1 are in use; this test needs them free")
    cwd = tmp_path / "empty"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PONTOON_CONFIG", "PONTOON_STORE_KEY")}
    log = tmp_path / "pontoon.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen([str(pontoon_bin()), "run"], cwd=cwd, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        text = _wait_log(log, r"server mode: listening for XMPP clients", proc)
        # Data under ./data, the generated CA named in the log, IRC disabled and how to enable it.
        ca = cwd / "data" / "tls" / "ca.pem"
        assert ca.exists()
        assert "data/tls/ca.pem" in text, text
        assert "pontoon --embedded-defaults policy set irc enabled=true" in text, text
        assert "pontoon --embedded-defaults admin add <name>" in text, text
        # Colour codes only on a terminal: this log is a file.
        assert "\x1b[" not in text, text[:2000]
        assert "127.0.0.1:5222" in text and "irc.localhost" in text, text
        assert (cwd / "data" / "pontoon.db").exists()
        assert not (cwd / "pontoon.toml").exists()

        # The console answers.
        def health() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{CONSOLE}/healthz", timeout=5) as r:
                return r.status
        assert await asyncio.to_thread(health) == 200

        # STARTTLS with the generated certificate; the login is refused, readably, because
        # the transport is disabled.
        user = User("nick%irc.example.net@irc.localhost", "pw", C2S, ca_file=str(ca))
        with pytest.raises(LoginFailed) as failed:
            await user.connect(timeout=15)
        reason = str(failed.value)
        assert "disabled" in reason.lower(), reason

        # What the log says to do next works from the same directory, still without a file,
        # and the running instance follows it: the login is now checked against the network
        # (127.0.0.1 is refused as a network address by the gateway, but not by the policy).
        # Without the flag, a command that acts on the store refuses to guess which store.
        run = subprocess.run([str(pontoon_bin()), "policy", "set", "irc", "enabled=true"], cwd=cwd,
                             env=env, capture_output=True, text=True, timeout=30)
        assert run.returncode != 0
        assert f"no configuration file at {cwd / 'pontoon.toml'}" in run.stderr, run.stderr
        assert "--embedded-defaults" in run.stderr, run.stderr
        run = subprocess.run([str(pontoon_bin()), "--embedded-defaults", "policy", "set", "irc", "enabled=true"],
                             cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        reason = ""
        for _ in range(20):
            user = User("nick%127.0.0.1@irc.localhost", "pw", C2S, ca_file=str(ca))
            try:
                await user.connect(timeout=15)
                await user.disconnect()
                break
            except LoginFailed as e:
                reason = str(e)
                if "disabled" not in reason.lower():
                    break
            await asyncio.sleep(0.25)
        assert "disabled" not in reason.lower(), reason
        assert not (cwd / "pontoon.toml").exists()

        # The README's "against an IRC server on your machine": one command, then a user on
        # that server's channel (the port is the test's ngircd, 6667 in the README).
        run = subprocess.run([str(pontoon_bin()), "--embedded-defaults", "policy", "set", "irc",
                              "options.allowed_networks=localhost", f"options.connect_port={ngircd.port}"],
                             cwd=cwd, env=env, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0, run.stderr
        watcher = await raw_irc("watcher")
        await watcher.join("#test")
        for _ in range(20):  # the running gateway picks the options up within a second
            user = User("yournick%localhost@irc.localhost", "pw", C2S, ca_file=str(ca))
            try:
                await user.connect(timeout=15)
                break
            except LoginFailed as e:
                reason = str(e)
            await asyncio.sleep(0.25)
        else:
            raise AssertionError(f"no login through localhost: {reason}")
        try:
            user.send_presence(to="#test%localhost@irc.localhost/yournick")
            await watcher.expect_cmd("JOIN", frm="yournick", param0="#test")
        finally:
            await user.disconnect()
    except BaseException:
        print(f"\n--- {log} ---\n{log.read_text(errors='replace')[-6000:]}")
        raise
    finally:
        stop_process(proc)
