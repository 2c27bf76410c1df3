"""The console under a hostile client (issue 21): each case checks the answer the attacker
gets, that another administrator is served meanwhile, and that memory comes back down.

Cases here (markup on every page: test_hostile_console_markup.py):
- headers sent too slowly (slowloris) get `408` and are cut off, while others are served;
- failed logins in parallel from many addresses keep the process's memory bounded (argon2
  takes about 19 MiB per check), and the log keeps every failure but not every refusal;
- request heads over 32 KiB get `431`, bodies over 64 KiB `413`, and the connection ends,
  while others are served and memory comes back;
- request smuggling: `Content-Length` with `Transfer-Encoding`, two lengths, a coding list,
  a folded header line... get `400`, the connection ends, the request hidden in the body
  is never run;
- CSRF beyond tests/e2e/test_console_http.py (no token, a forged token): another session's
  token, the login form's token, a form from another origin, a text/plain form, the session
  cookie on the API; and a revoked API token or console login refused at the very next
  request of an open keep-alive connection.
"""

from __future__ import annotations

import asyncio
import re
import time

from console_kit import ADMIN, PASSWORD, logged_in
from harness.web import Http, Response

# The console's header timeout (not configurable; the default of crates/pontoon-admin).
HEADER_TIMEOUT = 10
# The console's limits (crates/pontoon-admin: server::MAX_HEADER_BYTES, BODY_LIMIT).
HEAD_LIMIT = 32 * 1024
BODY_LIMIT = 64 * 1024


# --- helpers ----------------------------------------------------------------------------


def session_cookie(web: Http) -> str:
    return next(c.value for c in web.cookies if c.name == "pontoon_session")


def address(pontoon) -> tuple[str, int]:
    host, port = pontoon.admin_url.split("//", 1)[1].rstrip("/").split(":")
    return host, int(port)


def statuses(answer: bytes) -> list[int]:
    """The status of every response in what a connection answered."""
    return [int(s) for s in re.findall(rb"(?m)^HTTP/1\.[01] (\d{3}) ", answer)]


async def exchange(pontoon, data: bytes, timeout: float = 10.0) -> bytes:
    """Sends data on a new connection and reads until the server closes it; fails if it is
    still open after timeout seconds."""
    r, w = await asyncio.open_connection(*address(pontoon))
    got = b""
    try:
        w.write(data)
        try:
            await w.drain()
        except ConnectionError:
            pass  # the server answered and closed before taking it all
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"the connection is still open after {timeout} s; it said {got[:300]!r}"
            try:
                chunk = await asyncio.wait_for(r.read(65536), left)
            except asyncio.TimeoutError:
                continue
            except ConnectionResetError:
                return got  # closed with bytes of ours unread: the kernel's reset
            if not chunk:
                return got
            got += chunk
    finally:
        w.close()


