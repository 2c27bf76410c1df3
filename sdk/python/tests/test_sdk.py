"""The SDK against the protocol: examples/echo.py run as Pontoon runs a backend (a process
spoken to over pipes), every line it writes checked against the published schema; then
the SDK's dispatch in process, with handlers that fail."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

SDK = Path(__file__).resolve().parents[1]
REPO = SDK.parents[1]
sys.path.insert(0, str(SDK))

from pontoon_backend import Backend, LegacyId, LineWriter, Session  # noqa: E402
from pontoon_backend.protocol import read_lines  # noqa: E402

SCHEMA = json.loads((REPO / "docs/backends/protocol.schema.json").read_text())
FROM_BACKEND = jsonschema.Draft202012Validator(
    {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], **SCHEMA["properties"]["from_backend"]}
)
TO_BACKEND = jsonschema.Draft202012Validator(
    {"$schema": SCHEMA["$schema"], "$defs": SCHEMA["$defs"], **SCHEMA["properties"]["to_backend"]}
)
ANN: dict[str, Any] = {"legacy_id": "ann", "secret": None, "options": {}}


class Echo:
    """examples/echo.py in a process, spoken to as the core speaks."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": str(SDK)}
        self.proc = subprocess.Popen(
            [sys.executable, str(SDK / "examples/echo.py")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        self.lines: queue.Queue[bytes] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        # stderr is drained too, so that logging can never fill its pipe and block.
        self.stderr: list[bytes] = []
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr or []), daemon=True).start()

    def _pump(self) -> None:
        for line in self.proc.stdout or []:
            self.lines.put(line)
        self.lines.put(b"")

    def send(self, message: Any, check: bool = True) -> None:
        if check:
            TO_BACKEND.validate(message)
        self.write(json.dumps(message).encode())

    def write(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data + b"\n")
        self.proc.stdin.flush()

    def read(self, timeout: float = 5) -> Any:
        """The next line, checked against the schema; None at the end of the output."""
        line = self.lines.get(timeout=timeout)
        if not line:
            return None
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        message = json.loads(line)
        FROM_BACKEND.validate(message)
        return message

    def events(self, until_done: int, session: int = 1) -> list[Any]:
        """The session's events up to the `done` of command `until_done` (checked to come
        in order)."""
        events = []
        while (message := self.read()) != {"done": {"session": session, "seq": until_done}}:
            assert message is not None, "the backend ended"
            assert "done" not in message or message["done"]["seq"] < until_done, message
            if "event" in message:
                assert message["event"]["session"] == session
                events.append(message["event"]["event"])
            elif "save_state" in message:
                events.append(message)
        return events

    def login(self, session: int = 1, account: dict[str, Any] = ANN, state: str | None = None) -> list[Any]:
        self.send({"login": {"session": session, "account": account, "state": state}})
        events = [self.read()["event"]["event"] for _ in range(4)]
        assert events[0] == "connected"
        return events

    def command(self, seq: int, command: Any, session: int = 1) -> list[Any]:
        self.send({"command": {"session": session, "seq": seq, "command": command}})
        return self.events(seq, session)


@pytest.fixture
def echo() -> Iterator[Echo]:
    backend = Echo()
    backend.hello = backend.read()  # type: ignore[attr-defined]
    backend.send({"welcome": {"protocol": 1, "options": {"colour": "blue"}}})
    yield backend
    if backend.proc.poll() is None:
        backend.proc.kill()
    backend.proc.wait()


def to_bob(body: str, id: str = "m1") -> Any:
    return {"send_message": {"to": {"name": "bob"}, "body": body, "kind": "text", "id": id, "reply_to": None,
                             "attachments": []}}


