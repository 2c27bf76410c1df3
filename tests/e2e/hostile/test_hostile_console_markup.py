"""The console under a hostile client (issue 21), markup: every string a user, a network or
an operator's paste puts on a page (a user's resource, IRC channel names, an IRC server's
goodbye in the log, transport options and display name, administrator and token names in
the log, search and form values echoed in error messages) stays text on every page and in
the API's JSON, over HTTP and in Chromium. (Neither transport takes markup in a legacy id
or nick: the refusals, which quote it, are checked. No page shows room topics or
announcements: an announcement with markup reaches its users as typed.)
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.parse
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest
from playwright.async_api import async_playwright

from console_kit import PASSWORD, logged_in
from harness.gateway import TRANSPORT, register_and_login
from harness.pontoon import Pontoon
from harness.prosody import running as prosody_running
from harness.util import outcome_failed
from harness.web import Http, Response
from ircxmpp import IRC, joined, register_irc

ACCOUNTS = {f"user{i}": f"pw-user{i}" for i in range(1, 5)}

# Markup a user or a network may put into what the console shows.
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
AMP = "'&amp;"
JS = "javascript:alert(1)"
EVERYTHING = SCRIPT + IMG + AMP
# Names without spaces (administrators, tokens, IRC channels take no spaces).
ADMIN_H = SCRIPT + AMP
TOKEN_H = '"><img/src=x/onerror=alert(1)>'
CHANNELS = ["#<script>alert(1)</script>", '#"><img/src=x/onerror=alert(1)>']
# What must never be in a page's source: the markup itself, unescaped.
RAW = ("<script>alert", "<img src=x", "<img/src=x", "'&amp;")
# Every element the console's templates use: anything else on a page was injected.
TAGS = {"html", "head", "meta", "title", "link", "body", "header", "span", "nav", "a", "form", "input",
        "button", "main", "h1", "h2", "p", "section", "label", "textarea", "select", "option", "small",
        "code", "table", "thead", "tbody", "tr", "th", "td", "dl", "dt", "dd", "strong", "br",
        # The Overview's charts (inline SVG made of numbers and fixed labels only).
        "div", "svg", "polyline"}


@pytest.fixture
def prosody(tmp_path, request):
    """The parent's Prosody with a second component, irc.localhost (the escaping cases take
    users to IRC)."""
    with prosody_running(tmp_path / "prosody", request, ["test.localhost", IRC], ACCOUNTS) as p:
        yield p


@pytest.fixture
async def goodbye_ircd():
    """A port where an 'IRC server' answers every client's first line with an ERROR that
    carries markup (what a hostile network says when it refuses a login)."""
    async def handle(reader, writer):
        try:
            await asyncio.wait_for(reader.readline(), 10)
            writer.write(f"ERROR :Closing link: {EVERYTHING}\r\n".encode())
            await writer.drain()
        except (asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
def gateway(tmp_path, prosody, request):
    """Pontoon with the test transport, named with markup (as an operator might paste it), and
    the IRC transport at irc.localhost (its server is set from the console); log level info,
    so the Logs page keeps the lines looked for. Stopped at teardown."""
    p = Pontoon(tmp_path / "pontoon", component_port=prosody.component_port,
                secret=prosody.components["test.localhost"], transport={"name": EVERYTHING},
                store_url=os.environ.get("PONTOON_E2E_STORE_URL", ""), log_level="info",
                extra_transports={"irc": {"domain": IRC, "secret": prosody.components[IRC], "name": "IRC",
                                          "enabled": True, "public_registration": True,
                                          "options": {"connect_host": "127.0.0.1", "connect_port": 1}}})
    p.start(wait_ready=True)
    p.wait_log(r"link up.*irc\.localhost", 30, what="the irc.localhost component link to come up")
    yield p
    p.stop()
    if outcome_failed(request) or os.environ.get("E2E_SHOW_LOGS"):
        print(f"\n--- tail of {p.log_path} ---\n{p.log_tail(120)}")


# --- helpers ----------------------------------------------------------------------------


# --- helpers ----------------------------------------------------------------------------


def q(s: str) -> str:
    """s as one URL path segment or query value."""
    return urllib.parse.quote(s, safe="")


def xep0106(local: str) -> str:
    """XEP-0106 escaping of a JID localpart."""
    return "".join(f"\\{ord(c):02x}" if c in ' "&\'/:<>@\\' else c for c in local)


class Parsed(HTMLParser):
    """What a browser would build from a page: its elements, event handler attributes, the
    URLs it links to, and its text and attribute values (character references decoded)."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.handlers: list[str] = []
        self.urls: list[str] = []
        self.texts: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        for name, value in attrs:
            if name.startswith("on"):
                self.handlers.append(f"<{tag} {name}={value!r}>")
            if name in ("href", "src", "action", "formaction"):
                self.urls.append(value or "")
            if value:
                self.texts.append(value)

    def handle_data(self, data):
        self.texts.append(data)


