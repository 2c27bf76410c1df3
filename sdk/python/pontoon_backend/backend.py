"""The :class:`Backend` a backend author subclasses, the :class:`Session` its methods are
given, and :func:`run`, which serves the protocol on stdin and stdout."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterable, Coroutine, Sequence
from typing import Any, ClassVar, NoReturn

from . import protocol
from . import vocabulary as v
from .protocol import Json, LineWriter, ProtocolError
from .vocabulary import Account, Address, ClientIds, Event, LegacyId

log = logging.getLogger("pontoon_backend")

MAX_STATE = 64 * 1024
"""The largest state Pontoon keeps for an account, in bytes."""

SHUTDOWN_GRACE = 2.0
"""Seconds the sessions have to log out when stdin closes, before they are cancelled."""

_ENDING = frozenset({"login_failed", "unreachable", "disconnected"})  # the core drops the session
_LOGOUT = ("logout",)


class Session:
    """One user logged in through this backend. Its commands are handled one at a time,
    in order; sessions run concurrently. Events are sent at once (no ``await``)."""

    def __init__(self, id: int, account: Account, state: str | None, out: LineWriter) -> None:
        self.id = id
        """The core's number for the session."""
        self.account = account
        """The user's registration: ``legacy_id``, ``secret``, ``options``."""
        self.state = state
        """What :meth:`save_state` last kept for this account (given back at login)."""
        self.data: dict[str, Any] = {}
        """The backend's own things for this session (a connection, rooms joined)."""
        self._out = out
        self._queue: asyncio.Queue[tuple[Any, ...]] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._connected = False
        self._ended = False

    @property
    def ended(self) -> bool:
        """Whether the session is over (logged out, or ended by the backend's own
        ``login_failed``, ``unreachable`` or ``disconnected``): its events are dropped."""
        return self._ended

    def event(self, event: Event) -> None:
        """Sends any vocabulary event (see :mod:`pontoon_backend.vocabulary`)."""
        if self._ended:
            log.info("session %d is over; event dropped: %.200s", self.id, event)
            return
        self._out.write({"event": {"session": self.id, "event": event}})
        tag = event if isinstance(event, str) else next(iter(event), "")
        self._connected |= tag == "connected"
        if tag in _ENDING:
            self._ended = True
            self._queue.put_nowait(_LOGOUT)  # the core forgets it now: clean up after the current command

    def save_state(self, state: str | None) -> None:
        """Keeps `state` for this account (a token, a sync position), given back at its next
        login as :attr:`state`; ``None`` forgets it. At most 64 KiB."""
        if state is not None and len(state.encode()) > MAX_STATE:
            raise ProtocolError(f"a state of more than {MAX_STATE} bytes")
        if self._ended:
            log.info("session %d is over; state not saved", self.id)
            return
        self._out.write({"save_state": {"session": self.id, "state": state}})
        self.state = state

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Runs `coro` (a network reader, a keepalive) beside the session's commands;
        cancelled when the session ends. A failure is logged."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap)
        return task

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (e := task.exception()) is not None:
            log.error("session %d: a task failed", self.id, exc_info=e)

    # Builders sending the common events; anything else goes through `event`.

    def connected(self) -> None:
        """Login succeeded: the user is online."""
        self.event(v.connected())

    def login_failed(self, reason: str) -> None:
        """Login failed (shown to the user); ends the session."""
        self.event(v.login_failed(reason))

    def unreachable(self, reason: str) -> None:
        """The network could not be reached for the login; ends the session."""
        self.event(v.unreachable(reason))

    def disconnected(self, reason: str) -> None:
        """The connection ended; ends the session."""
        self.event(v.disconnected(reason))

    def notice(self, text: str) -> None:
        """Text for the user from the network or the backend."""
        self.event(v.notice(text))

    def message(self, from_: Address, body: str, id: str | None = None, **fields: Any) -> None:
        """A message from contact `from_` (`fields`: ``kind``, ``reply_to``, ``time``...)."""
        self.event(v.message(from_, body, id=id, **fields))

    def contact_list(self, contacts: Sequence[v.Contact]) -> None:
        """The user's whole contact list."""
        self.event(v.contact_list(contacts))

    def contact_presence(
        self, contact: Address, availability: v.Availability = "available", status: str | None = None
    ) -> None:
        """A contact's presence."""
        self.event(v.contact_presence(contact, availability, status))

    def room_joined(
        self, room: Address, nick: str, occupants: Sequence[v.Occupant], subject: str | None = None, **fields: Any
    ) -> None:
        """The user is in `room` as `nick`, with `occupants` (the user among them)."""
        self.event(v.room_joined(room, nick, occupants, subject, **fields))

    def room_message(self, room: Address, nick: str, body: str, **fields: Any) -> None:
        """A message in `room` from `nick` (`fields`: ``ids`` for a reflection, ``id``...)."""
        self.event(v.room_message(room, nick, body, **fields))