def test_the_hello_describes_the_echo_network(echo: Echo) -> None:
    FROM_BACKEND.validate(echo.hello)  # type: ignore[attr-defined]  # (as every line read is)
    hello = echo.hello["hello"]  # type: ignore[attr-defined]
    assert hello["protocol"] == 1 and hello["vocabulary"] == 2
    assert hello["descriptor"]["gateway_type"] == "echo"
    assert [(f["var"], f["kind"], f["required"]) for f in hello["descriptor"]["registration_fields"]] == [
        ("username", "text", True), ("password", "password", False)]
    assert hello["addresses"] == {"case": "ascii_lowercase", "max_length": 255, "contact": "[a-z0-9_.-]+",
                                  "room": "#[a-z0-9_-]+", "occupant_contact": "{nick}"}


def test_a_ping_is_answered(echo: Echo) -> None:
    echo.send({"ping": {"request": 41}})
    assert echo.read() == {"pong": {"request": 41}}


def test_login_connects_and_shows_the_echo_contact(echo: Echo) -> None:
    events = echo.login()
    assert events[1] == {"contact_list": {"contacts": [{"id": {"name": "echo"}, "name": "Echo"}]}}
    assert events[2] == {"contact_presence": {"contact": {"name": "echo"}, "availability": "available"}}
    assert events[3] == {"notice": {"text": "Welcome: 0 messages echoed so far"}}


def test_a_message_is_echoed_and_each_command_done(echo: Echo) -> None:
    echo.login()
    first = echo.command(1, to_bob("hello there"))
    assert first[0] == {"message": {"from": {"name": "bob"}, "body": "hello there", "kind": "text"}}
    assert first[1] == {"save_state": {"session": 1, "state": '{"echoed": 1}'}}
    assert echo.command(2, to_bob("again", id="m2"))[0]["message"]["body"] == "again"
    # A command the example leaves to the SDK is done all the same.
    assert echo.command(3, {"set_presence": {"availability": "away", "status": "lunch"}}) == []


def test_a_room_reflects_the_users_message_then_echobot_repeats_it(echo: Echo) -> None:
    echo.login()
    room = {"name": "#lobby"}
    (joined,) = echo.command(1, {"join_room": {"room": room, "nick": "ann", "password": None}})
    assert joined["room_joined"]["room"] == room and joined["room_joined"]["nick"] == "ann"
    assert [o["nick"] for o in joined["room_joined"]["occupants"]] == ["ann", "echobot"]
    ids = {"id": "s1", "origin_id": "o1"}
    said = echo.command(2, {"send_room_message": {"room": room, "body": "hi all", "kind": "text", "ids": ids,
                                                  "reply_to": None, "attachments": []}})
    assert said[0]["room_message"] == {"room": room, "nick": "ann", "body": "hi all", "kind": "text",
                                            "ids": ids}
    assert said[1]["room_message"]["nick"] == "echobot" and said[1]["room_message"]["ids"]["id"] is None
    assert echo.command(3, {"leave_room": {"room": room, "reason": None}}) == []
    # Not in the room any more: the example raises, and the SDK tells the user.
    (failed,) = echo.command(4, {"send_room_message": {"room": room, "body": "hm", "ids": ids}})
    assert failed["room_send_failed"]["error"] == "unreachable" and failed["room_send_failed"]["ids"] == ids


def test_a_wrong_password_fails_the_login(echo: Echo) -> None:
    echo.send({"login": {"session": 7, "account": {**ANN, "secret": "wrong"}, "state": None}})
    assert echo.read() == {"event": {"session": 7, "event": {"login_failed": {"reason": "wrong password"}}}}
    # The session is over: a command already on its way is done, without a word.
    assert echo.command(1, to_bob("anyone?"), session=7) == []


def test_the_saved_state_comes_back_at_login(echo: Echo) -> None:
    events = echo.login(state='{"echoed": 4}')
    assert events[3] == {"notice": {"text": "Welcome back: 4 messages echoed so far"}}
    assert echo.command(1, to_bob("five"))[1]["save_state"]["state"] == '{"echoed": 5}'


