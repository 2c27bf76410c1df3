"""What systemd's side of `Type=notify` sees: a unix datagram socket bound by the test, whose
path goes to Pontoon as $NOTIFY_SOCKET, collecting each notification (READY=1, STATUS=...,
STOPPING=1, WATCHDOG=1) as a dict of its lines; and a client's first look at an XMPP port
(the stream header and features), to check that what was announced ready serves.
"""

from __future__ import annotations

import os
import re
import socket
import time
from pathlib import Path


class NotifySocket:
    """`with NotifySocket(path) as n:` binds `path` (writable by anyone, so a process started
    as another user can send too); `n.wait_for("READY", 30)`."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.messages: list[dict[str, str]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        os.chmod(self.path, 0o666)

    def __enter__(self) -> NotifySocket:
        return self

    def __exit__(self, *exc) -> None:
        self.sock.close()
        self.path.unlink(missing_ok=True)

    def _receive(self, timeout: float) -> bool:
        """Reads one datagram within `timeout` seconds; False when none came."""
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(4096)
        except (socket.timeout, BlockingIOError):
            return False
        fields = {}
        for line in data.decode("utf-8", "replace").splitlines():
            key, _, value = line.partition("=")
            fields[key] = value
        self.messages.append(fields)
        return True

    def wait_for(self, key: str, timeout: float, value: str | None = None) -> dict[str, str]:
        """The first notification (already received or arriving within `timeout` seconds)
        carrying `key` (with `value`, if given); fails naming what did arrive."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for m in self.messages[seen:]:
                if key in m and (value is None or value in m[key]):
                    return m
            seen = len(self.messages)
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key} notification within {timeout} s; got {self.messages}")
            self._receive(left)

    def collect(self, seconds: float) -> list[dict[str, str]]:
        """Everything that arrives within `seconds` (for what must NOT be sent meanwhile)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._receive(left)
        return self.messages

    def keys(self) -> list[str]:
        """The keys of every notification so far, in order (READY, STATUS, ...)."""
        return [k for m in self.messages for k in m]


def stream_features(port: int, domain: str, timeout: float = 5.0) -> str:
    """Opens a client stream to 127.0.0.1:`port` at once (no retry: the port must be
    serving now) and returns what the server sends up to its stream features."""
    header = (
        "<?xml version='1.0'?><stream:stream to='" + domain + "' version='1.0' "
        "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
    )
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(header.encode())
        got = b""
        while not re.search(rb"</([a-z]+:)?features>", got) and time.monotonic() < deadline:
            s.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = s.recv(4096)
            if not chunk:
                break
            got += chunk
            if len(got) > 65536:
                break
    return got.decode("utf-8", "replace")