class KeepAlive:
    """One HTTP/1.1 connection to the console, kept open between requests."""

    def __init__(self, pontoon):
        self.host, self.port = address(pontoon)
        self.r: asyncio.StreamReader | None = None
        self.w: asyncio.StreamWriter | None = None

    async def __aenter__(self) -> "KeepAlive":
        self.r, self.w = await asyncio.open_connection(self.host, self.port)
        return self

    async def __aexit__(self, *_exc) -> None:
        assert self.w is not None
        self.w.close()

    async def request(self, method: str, path: str, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        """Sends a request and reads its answer (which must have a Content-Length)."""
        assert self.r is not None and self.w is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", f"Content-Length: {len(body)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.w.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        await self.w.drain()
        head = await asyncio.wait_for(self.r.readuntil(b"\r\n\r\n"), 10)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        got = {k.strip().lower(): v.strip() for k, v in (h.split(":", 1) for h in header_lines if h)}
        payload = await asyncio.wait_for(self.r.readexactly(int(got["content-length"])), 10)
        return int(status_line.split()[1]), got, payload


# --- cases ------------------------------------------------------------------------------


async def test_slow_headers_get_408_while_others_are_served(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    host, port = address(pontoon)
    slow = []
    for _ in range(20):
        r, w = await asyncio.open_connection(host, port)
        w.write(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        slow.append((r, w))
    started = time.monotonic()
    # Meanwhile an administrator logs in and sees the overview.
    web = Http(pontoon.admin_url)
    page = await asyncio.to_thread(web.login, ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page
    # The slow ones trickle a byte every second, and are answered 408 after the timeout.
    async def trickle(r, w) -> bytes:
        got = b""
        while not got:
            try:
                w.write(b"a")
                await w.drain()
            except ConnectionError:
                pass
            try:
                got = await asyncio.wait_for(r.read(4096), 1.0)
                if not got:
                    return b""
            except asyncio.TimeoutError:
                continue
        while True:
            more = await asyncio.wait_for(r.read(4096), 5.0)
            if not more:
                return got
            got += more
    answers = await asyncio.wait_for(asyncio.gather(*(trickle(r, w) for r, w in slow)), HEADER_TIMEOUT + 10)
    took = time.monotonic() - started
    assert all(a.startswith(b"HTTP/1.1 408 ") for a in answers), answers[:3]
    assert took < HEADER_TIMEOUT + 5, f"cut off after {took:.1f} s"
    for _, w in slow:
        w.close()
    assert (await asyncio.to_thread(web.get, "/")).status == 200


async def test_failed_logins_in_parallel_keep_memory_bounded(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    # One check first, so the hashing threads and their memory are there.
    assert (await asyncio.to_thread(Http(pontoon.admin_url).login, ADMIN, "wrong")).status == 401
    base = pontoon.rss_mib()

    def attempts(n: int) -> list[int]:
        # Each from its own address, so the per-address limit lets every one be checked.
        web = Http(pontoon.admin_url, source=f"127.0.0.{10 + n}")
        statuses = []
        for _ in range(4):
            statuses.append(web.login(ADMIN, f"wrong{n}").status)
            if statuses[-1] != 503:
                break
            time.sleep(0.2)
        return statuses

    checked = 0
    all_statuses: list[list[int]] = []
    peak = base
    started = time.monotonic()
    for wave in range(3):
        results = await asyncio.gather(*(asyncio.to_thread(attempts, wave * 16 + i) for i in range(16)))
        peak = max(peak, pontoon.rss_mib())
        all_statuses.extend(results)
        for statuses in results:
            assert set(statuses) <= {401, 503, 429}, statuses
            checked += statuses.count(401)
    assert checked >= 24, f"only {checked} passwords were checked"
    after = pontoon.rss_mib()
    print(f"RSS {base:.0f} MiB before, {peak:.0f} MiB at most during, {after:.0f} MiB after {checked} checks")
    # Two hashing threads, each with one buffer of about 19 MiB that it keeps (one of them
    # was there already): the process grows by that much, whatever the number of attempts.
    # (Before, each check allocated anew and glibc kept it: 31 -> 183 MiB here.)
    assert after - base < 40, f"RSS grew from {base:.0f} to {after:.0f} MiB"
    # The log: every failed check is there for fail2ban and the like (audit lines are never
    # held back); the refusals of logins beyond the two at a time, repeated in a burst, are
    # shown a few times and then counted.
    assert pontoon.count_log(r"WARN pontoon::audit: console login failed") == checked + 1
    busy = sum(s.count(503) for s in all_statuses)
    shown = pontoon.count_log(r"console login refused: too many logins in progress")
    # At most 5 per 10-second window of the log rule (however long a loaded machine took).
    windows = int((time.monotonic() - started) // 10) + 2
    if busy > 5:
        assert shown <= 5 * windows, f"{shown} of {busy} refusals logged in {windows} windows"
        await pontoon.wait_log_async(r"a log line kept repeating; \d+ more were held back", 15)
    # And the right password still works.
    page = await asyncio.to_thread(Http(pontoon.admin_url, source="127.0.0.200").login, ADMIN, PASSWORD)
    assert page.status == 200 and "Overview" in page.body, page


async def test_oversized_heads_and_bodies_get_431_and_413_and_memory_comes_back(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    token = await asyncio.to_thread(pontoon.create_token, "big")
    web = await asyncio.to_thread(logged_in, pontoon)
    cookie = session_cookie(web)
    pad = b"a" * (HEAD_LIMIT + 1024)
    body_head = ("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {ctype}\r\n{auth}"
                 f"Content-Length: {1 << 20}\r\n\r\n")
    cases = {
        # A header line over the limit, too many headers, a path over the limit.
        "long header": (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + pad + b"\r\n\r\n", 431),
        "many headers": (b"GET / HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(150))
                         + b"\r\n", 431),
        "long path": (b"GET /" + pad + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431),
        # A body said to be 1 MiB (128 KiB of it sent) to the login form, a console form and
        # the API, each past its checks of who is asking.
        "login body": (body_head.format(path="/login", ctype="application/x-www-form-urlencoded", auth="").encode()
                       + b"a" * (128 << 10), 413),
        "form body": (body_head.format(path="/transports/test/announce", ctype="application/x-www-form-urlencoded",
                                       auth=f"Cookie: pontoon_session={cookie}\r\n").encode()
                      + b"a" * (128 << 10), 413),
        "API body": (body_head.format(path="/api/v1/registrations", ctype="application/json",
                                      auth=f"Authorization: Bearer {token}\r\n").encode() + b"a" * (128 << 10), 413),
        # One byte over the limit, all of it sent: the console could read past it, yet ends
        # the connection.
        "body one byte over": (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                               b"\r\nContent-Length: %d\r\n\r\n" % (BODY_LIMIT + 1) + b"a" * (BODY_LIMIT + 1), 413),
    }

    async def wave(n: int) -> None:
        names = [name for name in cases for _ in range(n)]
        # Meanwhile another administrator is served.
        admin = asyncio.ensure_future(asyncio.to_thread(web.get, "/"))
        answers = await asyncio.gather(*(exchange(pontoon, cases[name][0]) for name in names))
        for name, answer in zip(names, answers):
            # One answer, the right one, and the connection closed (exchange waits for it).
            assert statuses(answer) == [cases[name][1]], (name, answer[:300])
        page = await admin
        assert page.status == 200 and "Overview" in page.body, page

    # One round first, so the buffers and threads that stay are there.
    await wave(2)
    base = pontoon.rss_mib()
    peak = base
    for _ in range(3):
        await wave(10)
        peak = max(peak, pontoon.rss_mib())
    after = pontoon.rss_mib()
    print(f"RSS {base:.0f} MiB before, {peak:.0f} MiB at most during, {after:.0f} MiB after")
    assert after - base < 16, f"RSS grew from {base:.0f} to {after:.0f} MiB"
    # Nothing was announced or changed, and the console still answers.
    assert pontoon.count_log(r"operator sent an announcement|operator added a registration") == 0
    assert (await asyncio.to_thread(web.get, "/transports")).status == 200


async def test_request_smuggling_gets_400_and_the_hidden_request_never_runs(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    web = await asyncio.to_thread(logged_in, pontoon)
    api = Http(pontoon.admin_url, token=await asyncio.to_thread(pontoon.create_token, "check"))
    csrf = (await asyncio.to_thread(web.get, "/transports")).csrf()
    form = f"csrf={csrf}&confirm=yes".encode()

    def disable(extra: str = "") -> bytes:
        return (f"POST /transports/test/disable HTTP/1.1\r\nHost: x\r\n{extra}Cookie: pontoon_session="
                f"{session_cookie(web)}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(form)}\r\n\r\n").encode() + form

    # The request hidden in the body: a valid, state-changing one (it would disable the
    # test transport).
    hidden = disable()
    chunked = b"0\r\n\r\n" + hidden
    one_chunk = b"%x\r\n" % len(hidden) + hidden + b"\r\n0\r\n\r\n"

    def req(headers: str, body: bytes, version: str = "1.1") -> bytes:
        return f"POST /login HTTP/{version}\r\nHost: x\r\n{headers}\r\n".encode() + body

    cases = {
        # CL.TE: a proxy going by the length sends it all; chunked, the body ends early.
        "Content-Length then Transfer-Encoding":
            req(f"Content-Length: {len(chunked)}\r\nTransfer-Encoding: chunked\r\n", chunked),
        "Transfer-Encoding then Content-Length":
            req(f"Transfer-Encoding: chunked\r\nContent-Length: {len(chunked)}\r\n", chunked),
        # TE.CL: by the length the hidden request follows a 4-byte body.
        "short Content-Length with Transfer-Encoding":
            req("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", one_chunk),
        "Transfer-Encoding with a tab": req("Content-Length: 0\r\nTransfer-Encoding:\tchunked\r\n", chunked),
        "Transfer-Encoding in capitals": req("Content-Length: 0\r\nTRANSFER-ENCODING: CHUNKED\r\n", chunked),
        # The console takes no chunked bodies at all (so no proxy in front can read one
        # differently).
        "chunked alone": req("Transfer-Encoding: chunked\r\n", chunked),
        "chunked, identity": req(f"Content-Length: {len(hidden)}\r\nTransfer-Encoding: chunked, identity\r\n", hidden),
        "identity": req("Content-Length: 0\r\nTransfer-Encoding: identity\r\n", hidden),
        "Transfer-Encoding with a space before the colon":
            req("Content-Length: 0\r\nTransfer-Encoding : chunked\r\n", chunked),
        "chunked in HTTP/1.0": req("Transfer-Encoding: chunked\r\n", chunked, "1.0"),
        "two lengths": req(f"Content-Length: 0\r\nContent-Length: {len(hidden)}\r\n", hidden),
        "a list of two lengths": req(f"Content-Length: 0, {len(hidden)}\r\n", hidden),
        "a signed length": req(f"Content-Length: +{len(hidden)}\r\n", hidden),
        "a folded Transfer-Encoding": req("Content-Length: 0\r\nTransfer-Encoding:\r\n chunked\r\n", chunked),
        "a folded Content-Length": req(f"Content-Length: 0\r\n {len(hidden)}\r\n", hidden),
    }
    for name, data in cases.items():
        answer = await exchange(pontoon, data)
        # One answer, 400, and the connection closed before anything after it was read.
        assert statuses(answer) == [400], (name, answer[:500])
    assert api.get("/api/v1/transports/test").json()["enabled"] is True
    assert pontoon.count_log(r"operator changed the transport's policy") == 0
    # The hidden request on its own does what it says: the cases above did not run it.
    answer = await exchange(pontoon, disable("Connection: close\r\n"))
    assert statuses(answer) == [303], answer[:500]
    assert api.get("/api/v1/transports/test").json()["enabled"] is False


def transport_enabled(api: Http) -> bool:
    return api.get("/api/v1/transports/test").json()["enabled"]


async def test_forms_from_elsewhere_or_with_another_sessions_token_are_refused(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    api = Http(pontoon.admin_url, token=await asyncio.to_thread(pontoon.create_token, "check"))
    mine = await asyncio.to_thread(logged_in, pontoon)
    theirs = await asyncio.to_thread(logged_in, pontoon)  # the same account, another login
    csrf = (await asyncio.to_thread(mine.get, "/transports")).csrf()
    other_csrf = (await asyncio.to_thread(theirs.get, "/transports")).csrf()
    assert csrf != other_csrf
    login_csrf = (await asyncio.to_thread(Http(pontoon.admin_url).get, "/login")).csrf()
    origin = pontoon.admin_url
    _, port = address(pontoon)

    def disable(headers: dict | None = None, **kw) -> Response:
        kw.setdefault("form", {"csrf": csrf, "confirm": "yes"})
        return mine.post("/transports/test/disable", headers=headers, follow=False, **kw)

    def refused(what: str, r: Response, status: int, says: str) -> None:
        assert r.status == status and says in r.body, (what, r)
        assert transport_enabled(api) is True, what

    cases = [
        ("another session's token", lambda: disable(form={"csrf": other_csrf}), 403, "form token"),
        ("the login form's token", lambda: disable(form={"csrf": login_csrf}), 403, "form token"),
        ("the token in the query string", lambda: mine.post(f"/transports/test/disable?csrf={csrf}", form={},
                                                            follow=False), 403, "form token"),
        # A form another site can send without a preflight (enctype text/plain).
        ("a text/plain form", lambda: disable(body=f"csrf={csrf}".encode(), form=None,
                                              headers={"Content-Type": "text/plain"}), 415, "Content-Type"),
        # The right token, from another origin, as the browser tells.
        ("another site", lambda: disable({"Origin": "http://evil.example"}), 403, "another site"),
        ("another port of this host", lambda: disable({"Origin": f"http://127.0.0.1:{port + 1}"}), 403,
         "another site"),
        ("an opaque origin", lambda: disable({"Origin": "null"}), 403, "another site"),
        ("Sec-Fetch-Site cross-site", lambda: disable({"Sec-Fetch-Site": "cross-site", "Origin": origin}), 403,
         "another site"),
        ("Sec-Fetch-Site same-site", lambda: disable({"Sec-Fetch-Site": "same-site"}), 403, "another site"),
        # The console's cookie is no key to the API.
        ("the session cookie on the API", lambda: mine.patch("/api/v1/transports/test", json={"enabled": False}),
         401, "unauthorized"),
        # A GET changes nothing.
        ("a GET", lambda: mine.get("/transports/test/disable", follow=False), 405, ""),
    ]
    for what, send, status, says in cases:
        refused(what, await asyncio.to_thread(send), status, says)
    # A login posted from another site is refused before the password is looked at.
    anon = Http(pontoon.admin_url)
    token = (await asyncio.to_thread(anon.get, "/login")).csrf()
    r = await asyncio.to_thread(anon.post, "/login", form={"username": ADMIN, "password": PASSWORD, "csrf": token},
                                headers={"Origin": "http://evil.example"}, follow=False)
    assert r.status == 403 and "another site" in r.body, r
    assert not any(c.name == "pontoon_session" for c in anon.cookies), list(anon.cookies)
    assert pontoon.count_log(r"operator changed the transport's policy") == 0
    # From the console itself, as a browser sends it, the same form works.
    r = await asyncio.to_thread(disable, {"Origin": origin, "Sec-Fetch-Site": "same-origin"})
    assert r.status == 303, r
    assert transport_enabled(api) is False


async def test_revoked_token_and_login_are_refused_on_an_open_connection(pontoon):
    await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "\n")
    token = await asyncio.to_thread(pontoon.create_token, "doomed")
    other = Http(pontoon.admin_url, token=await asyncio.to_thread(pontoon.create_token, "other"))
    web = await asyncio.to_thread(logged_in, pontoon)
    cookie = {"Cookie": f"pontoon_session={session_cookie(web)}"}
    csrf = (await asyncio.to_thread(web.get, "/transports")).csrf()
    bearer = {"Authorization": f"Bearer {token}"}
    async with KeepAlive(pontoon) as api, KeepAlive(pontoon) as console:
        assert (await api.request("GET", "/api/v1/status", bearer))[0] == 200
        assert (await console.request("GET", "/registrations", cookie))[0] == 200
        await pontoon.cli_async("admin", "token", "revoke", "doomed")
        # The next request on the same connection is refused, reads and changes alike.
        status, headers, body = await api.request("GET", "/api/v1/status", bearer)
        assert status == 401 and b'"unauthorized"' in body, (status, body)
        assert headers["www-authenticate"].lower().startswith("bearer"), headers
        status, _, body = await api.request("PATCH", "/api/v1/transports/test",
                                            {**bearer, "Content-Type": "application/json"}, b'{"enabled": false}')
        assert status == 401, (status, body)
        # A new password for the administrator ends their login at its next request.
        await pontoon.cli_async("admin", "add", ADMIN, "--password-stdin", input=PASSWORD + "!\n")
        status, headers, _ = await console.request(
            "POST", "/transports/test/disable", {**cookie, "Content-Type": "application/x-www-form-urlencoded"},
            f"csrf={csrf}".encode())
        assert status == 303 and headers["location"] == "/login?revoked=1", (status, headers)
        status, headers, _ = await console.request("GET", "/registrations", cookie)
        assert status == 303 and headers["location"] == "/login", (status, headers)
    assert other.get("/api/v1/status").status == 200
    assert transport_enabled(other) is True
