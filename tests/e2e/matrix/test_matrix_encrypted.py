"""Encrypted rooms against a real Synapse: Pontoon's device takes part in Olm/Megolm. The
Matrix peer is matrix-nio with encryption (harness/matrix_e2ee.py), opening the direct
chat as Element does (encrypted from its first event)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import pytest

from harness.gateway import register
from harness.matrix_e2ee import register_encrypted
from harness.muc import chat

MATRIX = "matrix.localhost"
NS_CORRECT = "urn:xmpp:message-correct:0"
UNDECRYPTABLE = "[a message that Pontoon could not decrypt: the sender's device did not share its key]"


def contact_jid(user_id: str) -> str:
    return f"{user_id.lstrip('@').replace(':', chr(92) + '3a')}@{MATRIX}"


@pytest.fixture
async def encrypted_user(synapse, tmp_path):
    """await encrypted_user("bob") -> an EncryptedMatrixUser on the shared Synapse; closed
    at teardown."""
    users = []

    async def make(prefix: str = "user"):
        u = await register_encrypted(synapse, tmp_path / f"nio-{prefix}-{len(users)}", prefix)
        users.append(u)
        return u

    yield make
    for u in users:
        await u.close()


@dataclass
class Chat:
    """An encrypted DM opened by Bob (encrypting nio client) with Alice, whose account the
    XMPP user registered with Pontoon; Pontoon accepted it."""
    pontoon: object
    user: object
    alice: object
    bob: object
    room: str
    bob_jid: str


async def encrypted_dm(make_matrix_pontoon, connect, matrix_user, encrypted_user,
                       options: dict | None = None) -> Chat:
    pontoon = make_matrix_pontoon(options=options)
    alice = await matrix_user("alice")
    bob = await encrypted_user("bob")
    user = await connect("user1")
    await register(user, alice.user_id, alice.password, to=MATRIX)
    await user.expect_presence(MATRIX, "available", timeout=30)
    room = await bob.create_encrypted_dm(alice.user_id)
    await bob.wait_event(lambda seen: seen.room_id == room and getattr(seen.event, "membership", None) == "join"
                         and getattr(seen.event, "state_key", None) == alice.user_id, timeout=20,
                         what="Alice (Pontoon) accepting the direct chat")
    return Chat(pontoon, user, alice, bob, room, contact_jid(bob.user_id))


async def event_types(alice, room: str) -> list[str]:
    """The types of the room's last events as the homeserver keeps them."""
    status, page = await alice.api("GET", f"/_matrix/client/v3/rooms/{room.replace('!', '%21')}/messages?dir=b&limit=20")
    assert status == 200, page
    return [e["type"] for e in page["chunk"]]


