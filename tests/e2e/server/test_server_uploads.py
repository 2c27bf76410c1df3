"""XEP-0363 HTTP File Upload in server mode: the domain hands out slots, Pontoon's file
listener takes the PUT and serves the file (so that a browser never runs it), and the
link reaches an IRC contact. Refusals carry XEP-0363's conditions; HTTP refusals their
status codes."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
import xml.etree.ElementTree as ET

import aiohttp
import pytest

from server_fixtures import IRC
from harness.util import free_port

NS = "urn:xmpp:http:upload:0"
STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
DISCO = "http://jabber.org/protocol/disco#info"


def file_listener(**upload) -> dict:
    port = free_port()
    limits = {"max_file_size": 1000, "quota": 1500, "slot_secs": 60,
              "allowed_types": ["image/*", "text/plain", "text/html"]}
    limits.update(upload)
    return {"enabled": True, "listen": f"127.0.0.1:{port}", "public_url": f"http://127.0.0.1:{port}",
            "upload": limits}


async def slot(user, domain: str, name: str, size: int, ctype: str | None) -> ET.Element:
    attrs = f"filename='{name}' size='{size}'" + (f" content-type='{ctype}'" if ctype else "")
    return await user.iq("get", domain, f"<request xmlns='{NS}' {attrs}/>")


def urls(reply: ET.Element) -> tuple[str, str]:
    s = reply.find(f"{{{NS}}}slot")
    assert s is not None, ET.tostring(reply)
    return s.find(f"{{{NS}}}put").get("url"), s.find(f"{{{NS}}}get").get("url")


def error_of(reply: ET.Element) -> tuple[str, str, ET.Element]:
    assert reply.get("type") == "error", ET.tostring(reply)
    err = reply.find("{jabber:client}error")
    conditions = [c.tag.split("}")[1] for c in err if c.tag.startswith(f"{{{STANZAS}}}") and not c.tag.endswith("text")]
    return err.get("type"), conditions[0], err


async def put(url: str, data: bytes, ctype: str, **headers) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=data, headers={"Content-Type": ctype, **headers}) as r:
            return r.status, await r.text()


async def test_upload_get_and_link_to_irc(make_server, sconnect, ngircd, raw_irc):
    server = make_server(irc_options={"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5},
                         http=file_listener())
    bob = await raw_irc("rawbob")
    alice = await sconnect(server, f"alice@{IRC}", "pw")
    # Discovery on the user's own server, as Conversations does it.
    info = await alice.iq("get", IRC, f"<query xmlns='{DISCO}'/>")
    assert info.find(f"{{{DISCO}}}query/{{{DISCO}}}feature[@var='{NS}']") is not None, ET.tostring(info)
    values = [v.text for v in info.iter("{jabber:x:data}value")]
    assert "1000" in values and NS in values, values
    data = b"hello, files\n" * 10
    put_url, get_url = urls(await slot(alice, IRC, "notes \u00e9.txt", len(data), "text/plain"))
    assert put_url == get_url and put_url.endswith("/notes%20%C3%A9%2Etxt"), put_url
    assert await put(put_url, data, "text/plain") == (201, "stored\n")
    async with aiohttp.ClientSession() as http:
        async with http.get(get_url) as r:
            assert r.status == 200
            assert await r.read() == data
            assert r.headers["Content-Type"] == "text/plain"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in r.headers["Content-Security-Policy"]
            assert r.headers["Content-Disposition"] == "attachment; filename*=UTF-8''notes%20%C3%A9%2Etxt"
    # The same slot is not written twice.
    status, _ = await put(put_url, data, "text/plain")
    assert status == 409
    # The link goes to IRC as a link (IRC has no files).
    await bob.whois("alice")
    alice.send_raw(f"<message to='rawbob@{IRC}' type='chat'><body>{get_url}</body>"
                   f"<x xmlns='jabber:x:oob'><url>{get_url}</url></x></message>")
    await bob.expect_privmsg("alice", "rawbob", get_url)
    # And to a channel.
    await bob.join("#files")
    alice.send_raw(f"<presence to='#files@{IRC}/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    await alice.expect_presence(f"#files@{IRC}/alice")
    alice.send_raw(f"<message to='#files@{IRC}' type='groupchat'><body>{get_url}</body>"
                   f"<x xmlns='jabber:x:oob'><url>{get_url}</url></x></message>")
    await bob.expect_privmsg("alice", "#files", get_url)


async def test_upload_refusals(make_server, sconnect):
    server = make_server(http=file_listener(slot_secs=2))
    alice = await sconnect(server, "alice@test.localhost", "pw")
    domain = "test.localhost"
    # Too large: not-acceptable, with the limit (XEP-0363 section 4).
    kind, cond, err = error_of(await slot(alice, domain, "big.png", 1001, "image/png"))
    assert (kind, cond) == ("modify", "not-acceptable")
    assert err.findtext(f"{{{NS}}}file-too-large/{{{NS}}}max-file-size") == "1000"
    # A type the operator does not take.
    kind, cond, err = error_of(await slot(alice, domain, "x.exe", 10, "application/x-msdownload"))
    assert (kind, cond) == ("modify", "not-acceptable")
    assert "application/x-msdownload" in err.findtext(f"{{{STANZAS}}}text")
    # Over quota: wait, and when space frees up.
    first_put, _ = urls(await slot(alice, domain, "a.png", 900, "image/png"))
    kind, cond, err = error_of(await slot(alice, domain, "b.png", 900, "image/png"))
    assert (kind, cond) == ("wait", "resource-constraint")
    assert err.find(f"{{{NS}}}retry").get("stamp").endswith("Z")
    # The PUT must match the slot.
    assert (await put(first_put, b"x" * 899, "image/png"))[0] == 400
    assert (await put(first_put, b"x" * 900, "text/plain"))[0] == 415
    assert (await put(first_put.replace("/upload/", "/upload/A"), b"x" * 900, "image/png"))[0] == 404
    # A slot whose time is over.
    late, get_url = urls(await slot(alice, domain, "late.png", 10, "image/png"))
    # The slot's lifetime (2 s) is what is under test: let it pass.
    await asyncio.sleep(2.5)
    status, text = await put(late, b"y" * 10, "image/png")
    assert status == 410, text
    async with aiohttp.ClientSession() as http:
        async with http.get(get_url) as r:
            assert r.status == 404


async def test_uploaded_html_never_runs_in_chromium(make_server, sconnect):
    from playwright.async_api import async_playwright

    chromium = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    if not Path(chromium).exists():
        pytest.fail(f"{chromium} is missing: scripts/test installs Debian's chromium")
    server = make_server(http=file_listener())
    alice = await sconnect(server, "alice@test.localhost", "pw")
    page_html = b"<html><body><script>document.title='RAN';alert('RAN')</script><p>text</p></body></html>"
    put_url, get_url = urls(await slot(alice, "test.localhost", "page.html", len(page_html), "text/html"))
    assert (await put(put_url, page_html, "text/html"))[0] == 201
    dialogs: list[str] = []
    args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=args, timeout=30_000)
        try:
            context = await browser.new_context(accept_downloads=True)
            page = await context.new_page()
            page.on("dialog", lambda d: dialogs.append(d.message))
            # An attachment is downloaded, never rendered: Chromium turns the navigation into
            # a download.
            async with page.expect_download(timeout=15_000) as download:
                try:
                    await page.goto(get_url, timeout=15_000)
                except Exception as e:  # Playwright: "Download is starting"
                    assert "Download is starting" in str(e), e
            assert (await download.value).suggested_filename == "page.html"
            assert await page.title() != "RAN"
            assert not dialogs, dialogs
        finally:
            await browser.close()