def test_crash_exits_with_status_3_leaving_the_message_undone(echo: Echo) -> None:
    echo.login()
    echo.send({"command": {"session": 1, "seq": 1, "command": to_bob("crash!")}})
    assert echo.proc.wait(timeout=5) == 3
    assert echo.read() is None


def test_the_end_of_stdin_ends_the_backend(echo: Echo) -> None:
    echo.login()
    assert echo.proc.stdin is not None
    started = time.monotonic()
    echo.proc.stdin.close()
    assert echo.proc.wait(timeout=5) == 0
    assert time.monotonic() - started < 5
    assert echo.read() is None


def test_malformed_lines_from_the_core_are_skipped(echo: Echo) -> None:
    echo.login()
    for bad in [b"this is not json", b"[1, 2]", b'{"a": 1, "b": 2}', b'{"command": {"session": 1}}',
                b'{"no_such_message": {}}', b"\xff\xfe", b'{"ping": ' + b"x" * (300 * 1024) + b"}"]:
        echo.write(bad)
    echo.send({"ping": {"request": 2}})
    assert echo.read() == {"pong": {"request": 2}}
    assert echo.command(1, to_bob("still here"))[0]["message"]["body"] == "still here"
    assert any(b"skipped" in line for line in echo.stderr)


# In process: the dispatch, with a backend whose handlers misbehave.

class Faulty(Backend):
    gateway_type = "faulty"

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []
        self.release = asyncio.Event()

    async def send_message(self, session: Session, to: LegacyId, body: str, id: str | None, **extra: Any) -> None:
        self.calls.append(f"{session.id}:{body}")
        if body == "wait":
            await self.release.wait()  # held until session 2 runs: sessions are concurrent
        if body == "release":
            self.release.set()
        if body == "boom":
            raise ConnectionError("the network hung up")

    async def logout(self, session: Session) -> None:
        self.calls.append(f"{session.id}:logout")


def serve(backend: Backend, *messages: Any) -> list[Any]:
    """Runs `backend` on `messages` as the core's lines, to their end; what it wrote."""
    written: list[bytes] = []

    async def lines() -> AsyncIterator[bytes]:
        yield json.dumps({"welcome": {"protocol": 1, "options": {"k": "v"}}}).encode()
        for message in messages:
            yield json.dumps(message).encode()

    assert asyncio.run(backend.serve(lines(), LineWriter(written.append))) == 0
    out = [json.loads(line) for line in written]
    for message in out:
        FROM_BACKEND.validate(message)
    return out[1:]


def login(session: int) -> Any:
    return {"login": {"session": session, "account": ANN, "state": None}}


def send(session: int, seq: int, body: str) -> Any:
    return {"command": {"session": session, "seq": seq, "command": to_bob(body)}}


def test_a_send_handler_that_raises_gives_send_failed_and_done() -> None:
    out = serve(Faulty(), login(1), send(1, 1, "boom"), send(1, 2, "fine"))
    assert out == [
        {"event": {"session": 1, "event": "connected"}},
        {"event": {"session": 1, "event": {"send_failed": {"to": {"name": "bob"}, "id": "m1",
                                                            "reason": "the network hung up"}}}},
        {"done": {"session": 1, "seq": 1}},
        {"done": {"session": 1, "seq": 2}},
    ]


def test_sessions_run_concurrently_and_each_in_order() -> None:
    backend = Faulty()
    out = serve(backend, login(1), login(2), send(1, 1, "wait"), send(1, 2, "after"), send(2, 1, "release"))
    assert backend.options == {"k": "v"}
    dones = [m["done"] for m in out if "done" in m]
    assert dones == [{"session": 2, "seq": 1}, {"session": 1, "seq": 1}, {"session": 1, "seq": 2}]
    assert backend.calls.index("1:wait") < backend.calls.index("1:after")
    # At the end of stdin, every session is logged out.
    assert sorted(c for c in backend.calls if c.endswith("logout")) == ["1:logout", "2:logout"]


