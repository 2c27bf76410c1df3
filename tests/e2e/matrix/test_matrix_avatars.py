"""Contacts' avatars on a real Synapse: a Matrix user's profile picture reaches the XMPP client
as an XEP-0153 vCard-based avatar (the picture's SHA-1 in the contact's presence, the picture
itself in their vCard, which the client asks for) and as an XEP-0084 one (a metadata
notification from the contact, the data read from their JID by the picture's id), and a new
picture replaces it."""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib

from harness.matrix import q
from test_matrix_basics import contact_jid, register_matrix

NS_UPDATE = "vcard-temp:x:update"
NS_VCARD = "vcard-temp"
NS_PUBSUB = "http://jabber.org/protocol/pubsub"
NS_EVENT = "http://jabber.org/protocol/pubsub#event"
NS_METADATA = "urn:xmpp:avatar:metadata"
NS_DATA = "urn:xmpp:avatar:data"


def png(rgb: tuple[int, int, int], side: int = 128) -> bytes:
    """A plain-coloured PNG picture (the homeserver's thumbnailer must be able to read it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + bytes(rgb) * side for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def set_avatar(bob, picture: bytes) -> None:
    status, body = await bob.upload(picture, "me.png", "image/png")
    assert status == 200, body
    status, body = await bob.api("PUT", f"/_matrix/client/v3/profile/{q(bob.user_id)}/avatar_url",
                                 {"avatar_url": body["content_uri"]})
    assert status == 200, body


def photo_hash(stanza) -> str | None:
    """The picture hash a presence carries (XEP-0153), if any."""
    photo = stanza.xml.find(f"{{{NS_UPDATE}}}x/{{{NS_UPDATE}}}photo")
    return photo.text if photo is not None and photo.text else None


async def vcard_photo(user, jid: str) -> tuple[str, bytes, str]:
    """The contact's vCard as the client asks for it: (media type, picture, nickname)."""
    reply = await user.iq("get", jid, f"<vCard xmlns='{NS_VCARD}'/>", timeout=30)
    assert reply.get("type") == "result", reply
    card = reply.find(f"{{{NS_VCARD}}}vCard")
    binval = card.findtext(f"{{{NS_VCARD}}}PHOTO/{{{NS_VCARD}}}BINVAL")
    assert binval, reply
    return (card.findtext(f"{{{NS_VCARD}}}PHOTO/{{{NS_VCARD}}}TYPE"), base64.b64decode(binval),
            card.findtext(f"{{{NS_VCARD}}}NICKNAME"))


def metadata_id(stanza) -> str | None:
    """The picture id an XEP-0084 metadata notification names, if it is one."""
    info = stanza.xml.find(f"{{{NS_EVENT}}}event/{{{NS_EVENT}}}items/{{{NS_EVENT}}}item/"
                           f"{{{NS_METADATA}}}metadata/{{{NS_METADATA}}}info")
    return info.get("id") if info is not None else None


async def pep_data(user, jid: str, picture_id: str) -> bytes:
    """The picture of the data node at the contact's JID, by its id (XEP-0084 4.3)."""
    reply = await user.iq("get", jid, f"<pubsub xmlns='{NS_PUBSUB}'><items node='{NS_DATA}'>"
                          f"<item id='{picture_id}'/></items></pubsub>", timeout=30)
    assert reply.get("type") == "result", reply
    data = reply.findtext(f"{{{NS_PUBSUB}}}pubsub/{{{NS_PUBSUB}}}items/{{{NS_PUBSUB}}}item/{{{NS_DATA}}}data")
    assert data, reply
    return base64.b64decode(data)


async def test_a_contacts_picture_shows_and_changes(make_matrix_pontoon, connect, matrix_user):
    make_matrix_pontoon()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob", displayname="Bob")
    await set_avatar(bob, png((200, 30, 30)))
    user = await connect("user1")
    await register_matrix(user, alice)
    bob_jid = contact_jid(bob.user_id)

    # Bob opens a direct chat: he asks into the roster, the user accepts and subscribes back.
    room = await bob.create_dm(alice.user_id)
    await user.expect(lambda s: s.kind == "presence" and s.type == "subscribe" and s.from_bare == bob_jid,
                      20, what="Bob's subscription request")
    user.send_presence(to=bob_jid, ptype="subscribed")
    user.send_presence(to=bob_jid, ptype="subscribe")

    # His presence names his picture by its hash, and his vCard holds that very picture.
    first = await user.expect(lambda s: s.kind == "presence" and s.from_bare == bob_jid and photo_hash(s),
                              30, what="Bob's presence with his picture's hash")
    media_type, picture, nick = await vcard_photo(user, bob_jid)
    assert hashlib.sha1(picture).hexdigest() == photo_hash(first)
    assert media_type in ("image/png", "image/jpeg"), media_type
    assert nick == "Bob"
    # A thumbnail, not the uploaded original.
    assert len(picture) < 64 * 1024
    # The same picture as XEP-0084: notified from Bob, read from his JID by its id.
    note = await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid and metadata_id(s),
                             30, what="Bob's XEP-0084 metadata notification")
    assert metadata_id(note) == photo_hash(first)
    assert await pep_data(user, bob_jid, metadata_id(note)) == picture

    # A new picture: a presence with the new hash, and the vCard follows.
    await set_avatar(bob, png((30, 30, 200)))
    second = await user.expect(lambda s: s.kind == "presence" and s.from_bare == bob_jid
                               and photo_hash(s) not in (None, photo_hash(first)),
                               30, what="Bob's presence with his new picture's hash")
    _, picture, _ = await vcard_photo(user, bob_jid)
    assert hashlib.sha1(picture).hexdigest() == photo_hash(second)
    await user.expect(lambda s: s.kind == "message" and s.from_bare == bob_jid
                      and metadata_id(s) == photo_hash(second), 30, what="the new picture notified")
    assert room
