"""Files between Matrix and XMPP, in server mode with Pontoon's file listener: a Matrix
image reaches the XMPP client as a link to Pontoon (Matrix media needs the user's token),
which serves the homeserver's bytes; a file the XMPP client uploads (XEP-0363) reaches
Matrix as an m.image in the homeserver's media repository. Files over the limits are
refused in words, both ways."""

from __future__ import annotations

import base64
import hashlib
import os
import secrets

import aiohttp
import pytest

from harness.client import User
from harness.pontoon import Pontoon, stop_all
from harness.util import free_port
from harness.muc import joined
from test_matrix_basics import MATRIX, contact_jid, room_jid

NS_UPLOAD = "urn:xmpp:http:upload:0"


@pytest.fixture
def media_server(tmp_path, synapse, request):
    """media_server(http=None, options=None) -> Pontoon in server mode serving matrix.localhost
    with the file listener on (its [http] table updated with `http`, the Matrix options with
    `options`)."""
    made: list[Pontoon] = []

    def make(http: dict | None = None, options: dict | None = None) -> Pontoon:
        port = free_port()
        table = {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}"}
        table.update(http or {})
        p = Pontoon(
            tmp_path / f"pontoon{len(made) or ''}",
            component_port=1,
            secret="unused",
            store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""),
            extra_transports={"matrix": {
                "domain": MATRIX, "name": "Matrix", "enabled": True,
                "options": {"homeserver": synapse.url, "server_name": synapse.server_name, **(options or {})},
            }},
            mode="server",
            http=table,
        )
        made.append(p)
        p.start(wait_ready=True)
        p.public_url = table["public_url"]
        return p

    yield make
    stop_all(made, request)


async def login(server: Pontoon, matrix_user) -> User:
    local = matrix_user.user_id[1:].split(":")[0]
    u = User(f"{local}@{MATRIX}", matrix_user.password, server.c2s_port, resource="e2e", ca_file=str(server.ca_path))
    await u.connect(presence=True, roster=True, timeout=30)
    return u


async def dm_with(bob, alice) -> str:
    """A direct chat Bob opens with Alice, once Alice (Pontoon) has joined it."""
    room = await bob.create_dm(alice.user_id)
    await bob.wait_event(lambda seen: seen.room_id == room and getattr(seen.event, "membership", None) == "join"
                         and getattr(seen.event, "state_key", None) == alice.user_id, timeout=20,
                         what="Alice (Pontoon) accepting the direct chat")
    return room


async def send_image(bob, room: str, data: bytes, name: str, thumb: bytes | None = None) -> str:
    status, body = await bob.upload(data, name, "image/png")
    assert status == 200, body
    info = {"mimetype": "image/png", "size": len(data)}
    if thumb is not None:
        status, t = await bob.upload(thumb, "thumb.png", "image/png")
        assert status == 200, t
        info.update(thumbnail_url=t["content_uri"], thumbnail_info={"mimetype": "image/png", "w": 32, "h": 24})
    await bob.send_text(room, name, msgtype="m.image", url=body["content_uri"], info=info)
    return body["content_uri"]


async def upload(user: User, data: bytes, name: str, ctype: str) -> str:
    reply = await user.iq("get", MATRIX, f"<request xmlns='{NS_UPLOAD}' filename='{name}' size='{len(data)}' "
                                         f"content-type='{ctype}'/>")
    slot = reply.find(f"{{{NS_UPLOAD}}}slot")
    assert slot is not None, reply
    url = slot.find(f"{{{NS_UPLOAD}}}put").get("url")
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=data, headers={"Content-Type": ctype}) as r:
            assert r.status == 201, await r.text()
    return slot.find(f"{{{NS_UPLOAD}}}get").get("url")


def send_file(user: User, to: str, url: str) -> None:
    user.send_raw(f"<message to='{to}' type='chat' id='f{secrets.token_hex(4)}'><body>{url}</body>"
                  f"<x xmlns='jabber:x:oob'><url>{url}</url></x></message>")


