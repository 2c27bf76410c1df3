"""The line I/O of the backend protocol: one JSON object a line, UTF-8, ``\\n``-ended.

Pontoon reads what a backend writes with bounds (``crates/pontoon-backend/src/framing.rs``);
the writer here refuses what Pontoon would skip, so a mistake shows in the backend's log
rather than as a silently lost line. The reader applies the same bound to what the core
writes, so one bad line never stops the backend.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import select
import stat
import sys
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Any

log = logging.getLogger("pontoon_backend")

PROTOCOL_VERSION = 1
"""The version of the protocol's envelope (``hello``, ``login``, ``done``...)."""

MAX_LINE = 256 * 1024
"""The longest line either side reads, in bytes, without its newline."""

_CHUNK = 64 * 1024

Json = dict[str, Any]
"""A JSON object, as :func:`json.loads` gives it."""


class ProtocolError(ValueError):
    """A message that cannot be written as one protocol line (too long, not JSON)."""


class LineWriter:
    """Writes protocol messages, one line each, to a sink of bytes (stdout's descriptor).

    Writes are synchronous on purpose: a line is out before the next statement runs, so
    events always precede their command's ``done`` and nothing is lost if the backend
    exits right after. Pontoon reads its backends' output all the time, so a write only
    waits when Pontoon itself is stuck, and then it kills the backend anyway.
    """

    def __init__(self, sink: Callable[[bytes], None]) -> None:
        self._sink = sink

    def write(self, message: Json) -> None:
        """Writes `message` as one line; raises :class:`ProtocolError` if it cannot be one."""
        try:
            data = json.dumps(message, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise ProtocolError(f"not a JSON message: {e}") from e
        if len(data) > MAX_LINE:
            raise ProtocolError(f"a line of {len(data)} bytes; Pontoon reads at most {MAX_LINE}")
        self._sink(data + b"\n")


def fd_sink(fd: int) -> Callable[[bytes], None]:
    """A sink writing whole buffers to the file descriptor `fd`, blocking or not."""

    def write(data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                # stdout may share a non-blocking file description with stdin (a terminal).
                select.select([], [fd], [])

    return write


def claim_stdout() -> LineWriter:
    """Keeps stdout for protocol lines only: a copy of its descriptor writes them, and
    descriptor 1 and :data:`sys.stdout` go to stderr, so a stray ``print()`` (or a C
    library's output) cannot corrupt the protocol."""
    sys.stdout.flush()
    fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return LineWriter(fd_sink(fd))


async def stdin_chunks(fd: int = 0) -> AsyncIterator[bytes]:
    """What arrives on `fd` (stdin), chunk by chunk, without blocking the event loop; ends
    at end of file."""
    loop = asyncio.get_running_loop()
    mode = os.fstat(fd).st_mode
    if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or os.isatty(fd):
        reader = asyncio.StreamReader(limit=MAX_LINE)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0))
        while chunk := await reader.read(_CHUNK):
            yield chunk
        return
    # A regular file or /dev/null, which the event loop cannot poll: read it in a daemon
    # thread (one that never keeps the process from exiting).
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def pump() -> None:
        while True:
            try:
                chunk = os.read(fd, _CHUNK)
            except OSError:
                chunk = b""
            loop.call_soon_threadsafe(queue.put_nowait, chunk)
            if not chunk:
                return

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    while chunk := await queue.get():
        yield chunk


async def read_lines(chunks: AsyncIterable[bytes], limit: int = MAX_LINE) -> AsyncIterator[bytes]:
    """The lines in `chunks`, without their newlines; blank lines are dropped, and a line
    longer than `limit` is logged and skipped to its end without being kept."""
    buf = bytearray()
    skipping = False
    async for chunk in chunks:
        buf += chunk
        while (end := buf.find(b"\n")) >= 0:
            line = bytes(buf[:end])
            del buf[: end + 1]
            if skipping:
                skipping = False
            elif len(line) > limit:
                log.warning("a line of %d bytes from the core; skipped", len(line))
            elif line.strip():
                yield line
        if len(buf) > limit and not skipping:
            log.warning("a line of more than %d bytes from the core; skipped", limit)
            skipping = True
        if skipping:
            buf.clear()
    if buf.strip() and not skipping:
        yield bytes(buf)  # a last line without its newline still counts


def parse(line: bytes) -> tuple[str, Any] | None:
    """A line from the core as ``(tag, body)`` (``("ping", {"request": 3})``), or
    ``None``, logged, if it is not one protocol message."""
    try:
        message = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        log.warning("a line from the core that is not JSON (%s); skipped", e)
        return None
    if not isinstance(message, dict) or len(message) != 1:
        log.warning("a line from the core that is not a message; skipped: %.200s", line)
        return None
    ((tag, body),) = message.items()
    return tag, body