async def test_an_encrypted_direct_chat_both_ways_and_after_a_restart(make_matrix_pontoon, connect, matrix_user,
                                                                       encrypted_user):
    c = await encrypted_dm(make_matrix_pontoon, connect, matrix_user, encrypted_user)
    pontoon, user, alice, bob, room, bob_jid = c.pontoon, c.user, c.alice, c.bob, c.room, c.bob_jid

    orig = await bob.send_text(room, "a secret helo")
    msg = await user.expect_message(bob_jid, body="a secret helo", timeout=30)
    assert msg.type == "chat", msg
    # A decrypted event takes the plaintext one's path: an encrypted edit is a correction.
    edit = {"m.new_content": {"msgtype": "m.text", "body": "a secret hello"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": orig}}
    await bob.send_text(room, "* a secret hello", **edit)
    fixed = await user.expect_message(bob_jid, body="a secret hello", timeout=30)
    replaces = fixed.xml.find(f"{{{NS_CORRECT}}}replace")
    assert replaces is not None and replaces.get("id") == msg.xml.get("id"), fixed

    chat(user, bob_jid, "a secret reply", mid="e1")
    got = await bob.wait_message(room, "a secret reply", timeout=30)
    assert got.sender == alice.user_id and got.decrypted, got
    # Nothing went over the homeserver in plaintext.
    types = await event_types(alice, room)
    assert "m.room.encrypted" in types and "m.room.message" not in types, types

    # Pontoon restarts on the same data: its device and keys are the same, so the room key
    # Bob shared before still decrypts, and Bob still trusts what Pontoon's device sends.
    pontoon.stop()
    pontoon.start()
    user.send_presence()
    await user.expect_presence(MATRIX, "available", timeout=30)
    await bob.send_text(room, "still secret after the restart")
    await user.expect_message(bob_jid, body="still secret after the restart", timeout=30)
    chat(user, bob_jid, "and the reply after the restart", mid="e2")
    got = await bob.wait_message(room, "and the reply after the restart", timeout=30)
    assert got.sender == alice.user_id and got.decrypted, got
    assert "stored encryption keys are of another device" not in pontoon.log_text(), "the keys were kept"


async def test_a_message_without_its_key_is_shown_as_undecryptable_until_the_key_comes(
        make_matrix_pontoon, connect, matrix_user, encrypted_user):
    c = await encrypted_dm(make_matrix_pontoon, connect, matrix_user, encrypted_user)
    user, alice, bob, room, bob_jid = c.user, c.alice, c.bob, c.room, c.bob_jid

    _, key = await bob.send_with_a_late_key(room, "you will read this after all")
    msg = await user.expect_message(bob_jid, body=UNDECRYPTABLE, timeout=30)
    assert msg.type == "chat", msg
    # The chat goes on: the next message, with a key shared, decrypts.
    await bob.send_text(room, "but this one you can")
    await user.expect_message(bob_jid, body="but this one you can", timeout=30)

    # The first message's key comes late: its text replaces the words (XEP-0308).
    await bob.share_room_key(alice.user_id, key)
    fixed = await user.expect_message(bob_jid, body="you will read this after all", timeout=30)
    replaces = fixed.xml.find(f"{{{NS_CORRECT}}}replace")
    assert replaces is not None and replaces.get("id") == msg.xml.get("id"), fixed


PUT_AWAY = "the encryption machine was put away"
LOADED = "the encryption machine was loaded from the store"


async def machine_away(pontoon, timeout: float = 40) -> int:
    """Waits until the session's encryption machine is away (the log's last word on it is
    that it was put away; one session in this Pontoon); returns the log offset then."""
    deadline = time.monotonic() + timeout
    while True:
        log = pontoon.log_text()
        if log.rfind(PUT_AWAY) > log.rfind(LOADED):
            return pontoon.log_offset()
        assert time.monotonic() < deadline, f"the encryption machine was not put away in {timeout} s"
        await asyncio.sleep(0.1)


async def test_nothing_is_lost_while_the_encryption_machine_is_put_away(make_matrix_pontoon, connect, matrix_user,
                                                                        encrypted_user):
    """An idle session drops its OlmMachine and builds it again from the store when needed;
    with e2ee_idle_secs = 0 that happens after every sync answer. A message Bob encrypts
    while it is away decrypts with the room key stored before (no new key comes with it),
    and Pontoon's replies, each from a machine just built, still reach Bob encrypted."""
    c = await encrypted_dm(make_matrix_pontoon, connect, matrix_user, encrypted_user,
                           options={"e2ee_idle_secs": "0"})
    pontoon, user, alice, bob, room, bob_jid = c.pontoon, c.user, c.alice, c.bob, c.room, c.bob_jid

    await bob.send_text(room, "first, with its key")
    await user.expect_message(bob_jid, body="first, with its key", timeout=30)
    # Bob's next message uses the same room key: only the store has it once the machine
    # is away.
    mark = await machine_away(pontoon)
    await bob.send_text(room, "second, while the machine was away")
    await user.expect_message(bob_jid, body="second, while the machine was away", timeout=30)
    assert LOADED in pontoon.log_text(mark), "the machine was built again to decrypt it"

    for n in range(2):
        mark = await machine_away(pontoon)
        chat(user, bob_jid, f"reply {n} from a machine just built", mid=f"r{n}")
        got = await bob.wait_message(room, f"reply {n} from a machine just built", timeout=30)
        assert got.sender == alice.user_id and got.decrypted, got
        assert LOADED in pontoon.log_text(mark), "the machine was built again to encrypt it"
    types = await event_types(alice, room)
    assert "m.room.encrypted" in types and "m.room.message" not in types, types
