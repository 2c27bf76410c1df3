"""What a user does with a transport, step by step, as a client would do it (XEP-0077, XEP-0100)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from .client import NS_DATA, NS_REGISTER, User, dump, error_condition

TRANSPORT = "test.localhost"


def form_fields(reply: ET.Element) -> dict[str, ET.Element]:
    """The data form fields of a jabber:iq:register reply, by var."""
    query = reply.find(f"{{{NS_REGISTER}}}query")
    if query is None:
        return {}
    form = query.find(f"{{{NS_DATA}}}x")
    if form is None:
        return {}
    return {f.get("var"): f for f in form.findall(f"{{{NS_DATA}}}field")}


def register_form_xml(username: str, password: str) -> str:
    def esc(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;").replace("'", "&apos;")

    return (
        f"<query xmlns='{NS_REGISTER}'><x xmlns='{NS_DATA}' type='submit'>"
        f"<field var='FORM_TYPE' type='hidden'><value>{NS_REGISTER}</value></field>"
        f"<field var='username'><value>{esc(username)}</value></field>"
        f"<field var='password'><value>{esc(password)}</value></field>"
        f"</x></query>"
    )


async def get_registration_form(user: User, to: str = TRANSPORT) -> ET.Element:
    return await user.iq("get", to, f"<query xmlns='{NS_REGISTER}'/>")


async def submit_registration(user: User, username: str, password: str, to: str = TRANSPORT) -> ET.Element:
    """Gets the form (as a client must first), then submits it. Returns the reply to the submit."""
    form = await get_registration_form(user, to)
    assert form.get("type") == "result", f"registration form request failed: {dump(form)}"
    return await user.iq("set", to, register_form_xml(username, password))


async def accept_transport_subscription(user: User, to: str = TRANSPORT, timeout: float = 10.0) -> None:
    """Waits for the transport's subscription request and accepts it, subscribing back, as
    clients do when the user clicks 'accept' (approve + add to roster)."""
    await user.expect_presence(to, "subscribe", timeout=timeout)
    user.send_presence(to=to, ptype="subscribed")
    user.send_presence(to=to, ptype="subscribe")


async def register(user: User, username: str, password: str, to: str = TRANSPORT) -> None:
    """The whole registration as a user does it: form, submit, accept the subscription."""
    reply = await submit_registration(user, username, password, to)
    assert reply.get("type") == "result", (
        f"registration of {user.bare} as {username!r} failed ({error_condition(reply)}): {dump(reply)}"
    )
    await accept_transport_subscription(user, to)


async def register_and_login(user: User, username: str, password: str, to: str = TRANSPORT) -> None:
    """Registers, then waits for the transport to log the (online) user in."""
    await register(user, username, password, to)
    await user.expect_presence(to, "available", timeout=15)


async def status_of(user: User, to: str = TRANSPORT) -> str:
    """The transport's answer to `status`: registration, login, and what the user's server
    lets the gateway do (XEP-0356)."""
    user.send_message(to, "status")
    reply = await user.expect(lambda s: s.kind == "message" and s.from_bare == to and s.body is not None
                              and "Your server" in s.body, 10, what="the status answer")
    return reply.body


async def echo_roundtrip(user: User, text: str, to: str = TRANSPORT, timeout: float = 10.0) -> None:
    user.send_message(f"echo@{to}", text)
    await user.expect_message(f"echo@{to}", body=f"echo: {text}", timeout=timeout)