def strings(value) -> list[str]:
    """Every string in a decoded JSON value."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings(k) + strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_inert(where: str, r: Response, shown: list[str] = ()) -> None:
    """The answer carries no markup of ours: a page has only the console's own elements, no
    event handler, links only to the console, the raw markup nowhere in its source, and the
    strings in `shown` are there as text. JSON shows them as strings; anything else is not
    HTML, and every answer says not to guess otherwise."""
    ctype = r.header("content-type") or ""
    assert r.header("x-content-type-options") == "nosniff", (where, r.headers)
    if ctype.startswith("application/json"):
        text = "\n".join(strings(r.json()))
    elif ctype.startswith("text/html"):
        for raw in RAW:
            assert raw not in r.body, f"{where}: {raw!r} unescaped in\n{r.body}"
        page = Parsed(r.body)
        assert page.tags <= TAGS, f"{where}: elements {page.tags - TAGS} in\n{r.body}"
        assert not page.handlers, f"{where}: {page.handlers}"
        bad = [u for u in page.urls if not u.startswith("/") or u.startswith("//")]
        assert not bad, f"{where}: links off the console {bad}"
        text = "\n".join(page.texts)
    else:
        assert ctype.startswith(("text/plain", "text/css")), (where, ctype)
        text = ""
    for s in shown:
        assert s in text, f"{where}: {s!r} is not shown in\n{r.body}"


@dataclass
class Planted:
    web: Http
    # The API, with a token named with markup.
    api: Http
    # GET pages, each with its status and the strings it must show.
    pages: dict[str, tuple[int, list[str]]] = field(default_factory=dict)
    # Answers to forms posted with markup (redirects followed), each with its status and
    # what it must show.
    posted: list[tuple[str, Response, int, list[str]]] = field(default_factory=list)
    # API answers (JSON), each with the strings it must hold.
    api_pages: dict[str, list[str]] = field(default_factory=dict)


async def plant(gateway, connect, ngircd_port: int, goodbye_port: int) -> Planted:
    """Puts markup into everything the console shows, the way users, networks and operators
    would, and lists the pages to look at."""
    await gateway.cli_async("admin", "add", ADMIN_H, "--password-stdin", input=PASSWORD + "\n")
    token = await asyncio.to_thread(gateway.create_token, TOKEN_H)
    api = Http(gateway.admin_url, token=token)
    web = await asyncio.to_thread(logged_in, gateway, ADMIN_H)
    planted = Planted(web, api)

    def post(where: str, path: str, fields: dict, shown: list[str], status: int = 200) -> None:
        fields = {"csrf": web.get("/").csrf(), **fields}
        r = web.post(path, form=fields)
        planted.posted.append((where, r, status, shown))

    def irc_options(port: int) -> str:
        return (f"connect_host = 127.0.0.1\nconnect_port = {port}\nconnect_timeout = 5\n"
                f"realname = {EVERYTHING}\nquit_message = {EVERYTHING}\n")

    # An IRC server's goodbye, with markup, goes to the log when it refuses user2's login.
    await asyncio.to_thread(post, "IRC options", "/transports/irc/options", {"options": irc_options(goodbye_port)},
                            ["The options of irc are saved."])
    r = await asyncio.to_thread(api.post, "/api/v1/registrations",
                                json={"jid": "user2@localhost", "transport": "irc", "legacy_id": "mallory"})
    assert r.status == 201, r
    offset = gateway.log_offset()
    user2 = await connect("user2")
    user2.send_presence(to=IRC)
    await gateway.wait_log_async(r"IRC login failed.*Closing link", 20, since=offset,
                                 what="user2's IRC login refused by the hostile server")
    # user1, with markup in their resource, on the test network and on the real IRC server
    # in two channels named with markup.
    await asyncio.to_thread(post, "IRC options", "/transports/irc/options", {"options": irc_options(ngircd_port)},
                            ["The options of irc are saved."])
    user1 = await connect("user1", resource=EVERYTHING)
    await register_and_login(user1, "alice", "secret")
    await register_irc(user1, "alice")
    for chan in CHANNELS:
        await joined(user1, f"{xep0106(chan)}@{IRC}", "alice")
    deadline = time.monotonic() + 15
    while True:
        rows = (await asyncio.to_thread(api.get, "/api/v1/sessions?transport=irc")).json()["items"]
        rooms = next((r["rooms"] for r in rows if r["user"] == "user1@localhost"), [])
        if all(c in rooms for c in CHANNELS):
            break
        assert time.monotonic() < deadline, f"user1's IRC rooms are {rooms}"
        await asyncio.sleep(0.2)
    # An announcement with markup reaches the user as it was typed.
    await asyncio.to_thread(post, "announcement", "/transports/test/announce", {"text": EVERYTHING},
                            ["Announcement sent to 1 user(s) of test."])
    await user1.expect_message(TRANSPORT, body=EVERYTHING, timeout=10)

    def forms() -> None:
        # Values refused and echoed in the error message shown.
        post("a JID with markup", "/registrations",
             {"jid": f"{EVERYTHING}@localhost", "transport": "test", "legacy_id": "x"}, [SCRIPT])
        post("a nick with markup", "/registrations",
             {"jid": "user3@localhost", "transport": "irc", "legacy_id": EVERYTHING}, [SCRIPT])
        post("a transport with markup", "/registrations",
             {"jid": "user3@localhost", "transport": EVERYTHING, "legacy_id": "x"}, [SCRIPT])
        post("a nick with markup, edited", "/registrations/irc/user1@localhost",
             {"legacy_id": EVERYTHING}, [SCRIPT])
        post("options that break out of the textarea", "/transports/irc/options",
             {"options": f"</textarea>{SCRIPT} = 1\n{IMG} = {AMP}\n"}, [f"</textarea>{SCRIPT} = 1", SCRIPT], 422)
        post("servers with markup", "/transports/test/access",
             {"public_registration": "on", "allowed_servers": EVERYTHING}, [SCRIPT])
        post("an allow list entry like a URL", "/transports/test/access",
             {"public_registration": "on", "allow_list": f"{JS}\nlocalhost"}, [JS])
        post("a debug switch with markup", "/transports/test/debug", {"enabled": EVERYTHING}, [SCRIPT])
        post("a transport in the path", f"/transports/{q(EVERYTHING)}/enable", {}, [SCRIPT])
        post("a session in the path", f"/sessions/test/{q(EVERYTHING)}/disconnect", {}, [SCRIPT])
        post("a registration in the path", f"/registrations/test/{q(EVERYTHING)}/delete", {}, [SCRIPT])
        # A failed login shows the name typed.
        other = Http(gateway.admin_url, source="127.0.0.2")
        planted.posted.append(("a login with markup", other.login(EVERYTHING, "wrong"), 401, [EVERYTHING]))

    await asyncio.to_thread(forms)
    everyone = [ADMIN_H]  # the signed-in administrator's name, on every page
    planted.pages = {
        "/": (200, everyone + [EVERYTHING]),
        "/transports": (200, everyone + [EVERYTHING, f"realname = {EVERYTHING}"]),
        "/access": (200, everyone),
        "/registrations": (200, everyone),
        f"/registrations?q={q(EVERYTHING)}&in_transport={q(EVERYTHING)}": (200, everyone + [EVERYTHING]),
        f"/registrations?q={q(JS)}": (200, everyone + [JS]),
        "/registrations/test/user1@localhost": (200, everyone),
        "/registrations/irc/user1@localhost": (200, everyone),
        "/registrations/irc/user2@localhost": (200, everyone),
        f"/registrations/test/{q(EVERYTHING)}": (404, [SCRIPT]),
        f"/registrations/{q(EVERYTHING)}/user1@localhost": (404, [SCRIPT]),
        "/sessions": (200, everyone + [EVERYTHING, *CHANNELS]),
        "/sessions?transport=irc": (200, everyone + CHANNELS),
        f"/sessions?transport={q(EVERYTHING)}": (200, everyone),
        "/logs": (200, everyone),
        "/logs?level=INFO": (200, everyone + [f"console:{ADMIN_H}", f"token:{TOKEN_H}"]),
        "/logs?transport=irc&level=INFO": (200, everyone + [f"Closing link: {EVERYTHING}"]),
        f"/logs?transport={q(EVERYTHING)}&level={q(EVERYTHING)}": (200, everyone),
        f"/{q(EVERYTHING)}": (404, []),
        f"/login?expired={q(EVERYTHING)}": (200, []),
        # Not pages: a query refused in plain text, the stylesheet, metrics and health.
        f"/registrations?page={q(EVERYTHING)}": (400, []),
        "/assets/console.css": (200, []),
        "/metrics": (200, []),
        "/healthz": (200, []),
        "/readyz": (200, []),
    }
    planted.api_pages = {
        "/api/v1/status": [],
        "/api/v1/transports": [EVERYTHING],
        "/api/v1/registrations": [],
        "/api/v1/sessions": [f"user1@localhost/{EVERYTHING}", *CHANNELS],
        "/api/v1/logs?limit=1000": [f"Closing link: {EVERYTHING}", f"console:{ADMIN_H}", f"token:{TOKEN_H}"],
        f"/api/v1/registrations/test/{q(EVERYTHING)}": [SCRIPT],
        "/api/v1/openapi.json": [],
    }
    return planted


# --- cases ------------------------------------------------------------------------------


# --- cases ------------------------------------------------------------------------------


async def test_markup_from_users_and_networks_stays_text_on_every_page(gateway, connect, ngircd, goodbye_ircd):
    planted = await plant(gateway, connect, ngircd.port, goodbye_ircd)
    for where, r, status, shown in planted.posted:
        assert r.status == status, (where, r.status, r.body[:2000])
        assert_inert(where, r, shown)
    for path, (status, shown) in planted.pages.items():
        r = await asyncio.to_thread(planted.web.get, path)
        assert r.status == status, (path, r.status, r.body[:2000])
        assert_inert(path, r, shown)
    for path, shown in planted.api_pages.items():
        r = await asyncio.to_thread(planted.api.get, path)
        assert r.status == (404 if shown == [SCRIPT] else 200), (path, r.status, r.body[:2000])
        assert_inert(path, r, shown)


CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# As tests/e2e/irc/test_console_browser.py: no background traffic, no sandbox as root.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
# What Chromium built from a page: its elements, event handler attributes, and its text
# with the values of its fields.
DOM = """() => {
  const all = [...document.querySelectorAll('*')];
  return {
    elements: [...new Set(all.map(e => e.localName))],
    handlers: all.flatMap(e => [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.localName + ' ' + a.name)),
    text: [document.body.innerText, ...[...document.querySelectorAll('input, textarea')].map(e => e.value)].join('\\n'),
  };
}"""


async def test_markup_stays_text_in_chromium(gateway, connect, ngircd, goodbye_ircd):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/test installs Debian's chromium")
    planted = await plant(gateway, connect, ngircd.port, goodbye_ircd)
    base = gateway.admin_url
    dialogs: list[str] = []
    refused: list[str] = []

    async def on_dialog(d) -> None:
        dialogs.append(d.message)
        await d.dismiss()

    def on_console(m) -> None:
        # A script or handler of ours would be blocked by the policy, and Chromium says so.
        if "Content Security Policy" in m.text or "Refused to" in m.text:
            refused.append(m.text)

    async def check(where: str, shown: list[str]) -> None:
        dom = await page.evaluate(DOM)
        assert set(dom["elements"]) <= TAGS, f"{where}: elements {set(dom['elements']) - TAGS}"
        assert not dom["handlers"], f"{where}: {dom['handlers']}"
        for s in shown:
            assert s in dom["text"], f"{where}: {s!r} is not shown in\n{dom['text']}"
        assert not dialogs and not refused, (where, dialogs, refused)

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, timeout=30_000)
        try:
            context = await browser.new_context()
            context.set_default_timeout(15_000)
            page = await context.new_page()
            page.on("dialog", on_dialog)
            page.on("console", on_console)
            await page.goto(base + "/login")
            await page.fill("input[name=username]", ADMIN_H)
            await page.fill("input[name=password]", PASSWORD)
            await page.click("#login")
            await page.wait_for_selector("h1:has-text('Overview')")
            pages = 0
            for path, (status, shown) in planted.pages.items():
                answer = await page.goto(base + path)
                assert answer is not None and answer.status == status, (path, answer and answer.status)
                if answer.headers.get("content-type", "").startswith("text/html"):
                    await check(path, shown)
                    pages += 1
            assert pages == sum(not p.startswith(("/assets", "/metrics", "/healthz", "/readyz", "/registrations?page"))
                                for p in planted.pages), pages
            # Forms typed in the browser: options breaking out of their textarea come back
            # in it, refused; a JID with markup is refused, and the message says which.
            await page.goto(base + "/transports")
            await page.fill("#options-irc", f"</textarea>{SCRIPT} = 1\n")
            await page.click("#save-options-irc")
            await page.wait_for_selector("p.flash.error")
            await check("the options refused", [f"</textarea>{SCRIPT} = 1", SCRIPT])
            await page.goto(base + "/registrations")
            await page.fill("input[name=jid]", f"{EVERYTHING}@localhost")
            await page.fill("input[name=legacy_id]", "x")
            await page.click("#add-registration")
            await page.wait_for_selector("p.flash")
            await check("the registration refused", [SCRIPT])
        finally:
            await browser.close()