class Backend:
    """A network reached through Pontoon. Subclass it, set the class attributes that
    describe it, override the handlers the network supports, and call :meth:`main`.

    Handlers are coroutines and must not block the event loop (Pontoon pings the backend
    and restarts it if it does not answer): run blocking calls with
    :func:`asyncio.to_thread`. Each command handler's keyword arguments (``**extra``) are
    the command's other fields, as JSON. A command is acknowledged to the core when its
    handler returns; if the handler raises, the user gets a failure event first.
    """

    gateway_type: ClassVar[str] = "unknown"
    """The disco identity's type, ``gateway/<gateway_type>`` (``irc``, ``matrix``...)."""
    registration_instructions: ClassVar[str] = ""
    registration_fields: ClassVar[Sequence[v.RegistrationField]] = (
        v.RegistrationField("username", "User name", "text", True),
        v.RegistrationField("password", "Password", "password", False),
    )
    prompt: ClassVar[str] = "Enter the contact's name on the network."
    commands: ClassVar[Sequence[v.TransportCommand]] = ()
    addresses: ClassVar[v.AddressRules] = v.AddressRules()
    login_fields: ClassVar[v.LoginFields] = v.LoginFields()
    raw_commands: ClassVar[bool] = False
    """Whether it takes raw lines typed at a network's JID (the ``raw`` command)."""
    network_settings: ClassVar[Sequence[Json]] = ()
    room_settings: ClassVar[Sequence[Json]] = ()
    one_network: ClassVar[bool] = False

    def __init__(self) -> None:
        # A subclass's __init__ must call this one.
        self.options: dict[str, str] = {}
        """The transport's options as the operator set them; filled at the welcome."""
        self.sessions: dict[int, Session] = {}
        """The sessions logged in, by number."""
        self._workers: set[asyncio.Task[None]] = set()

    # -- What the backend says of itself.

    def describe(self) -> v.Descriptor:
        """The transport's descriptor; by default built from the class attributes."""
        return v.Descriptor(self.gateway_type, self.registration_instructions, self.registration_fields,
                            self.prompt, self.commands, self.network_settings, self.room_settings, self.one_network)

    def hello(self) -> Json:
        """The first line's body: versions, descriptor, address rules, login fields."""
        return {
            "protocol": protocol.PROTOCOL_VERSION,
            "vocabulary": v.VOCABULARY_VERSION,
            "descriptor": self.describe().to_json(),
            "addresses": self.addresses.to_json(),
            "login": self.login_fields.to_json(),
            "raw_commands": self.raw_commands,
        }

    # -- Handlers to override.

    async def started(self) -> None:
        """The core accepted the backend; :attr:`options` are set. To refuse them, log why
        and ``raise SystemExit(2)``: Pontoon fails the transport's start with that line of
        stderr (it waits for the answer to its first ping before it calls a backend
        started)."""

    async def stopping(self) -> None:
        """stdin closed and every session logged out: close what :meth:`started` opened
        (a listening server), before the process exits."""

    async def login(self, session: Session) -> None:
        """Log `session` in, then send ``connected`` (or ``login_failed``), and return: what
        lasts as long as the session (reading the network) goes to :meth:`Session.spawn`,
        since its commands wait for this. If it raises, the user gets ``login_failed``
        (``unreachable`` for an :class:`OSError`, ``disconnected`` once connected)."""
        session.connected()

    async def logout(self, session: Session) -> None:
        """The session is over (the core logged it out, or it ended by itself): clean up.
        Its spawned tasks are cancelled after this returns."""

    async def send_message(self, session: Session, to: LegacyId, body: str, id: str | None, **extra: Any) -> None:
        """Send `body` to contact `to` (`id` is the XMPP id; ``kind``, ``reply_to``,
        ``thread``, ``attachments`` in `extra`). Raise to fail it: ``send_failed``."""
        raise NotImplementedError("this network takes no messages")

    async def join_room(self, session: Session, room: LegacyId, nick: str, password: str | None,
                        **extra: Any) -> None:
        """Join `room` as `nick`, then send ``room_joined``. Raise to fail it:
        ``room_join_failed``, error ``other``."""
        raise NotImplementedError("this network has no rooms")

    async def leave_room(self, session: Session, room: LegacyId, reason: str | None, **extra: Any) -> None:
        """Leave `room`."""

    async def send_room_message(self, session: Session, room: LegacyId, body: str, ids: ClientIds,
                                **extra: Any) -> None:
        """Send `body` to `room`, reflecting it with the client's `ids` when the network
        does. Raise to fail it: ``room_send_failed``, error ``unreachable``."""
        raise NotImplementedError("this network has no rooms")

    async def set_presence(self, session: Session, availability: v.Availability, status: str | None,
                           **extra: Any) -> None:
        """The user's own presence changed."""

    async def command(self, session: Session, name: str, payload: Json) -> None:
        """Any other command, by its vocabulary name (``disconnect``, ``react``...) with its
        fields. By default nothing, except that a request (``list_rooms``, ``look_up``...)
        gets its empty answer, since the core waits for one."""
        if (answer := v.bounce(name, payload, "not supported by this network")) is not None:
            session.event(answer)

    # -- The protocol.

    @classmethod
    def main(cls) -> NoReturn:
        """Runs a backend of this class on stdin and stdout: ``if __name__ == "__main__":
        EchoBackend.main()``."""
        run(cls())

    async def serve(self, lines: AsyncIterable[bytes], out: LineWriter) -> int:
        """Speaks the protocol: hello on `out`, then what the core says in `lines`, until
        they end. Returns the exit status."""
        out.write({"hello": self.hello()})
        incoming = aiter(lines)
        async for line in incoming:
            if (message := protocol.parse(line)) is None:
                continue
            tag, body = message
            if tag == "welcome" and isinstance(body, dict) and body.get("protocol") == protocol.PROTOCOL_VERSION:
                self.options = {str(k): str(value) for k, value in (body.get("options") or {}).items()}
                break
            if tag != "ping":
                # The core welcomes first, always: anything else is a core this SDK cannot serve.
                log.error("the core did not welcome protocol %d: %.200s", protocol.PROTOCOL_VERSION, line)
                return 2
            self._receive(tag, body, out)
        else:
            return 0
        await self.started()
        async for line in incoming:
            if (message := protocol.parse(line)) is not None:
                self._receive(*message, out)
        await self._close()
        await self.stopping()
        return 0

    def _receive(self, tag: str, body: Any, out: LineWriter) -> None:
        try:
            self._take(tag, body, out)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            log.warning("a malformed %s from the core (%r); skipped", tag, e)

    def _take(self, tag: str, body: Any, out: LineWriter) -> None:
        match tag:
            case "ping":
                out.write({"pong": {"request": body["request"]}})
            case "login":
                number = int(body["session"])
                if number in self.sessions:
                    raise ValueError(f"session {number} is already logged in")
                session = Session(number, Account.from_json(body["account"]), body.get("state"), out)
                self.sessions[number] = session
                worker = asyncio.create_task(self._work(session), name=f"session {number}")
                self._workers.add(worker)
                worker.add_done_callback(self._workers.discard)
            case "command":
                number, seq = int(body["session"]), int(body["seq"])
                try:
                    name, payload = _variant(body["command"])
                except (KeyError, TypeError, ValueError, AttributeError) as e:
                    # Acknowledged all the same: left undone, it would count against the backend.
                    log.warning("session %d: a malformed command (%r); skipped", number, e)
                    out.write({"done": {"session": number, "seq": seq}})
                    return
                if (known := self.sessions.get(number)) is None:
                    log.info("a %s for session %d, which is over; acknowledged", name, number)
                    out.write({"done": {"session": number, "seq": seq}})
                else:
                    known._queue.put_nowait(("command", seq, name, payload))
            case "logout":
                if (ending := self.sessions.get(int(body["session"]))) is not None:
                    ending._queue.put_nowait(_LOGOUT)
            case _:
                log.warning("a %s from the core, which this SDK does not know; skipped", tag)

    async def _work(self, session: Session) -> None:
        """The session's life: its login, its commands in order, its end."""
        try:
            await self._login(session)
            while (item := await session._queue.get()) != _LOGOUT:
                _, seq, name, payload = item
                if not session.ended:
                    await self._handle(session, name, payload)
                session._out.write({"done": {"session": session.id, "seq": seq}})
            session._ended = True
            try:
                await self.logout(session)
            except Exception:
                log.exception("session %d: logout failed", session.id)
        finally:
            session._ended = True
            for task in list(session._tasks):
                task.cancel()
            self.sessions.pop(session.id, None)

    async def _login(self, session: Session) -> None:
        try:
            await self.login(session)
        except Exception as e:
            log.exception("session %d: login failed", session.id)
            reason = str(e) or type(e).__name__
            if session.ended:
                pass
            elif session._connected:
                session.disconnected(reason)
            elif isinstance(e, OSError):
                session.unreachable(reason)
            else:
                session.login_failed(reason)

    async def _handle(self, session: Session, name: str, p: Json) -> None:
        """Calls the handler of one command; on failure, tells the user."""
        try:
            match name:
                case "send_message":
                    await self.send_message(session, LegacyId.from_json(p["to"]), p["body"], p.get("id"),
                                            **_rest(p, "to", "body", "id"))
                case "send_room_message":
                    await self.send_room_message(session, LegacyId.from_json(p["room"]), p["body"],
                                                 ClientIds.from_json(p.get("ids")), **_rest(p, "room", "body", "ids"))
                case "join_room":
                    await self.join_room(session, LegacyId.from_json(p["room"]), p["nick"], p.get("password"),
                                         **_rest(p, "room", "nick", "password"))
                case "leave_room":
                    await self.leave_room(session, LegacyId.from_json(p["room"]), p.get("reason"),
                                          **_rest(p, "room", "reason"))
                case "set_presence":
                    await self.set_presence(session, p["availability"], p.get("status"),
                                            **_rest(p, "availability", "status"))
                case _:
                    await self.command(session, name, p)
        except Exception as e:
            if isinstance(e, NotImplementedError):
                log.warning("session %d: %s: %s", session.id, name, e)
            else:
                log.exception("session %d: %s failed", session.id, name)
            try:
                failure = v.bounce(name, p, str(e) or type(e).__name__)
                if failure is not None:
                    session.event(failure)
            except Exception:
                log.exception("session %d: could not tell the user %s failed", session.id, name)

    async def _close(self) -> None:
        """stdin closed: log every session out, giving them a moment."""
        for session in self.sessions.values():
            session._queue.put_nowait(_LOGOUT)
        if self._workers:
            _, late = await asyncio.wait(set(self._workers), timeout=SHUTDOWN_GRACE)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late, timeout=SHUTDOWN_GRACE)


def _variant(command: Any) -> tuple[str, Json]:
    """A command's name and fields: ``"x"`` or ``{"x": {...}}``."""
    if isinstance(command, str):
        return command, {}
    ((name, payload),) = command.items()
    if not isinstance(payload, dict):
        raise TypeError(f"the fields of {name} are not an object")
    return str(name), payload


def _rest(payload: Json, *taken: str) -> Json:
    return {k: value for k, value in payload.items() if k not in taken}


def run(backend: Backend, *, log_level: int | str = logging.INFO) -> NoReturn:
    """Serves `backend` on stdin and stdout until stdin closes, then exits. Logging goes
    to stderr (Pontoon keeps its last lines); stdout carries protocol lines only."""
    logging.basicConfig(stream=sys.stderr, level=log_level, format="%(levelname)s %(name)s: %(message)s")
    out = protocol.claim_stdout()

    async def serve() -> int:
        return await backend.serve(protocol.read_lines(protocol.stdin_chunks()), out)

    try:
        status = asyncio.run(serve())
    except KeyboardInterrupt:
        status = 130
    sys.exit(status)