async def test_files_both_ways(media_server, matrix_user):
    server = media_server()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    user = await login(server, alice)
    try:
        room = await dm_with(bob, alice)
        # Matrix to XMPP: a link to Pontoon, serving the homeserver's bytes.
        png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(3000)
        thumb = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(100)
        await send_image(bob, room, png, "cat.png", thumb=thumb)
        msg = await user.expect(lambda s: s.kind == "message" and s.from_bare == contact_jid(bob.user_id)
                                and (s.body or "").startswith(server.public_url + "/media/"), 30,
                                what="the image as a link to Pontoon")
        oob = msg.xml.findtext("{jabber:x:oob}x/{jabber:x:oob}url")
        assert oob == msg.body and msg.body.endswith("/cat%2Epng"), msg.xml
        async with aiohttp.ClientSession() as http:
            async with http.get(msg.body) as r:
                assert r.status == 200, await r.text()
                assert await r.read() == png
                assert r.headers["Content-Type"] == "image/png"
                assert r.headers["Content-Disposition"].startswith("inline")
            # Its thumbnail (XEP-0264 in the XEP-0447 metadata), through a link of its own.
            t = msg.xml.find(".//{urn:xmpp:thumbs:1}thumbnail")
            assert t is not None and (t.get("width"), t.get("height")) == ("32", "24"), msg.xml
            async with http.get(t.get("uri")) as r:
                assert (r.status, await r.read()) == (200, thumb)
            # A link Pontoon did not make opens nothing.
            token = msg.body.split("/")[-2]
            forged = msg.body.replace(token, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"))
            async with http.get(forged) as r:
                assert r.status == 404

        # XMPP to Matrix: an XEP-0363 upload becomes an m.image in the media repository.
        photo = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2000)
        url = await upload(user, photo, "photo.png", "image/png")
        mark = bob.mark()
        send_file(user, contact_jid(bob.user_id), url)
        seen = await bob.wait_event(lambda s: s.room_id == room and getattr(s.event, "url", "").startswith("mxc://"),
                                    timeout=30, since=mark, what="the file in the direct chat")
        assert seen.event.sender == alice.user_id
        assert seen.event.body == "photo.png"
        assert seen.event.source["content"]["msgtype"] == "m.image"
        status, data = await bob.download(seen.event.url)
        assert (status, data) == (200, photo)

        # And into a room, as the user's groupchat message.
        local = f"files-{bob.user_id[1:].split(':')[0]}"
        room_id = await bob.create_room(name="Files", alias=local, public=True)
        await joined(user, room_jid(f"#{local}:localhost"), "alice", timeout=30)
        doc = b"%PDF-1.4\n" + secrets.token_bytes(500)
        url = await upload(user, doc, "notes.pdf", "application/pdf")
        mark = bob.mark()
        user.send_raw(f"<message to='{room_jid(f'#{local}:localhost')}' type='groupchat'><body>{url}</body>"
                      f"<x xmlns='jabber:x:oob'><url>{url}</url></x></message>")
        seen = await bob.wait_event(lambda s: s.room_id == room_id and getattr(s.event, "url", "").startswith("mxc://"),
                                    timeout=30, since=mark, what="the file in the room")
        assert seen.event.source["content"]["msgtype"] == "m.file"
        assert (await bob.download(seen.event.url)) == (200, doc)
    finally:
        await user.disconnect()


async def test_files_over_the_limits_are_refused_in_words(media_server, matrix_user):
    server = media_server(http={"max_media_size": "1K"}, options={"max_upload_kib": 1})
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    user = await login(server, alice)
    try:
        room = await dm_with(bob, alice)
        await send_image(bob, room, secrets.token_bytes(4096), "big.png")
        msg = await user.expect(lambda s: s.kind == "message" and (s.body or "").startswith(server.public_url),
                                30, what="the link to the big image")
        async with aiohttp.ClientSession() as http:
            async with http.get(msg.body) as r:
                assert r.status == 502
                assert "larger than" in await r.text()
        # From XMPP: the upload service takes it (its own limit is 20 MiB), the transport
        # does not (1 KiB), and the sender is told why.
        url = await upload(user, secrets.token_bytes(4096), "big.bin", "application/octet-stream")
        send_file(user, contact_jid(bob.user_id), url)
        err = await user.expect_message_error(contact_jid(bob.user_id), timeout=30)
        text = err.xml.findtext(".//{urn:ietf:params:xml:ns:xmpp-stanzas}text") or ""
        assert "could not be fetched" in text and "larger than" in text, err.xml
    finally:
        await user.disconnect()


async def test_a_file_with_its_own_key_is_decrypted(media_server, matrix_user):
    """A file as encrypted rooms send it (`file`: AES-CTR key, IV and SHA-256 in the event,
    the ciphertext in the media repository): the link serves the plaintext once its hash
    checks out, and nothing when it does not."""
    from nio.crypto import encrypt_attachment

    server = media_server()
    alice = await matrix_user("alice")
    bob = await matrix_user("bob")
    user = await login(server, alice)
    try:
        room = await dm_with(bob, alice)
        png = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(2500)
        cipher, keys = encrypt_attachment(png)
        status, body = await bob.upload(cipher, "secret.png", "application/octet-stream")
        assert status == 200, body
        info = {"mimetype": "image/png", "size": len(png)}
        await bob.send_text(room, "secret.png", msgtype="m.image", file={"url": body["content_uri"], **keys},
                            info=info)
        msg = await user.expect(lambda s: s.kind == "message" and (s.body or "").startswith(server.public_url),
                                30, what="the encrypted image as a link")
        async with aiohttp.ClientSession() as http:
            async with http.get(msg.body) as r:
                assert r.status == 200, await r.text()
                assert await r.read() == png
                assert r.headers["Content-Type"] == "image/png"
        # The same ciphertext announced with another hash: refused, never served.
        other = base64.b64encode(hashlib.sha256(b"something else").digest()).decode().rstrip("=")
        forged = dict(keys, hashes={"sha256": other})
        await bob.send_text(room, "forged.png", msgtype="m.image", file={"url": body["content_uri"], **forged},
                            info=info)
        msg = await user.expect(lambda s: s.kind == "message" and (s.body or "").endswith("/forged%2Epng"),
                                30, what="the forged image as a link")
        async with aiohttp.ClientSession() as http:
            async with http.get(msg.body) as r:
                assert r.status == 502
                assert "could not be decrypted" in await r.text()
    finally:
        await user.disconnect()
