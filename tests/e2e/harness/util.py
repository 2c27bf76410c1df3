"""Small helpers shared by the harness: free ports, TCP probes, log tails, process stops."""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import time
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

REPO_ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def free_ports(n: int) -> list[int]:
    """n distinct free ports (all held open together while picking, so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def random_secret() -> str:
    return secrets.token_hex(16)


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path: Path, lines: int = 60) -> str:
    """The last lines of a text file, ANSI colours removed; empty if it does not exist."""
    try:
        data = path.read_bytes()
    except OSError:
        return f"({path} does not exist)"
    text = ANSI.sub("", data.decode("utf-8", "replace"))
    return "\n".join(text.splitlines()[-lines:])


def read_text(path: Path, offset: int = 0) -> str:
    """The file from byte offset on, decoded, ANSI colours removed."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return ""
    return ANSI.sub("", data.decode("utf-8", "replace"))


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def stop_process(proc: subprocess.Popen, timeout: float = 5.0, sig: int = signal.SIGTERM) -> int:
    """Sends sig to the process (by its pid), waits up to timeout, then SIGKILLs it.

    Returns the exit status (negative for a signal, as subprocess reports it)."""
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return proc.wait(timeout=5)


def wait_until(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Polls predicate until it returns a truthy value or timeout seconds pass (then raises)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


def outcome_failed(request) -> bool:
    """Whether the test of a fixture's `request` failed in setup or call (the reports are
    attached to the test item by the hook in tests/e2e/conftest.py)."""
    node = request.node
    return any(getattr(node, "rep_" + w, None) is not None and getattr(node, "rep_" + w).failed
               for w in ("setup", "call"))
