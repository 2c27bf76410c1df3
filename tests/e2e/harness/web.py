"""A small HTTP client for the console and REST API tests (standard library only).

Keeps cookies like a browser, lets a test see redirects instead of following them, and
never raises on an HTTP error status: tests assert on the status themselves.
"""

from __future__ import annotations

import functools
import http.client
import http.cookiejar
import json as jsonlib
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: str
    url: str = ""
    raw_headers: list[tuple[str, str]] = field(default_factory=list)

    def json(self):
        return jsonlib.loads(self.body)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def csrf(self) -> str:
        """The value of the first hidden `csrf` field of the page."""
        m = re.search(r'name="csrf"[^>]*value="([^"]+)"', self.body) or re.search(
            r'value="([^"]+)"[^>]*name="csrf"', self.body)
        assert m, f"no csrf field in the page at {self.url}:\n{self.body[:2000]}"
        return m.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class _FromAddress(urllib.request.HTTPHandler):
    """Connects from a given local address (127.0.0.x: another client, as the console's
    per-address limits see it)."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(functools.partial(http.client.HTTPConnection, source_address=(self.source, 0)), req)


class Http:
    """`Http(base, token=None, source=None)`: requests relative to base; a bearer token if
    given; from the local address `source` if given."""

    def __init__(self, base: str, token: str | None = None, timeout: float = 15.0, source: str | None = None):
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.cookies = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.cookies)]
        if source is not None:
            handlers.append(_FromAddress(source))
        self._follow = urllib.request.build_opener(*handlers)
        self._stay = urllib.request.build_opener(*handlers, _NoRedirect())

    def request(self, method: str, path: str, json=None, form: dict | None = None,
                headers: dict | None = None, follow: bool = True, body: bytes | None = None) -> Response:
        url = path if path.startswith("http") else self.base + path
        hdrs = dict(headers or {})
        data = body
        if json is not None:
            data = jsonlib.dumps(json).encode()
            hdrs.setdefault("Content-Type", "application/json")
        elif form is not None:
            data = urllib.parse.urlencode(form, doseq=True).encode()
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if self.token and "Authorization" not in hdrs:
            hdrs["Authorization"] = f"Bearer {self.token}"
        req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
        opener = self._follow if follow else self._stay
        try:
            with opener.open(req, timeout=self.timeout) as r:
                return self._response(r.status, r.headers, r.read(), r.geturl())
        except urllib.error.HTTPError as e:
            return self._response(e.code, e.headers, e.read(), url)

    @staticmethod
    def _response(status, headers, body: bytes, url: str) -> Response:
        items = list(headers.items()) if headers else []
        return Response(status, {k.lower(): v for k, v in items}, body.decode("utf-8", "replace"), url, items)

    def get(self, path: str, **kw) -> Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw) -> Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw) -> Response:
        return self.request("DELETE", path, **kw)

    def login(self, username: str, password: str) -> Response:
        """Logs in through the console's form (as a browser would); returns the final page."""
        page = self.get("/login")
        form = {"username": username, "password": password}
        m = re.search(r'name="csrf"[^>]*value="([^"]+)"', page.body)
        if m:
            form["csrf"] = m.group(1)
        return self.post("/login", form=form)
