"""Threads both ways between an XMPP client and Matrix users, on a real Synapse: an m.thread
relation reaches the XMPP client as a <thread/> (RFC 6121, XEP-0201) and the client's answer in
that thread lands in the same Matrix thread; a thread the XMPP client starts becomes an m.thread
rooted at its first message (or at the message it replies to). In a direct chat and in a room."""

from __future__ import annotations

from xml.sax.saxutils import escape

from harness.muc import joined
from test_matrix_basics import register_matrix, room_jid
from test_matrix_verbs import dm_pair, relates, src

NS_CLIENT = "jabber:client"
NS_REPLY = "urn:xmpp:reply:0"


def thread_of(stanza) -> str | None:
    t = stanza.xml.find(f"{{{NS_CLIENT}}}thread")
    return None if t is None else t.text


def in_thread(root: str, fallback: str | None = None):
    """The m.relates_to of a message in the thread of `root`, falling back (for clients
    without threads) to `fallback` as Element does."""
    rel = {"rel_type": "m.thread", "event_id": root}
    if fallback:
        rel.update({"is_falling_back": True, "m.in_reply_to": {"event_id": fallback}})
    return {"m.relates_to": rel}


def send(user, to: str, mtype: str, mid: str, body: str, extra: str = "") -> None:
    user.send_raw(f"<message to='{to}' type='{mtype}' id='{mid}'><body>{escape(body)}</body>{extra}</message>")


async def wait_threaded(bob, room: str, body: str, root: str, since: int = 0):
    """Bob sees `body` in the thread of `root`; returns its relation."""
    seen = await bob.wait_event(lambda s: s.room_id == room and src(s).get("content", {}).get("body") == body,
                                timeout=20, since=since, what=f"{body!r} in Matrix")
    rel = relates(seen)
    assert rel.get("rel_type") == "m.thread" and rel.get("event_id") == root, src(seen)
    return rel


async def test_threads_in_a_direct_chat(make_matrix_pontoon, connect, matrix_user):
    user, bob, room, bob_jid, alice = await dm_pair(make_matrix_pontoon, connect, matrix_user)

    # Bob starts a thread on his message: the XMPP client sees the thread, named by the
    # root's id as it showed it, and the thread's reply fallback is not taken for a reply.
    root = await bob.send_text(room, "thread root")
    shown_root = await user.expect_message(bob_jid, body="thread root", timeout=20)
    assert thread_of(shown_root) is None
    first = await bob.send_text(room, "first in thread", **in_thread(root, fallback=root))
    got = await user.expect_message(bob_jid, body="first in thread", timeout=20)
    assert thread_of(got) == shown_root.xml.get("id") == root, got
    assert got.xml.find(f"{{{NS_REPLY}}}reply") is None, got

    # The XMPP client answers in that thread: the same Matrix thread, falling back to the
    # latest message in it.
    send(user, bob_jid, "chat", "t1", "answer in thread", f"<thread>{thread_of(got)}</thread>")
    rel = await wait_threaded(bob, room, "answer in thread", root)
    assert rel.get("is_falling_back") is True and rel["m.in_reply_to"]["event_id"] == first, rel

    # A reply within the thread (XEP-0461 and the thread): a genuine m.in_reply_to.
    send(user, bob_jid, "chat", "t2", "to your first", f"<thread>{root}</thread>"
         f"<reply xmlns='{NS_REPLY}' to='{bob_jid}' id='{got.xml.get('id')}'/>")
    rel = await wait_threaded(bob, room, "to your first", root)
    assert not rel.get("is_falling_back") and rel["m.in_reply_to"]["event_id"] == first, rel

    # The XMPP client starts a thread of its own: the first message goes as it is, the next
    # ones in its Matrix thread; Bob's answer there comes back under the client's thread id.
    send(user, bob_jid, "chat", "n1", "new topic", "<thread>xmpp-thread-1</thread>")
    topic = await bob.wait_message(room, "new topic", timeout=20)
    assert "m.relates_to" not in topic.source["content"], topic.source
    send(user, bob_jid, "chat", "n2", "more on it", "<thread>xmpp-thread-1</thread>")
    await wait_threaded(bob, room, "more on it", topic.event_id)
    await bob.send_text(room, "answer on topic", **in_thread(topic.event_id, fallback=topic.event_id))
    answer = await user.expect_message(bob_jid, body="answer on topic", timeout=20)
    assert thread_of(answer) == "xmpp-thread-1", answer


async def test_threads_in_a_room(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice", displayname="Alice")
    bob = await matrix_user("bob", displayname="Bob")
    local = f"threads-{bob.user_id[1:].split(':')[0]}"
    room = await bob.create_room(name="Threads", alias=local, public=True)
    await alice.join(room)
    user = await connect("user1")
    await register_matrix(user, alice)
    rj = room_jid(f"#{local}:localhost")
    await joined(user, rj, "alice", timeout=30)

    def from_bob(body: str):
        return lambda s: s.kind == "message" and s.frm == f"{rj}/Bob" and s.body == body

    # A thread started in Matrix reaches the room with its root's stanza-id as the thread.
    root = await bob.send_text(room, "room root")
    await user.expect(from_bob("room root"), 20, what="the root in the room")
    first = await bob.send_text(room, "room thread first", **in_thread(root, fallback=root))
    got = await user.expect(from_bob("room thread first"), 20, what="the threaded message in the room")
    assert thread_of(got) == root, got

    # The XMPP client's answer in the thread lands in it, and its reflection says so too.
    send(user, rj, "groupchat", "rt1", "room answer", f"<thread>{root}</thread>")
    rel = await wait_threaded(bob, room, "room answer", root)
    assert rel["m.in_reply_to"]["event_id"] == first, rel
    mine = await user.expect(lambda s: s.kind == "message" and s.xml.get("id") == "rt1", 20,
                             what="the reflection of the answer")
    assert thread_of(mine) == root, mine

    # A thread the XMPP client starts by answering Bob's message in a new thread: it hangs
    # off Bob's message in Matrix.
    other = await bob.send_text(room, "another topic")
    shown = await user.expect(from_bob("another topic"), 20, what="Bob's other topic")
    sid = shown.xml.find("{urn:xmpp:sid:0}stanza-id").get("id")
    send(user, rj, "groupchat", "rt2", "about that", f"<thread>xmpp-room-thread</thread>"
         f"<reply xmlns='{NS_REPLY}' to='{rj}/Bob' id='{sid}'/>")
    rel = await wait_threaded(bob, room, "Bob: about that", other)
    assert not rel.get("is_falling_back") and rel["m.in_reply_to"]["event_id"] == other, rel
    send(user, rj, "groupchat", "rt3", "and more", "<thread>xmpp-room-thread</thread>")
    await wait_threaded(bob, room, "and more", other)