def test_unsupported_commands_fail_or_answer_empty() -> None:
    room = {"name": "#r"}
    out = serve(Backend(), login(1),
                {"command": {"session": 1, "seq": 1, "command": {"join_room": {"room": room, "nick": "a"}}}},
                {"command": {"session": 1, "seq": 2, "command": {"look_up": {"request": 9, "contact": room}}}},
                {"command": {"session": 1, "seq": 3, "command": {"disconnect": {"reason": "bye"}}}},
                {"logout": {"session": 1}})
    assert out[1:] == [
        {"event": {"session": 1, "event": {"room_join_failed": {"room": room, "error": "other",
                                                                 "text": "this network has no rooms"}}}},
        {"done": {"session": 1, "seq": 1}},
        {"event": {"session": 1, "event": {"looked_up": {"request": 9, "details": None}}}},
        {"done": {"session": 1, "seq": 2}},
        {"done": {"session": 1, "seq": 3}},
    ]


def test_lines_are_split_bounded_and_the_last_needs_no_newline() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for chunk in [b'{"a":1}\n\n  \n{"b"', b':2}\n' + b"x" * 40, b"y" * 40, b"z\n", b'{"c":3}']:
            yield chunk

    async def collect() -> list[bytes]:
        return [line async for line in read_lines(chunks(), limit=64)]

    # The 81-byte line is dropped though it came in pieces and ended in a later chunk.
    assert asyncio.run(collect()) == [b'{"a":1}', b'{"b":2}', b'{"c":3}']


# examples/loopnet.py: the conformance suite runs it (crates/pontoon-backend/tests/conformance.rs);
# here, how it refuses a bad configuration and bad peers.

def start_loopnet(options: dict[str, str]) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(SDK / "examples/loopnet.py")], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(SDK)})
    assert proc.stdin is not None and proc.stdout is not None
    FROM_BACKEND.validate(json.loads(proc.stdout.readline()))  # the hello
    proc.stdin.write(json.dumps({"welcome": {"protocol": 1, "options": options}}).encode() + b"\n")
    proc.stdin.flush()
    return proc


@pytest.mark.parametrize("options", [{}, {"peer_port": "not-a-port"}, {"peer_port": "70000"}])
def test_loopnet_without_a_usable_peer_port_says_why_and_exits(options: dict[str, str]) -> None:
    proc = start_loopnet(options)
    _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert b"ERROR loopnet: cannot listen for peers on 127.0.0.1 at the option peer_port" in stderr, stderr


def test_loopnet_refuses_what_its_peers_may_not_do() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = start_loopnet({"peer_port": str(port)})
    try:
        deadline = time.monotonic() + 10
        while True:  # it listens once welcomed
            try:
                peer = socket.create_connection(("127.0.0.1", port), timeout=5).makefile("rwb")
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "loopnet does not listen"
                time.sleep(0.05)

        def ask(line: bytes) -> Any:
            peer.write(line + b"\n")
            peer.flush()
            return json.loads(peer.readline())

        assert "error" in ask(b'{"nick": "bad nick"}') and peer.readline() == b""  # and closed
        peer = socket.create_connection(("127.0.0.1", port), timeout=5).makefile("rwb")
        assert ask(b'{"nick": "bob"}') == {"hello": {"nick": "bob"}}
        assert ask(b'{"say": {"room": "#conf", "text": "hi"}}') == {"error": "you are not in #conf"}
        assert ask(b'{"join": "#conf"}') == {"joined": {"room": "#conf", "members": ["bob"]}}
        assert "error" in ask(b'{"say": {"room": "#conf", "text": "bad\\u0000"}}')
        assert ask(b'{"say": {"room": "#conf", "text": "hi"}}') == {"said": {"id": "m1"}}
        assert "error" in ask(b'{"retract": {"room": "#conf", "target": "m9"}}')
        assert "error" in ask(b"[" * 9000) and peer.readline() == b""  # a line too long: closed
    finally:
        proc.kill()
        proc.wait()
