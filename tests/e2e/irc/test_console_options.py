"""The console's typed options form for the IRC transport, over real HTTP: fields built
from the transport's own option descriptions, values checked by the transport itself."""

from __future__ import annotations

import html
import re
import socket

from harness.web import Http

ADMIN, PASSWORD = "root", "correct horse battery staple"


def save(web: Http, fields: dict) -> object:
    page = web.get("/transports")
    assert page.status == 200, page
    form = {f"opt.{k}": str(v) for k, v in fields.items()}
    form["csrf"] = page.csrf()
    return web.post("/transports/irc/options", form=form, follow=False)


async def test_typed_options_form_checks_with_the_transport(make_irc_pontoon, irc_options, ngircd):
    p = make_irc_pontoon(irc_options)
    p.add_admin(ADMIN, PASSWORD)
    web = Http(p.admin_url)
    assert web.login(ADMIN, PASSWORD).status == 200
    page = web.get("/transports")
    body = page.body
    # connect_port: a number field with its default as placeholder and its help beside it.
    assert 'name="opt.connect_port"' in body and 'type="number"' in body, body
    assert 'placeholder="6667 (6697 with TLS)"' in body, body
    assert 'id="help-irc-connect_port"' in body and "TCP port of the server" in body, body
    assert f'value="{ngircd.port}"' in body, body

    before = (await p.cli_async("policy", "show", "irc")).stdout
    assert f'options.connect_port = "{ngircd.port}"' in before, before
    fixed = {"connect_host": "127.0.0.1", "connect_timeout": 5}
    r = save(web, {**fixed, "connect_port": "abc", "tls": ""})
    assert r.status == 422, r
    assert "option connect_port: not a port number" in r.body and "abc" in r.body, r.body
    assert (await p.cli_async("policy", "show", "irc")).stdout == before

    # Test connection reaches the ngircd the options name.
    reached = press_test_connection(web)
    assert f"irc: reached 127.0.0.1:{ngircd.port} in " in reached and " ms (address 127.0.0.1)" in reached, reached

    closed = free_port()
    r = save(web, {**fixed, "connect_port": str(closed), "tls": ""})
    assert r.status in (302, 303), r
    after = (await p.cli_async("policy", "show", "irc")).stdout
    assert f'options.connect_port = "{closed}"' in after, after
    # The empty field left tls to its default: not stored.
    assert "options.tls" not in after, after
    # Nothing listens there now: the test says the connection was refused.
    refused = press_test_connection(web)
    assert f"irc: cannot connect to 127.0.0.1:{closed}: Connection refused" in refused, refused


def free_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def press_test_connection(web: Http) -> str:
    """Presses Test connection for irc; returns the message the page then shows."""
    page = web.get("/transports")
    r = web.post("/transports/irc/test", form={"csrf": page.csrf()}, follow=False)
    assert r.status in (302, 303), r
    body = web.get("/transports").body
    m = re.search(r'<p class="flash[^"]*"[^>]*>(.*?)</p>', body, re.S)
    assert m, body
    return html.unescape(m.group(1))
