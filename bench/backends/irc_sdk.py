#!/usr/bin/env python3
"""A minimal IRC backend written with the Python SDK (sdk/python), for bench/ only: it puts
a process boundary and Python between Pontoon and the same IRC workload the in-process
transport meets, so bench/isolated.py can show what the boundary costs per message
(`--gateways pontoon,pontoon-py`).

Just what the benchmark's IRC server needs: registration (NICK/USER, then 001), PING,
JOIN with NAMES (353/366), PRIVMSG both ways, QUIT. Not a transport for users: no TLS, no
SASL, no nick collisions, no reconnection. The server is the options' `host` and `port`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pontoon_backend import AddressRules, Backend, ClientIds, LegacyId, Occupant, RegistrationField, Session


class IrcBench(Backend):
    gateway_type = "irc"
    registration_fields = (RegistrationField("username", "Nick", "text", required=True),)
    prompt = "Enter a nick."
    addresses = AddressRules(case="ascii_lowercase", room="[#&][^ ,]+", occupant_contact="{nick}")

    async def login(self, session: Session) -> None:
        host, port = self.options.get("host", "127.0.0.1"), int(self.options.get("port", "6667"))
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 16)
        nick = session.account.legacy_id
        writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :{nick}\r\n".encode())
        while True:
            line = await asyncio.wait_for(reader.readline(), 30)
            if not line:
                raise OSError("the IRC server closed the connection during registration")
            words = line.decode(errors="replace").split()
            if words[:1] == ["PING"]:
                writer.write(f"PONG {words[1] if len(words) > 1 else ''}\r\n".encode())
            elif len(words) > 1 and words[1] == "001":
                break
        session.data.update(writer=writer, nick=nick, names={})
        session.connected()
        session.spawn(self.read(session, reader, writer))

    async def read(self, session: Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            text = line.decode(errors="replace").rstrip("\r\n")
            if text.startswith("PING"):
                writer.write(f"PONG {text[5:]}\r\n".encode())
                continue
            prefix, _, rest = text.partition(" ") if text.startswith(":") else ("", "", text)
            command, _, params = rest.partition(" ")
            sender = prefix[1:].split("!", 1)[0]
            if command == "PRIVMSG":
                target, _, body = params.partition(" :")
                if target.startswith("#"):
                    if sender != session.data["nick"]:
                        session.room_message(LegacyId(target.lower()), sender, body)
                else:
                    session.message(LegacyId(sender.lower()), body)
            elif command == "353":
                parts = params.split(" ", 3)  # nick, '=', channel, :names
                if len(parts) == 4:
                    members = session.data["names"].setdefault(parts[2].lower(), [])
                    members.extend(n.lstrip("@+") for n in parts[3].lstrip(":").split())
            elif command == "366":
                chan = params.split(" ")[1].lower()
                members = session.data["names"].pop(chan, [])
                occupants = [Occupant(m, "participant", "none") for m in members]
                session.room_joined(LegacyId(chan), session.data["nick"], occupants)
        session.disconnected("the IRC server closed the connection")

    async def join_room(self, session: Session, room: LegacyId, nick: str, password: str | None,
                        **extra: Any) -> None:
        # room_joined follows the server's 366.
        session.data["writer"].write(f"JOIN {room.name}\r\n".encode())

    async def send_room_message(self, session: Session, room: LegacyId, body: str, ids: ClientIds,
                                **extra: Any) -> None:
        line = body.replace("\r", " ").replace("\n", " ")
        session.data["writer"].write(f"PRIVMSG {room.name} :{line}\r\n".encode())
        # IRC does not echo: the reflection, with the client's ids, is ours to send.
        session.room_message(room, session.data["nick"], body, ids=ids)

    async def send_message(self, session: Session, to: LegacyId, body: str, id: str | None, **extra: Any) -> None:
        line = body.replace("\r", " ").replace("\n", " ")
        session.data["writer"].write(f"PRIVMSG {to.name} :{line}\r\n".encode())

    async def logout(self, session: Session) -> None:
        writer = session.data.get("writer")
        if writer is not None:
            writer.write(b"QUIT :bye\r\n")
            writer.close()


if __name__ == "__main__":
    IrcBench.main()
