"""What the console's hostile cases share: the administrator they log in as."""

from __future__ import annotations

from harness.web import Http

ADMIN, PASSWORD = "root", "correct horse battery staple"


def logged_in(pontoon, name: str = ADMIN, password: str = PASSWORD) -> Http:
    web = Http(pontoon.admin_url)
    page = web.login(name, password)
    assert page.status == 200 and "Overview" in page.body, page
    return web
