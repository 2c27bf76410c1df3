"""Hostile bytes on the client port of server mode (issue 21): every case gets its exact
answer (a stream error, a SASL failure, a close), while another user logged in on the same
gateway keeps getting answers, and the process's memory comes back to its level.

The bytes are written by a raw socket while the answer is read, so the answer is seen even
when the gateway closes the stream in the middle of a 10 MB write.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time

TEST = "test.localhost"
HEADER = (f"<?xml version='1.0'?><stream:stream to='{TEST}' version='1.0' xmlns='jabber:client' "
          "xmlns:stream='http://etherx.jabber.org/streams'>")
SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def auth(payload: bytes | str, mechanism: str = "PLAIN") -> str:
    text = payload if isinstance(payload, str) else base64.b64encode(payload).decode()
    return f"<auth xmlns='{SASL}' mechanism='{mechanism}'>{text}</auth>"


# name: (bytes sent, what must come back: "stream:<condition>", "sasl:<condition>" or
# "close" for a silent close).
CASES: dict[str, tuple[str | bytes, str]] = {
    "a 10 MB stanza": (HEADER + "<message><body>" + "x" * (10 << 20) + "</body></message>",
                       "stream:policy-violation"),
    "100,000-deep nesting": (HEADER + "<a>" * 100_000, "stream:policy-violation"),
    "a DOCTYPE": ("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>" + HEADER,
                  "stream:restricted-xml"),
    "an undeclared entity": (HEADER + "<message><body>&a;</body></message>", "stream:not-well-formed"),
    "invalid UTF-8": (HEADER.encode() + b"<message><body>\xff\xfe\xc3</body></message>",
                      "stream:not-well-formed"),
    "5,000 attributes": (HEADER + "<message " + " ".join(f"a{i}='x'" for i in range(5000)) + "/>",
                         "stream:policy-violation"),
    "a jabber:server stream": (HEADER.replace("jabber:client", "jabber:server"), "stream:invalid-namespace"),
    "a wrong stream namespace": (HEADER.replace("http://etherx.jabber.org/streams", "urn:wrong"),
                                 "stream:invalid-namespace"),
    "version 2.0": (HEADER.replace("version='1.0' xmlns", "version='2.0' xmlns"), "stream:unsupported-version"),
    "an unknown host": (HEADER.replace(TEST, "elsewhere.example"), "stream:host-unknown"),
    "an HTTP request": ("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "stream:not-well-formed"),
    "SASL with malformed base64": (HEADER + auth("!!notbase64"), "sasl:incorrect-encoding"),
    "SASL with extra NULs": (HEADER + auth(b"\0\0\0user\0pw\0\0"), "sasl:malformed-request"),
    "SASL with a 100 KB authzid": (HEADER + auth(b"z" * 100_000 + b"\0user\0pw"), "sasl:invalid-authzid"),
    "SASL with an unknown mechanism": (HEADER + f"<auth xmlns='{SASL}' mechanism='X-NOPE'/>",
                                       "sasl:invalid-mechanism"),
    "garbage after STARTTLS": (HEADER + "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>GARBAGE\x16\x03",
                               "close"),
}


async def attack(port: int, data: str | bytes, within: float = 10.0) -> tuple[str, bool]:
    """Writes `data` while reading the answer; returns (answer, closed by the gateway)."""
    raw = data.encode() if isinstance(data, str) else data
    r, w = await asyncio.open_connection("127.0.0.1", port)

    async def write() -> None:
        try:
            for i in range(0, len(raw), 1 << 16):
                w.write(raw[i:i + (1 << 16)])
                await w.drain()
        except ConnectionError:
            pass

    writing = asyncio.ensure_future(write())
    got = b""
    closed = False
    deadline = time.monotonic() + within
    try:
        while time.monotonic() < deadline:
            try:
                chunk = await asyncio.wait_for(r.read(1 << 16), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
            if not chunk:
                closed = True
                break
            got += chunk
            # A SASL failure leaves the stream open for another try: stop there.
            if b"</failure>" in got:
                break
    except ConnectionError:
        closed = True
    writing.cancel()
    w.close()
    return got.decode(errors="replace"), closed


def outcome(answer: str, closed: bool) -> str:
    m = re.search(r"<stream:error><([a-z-]+) xmlns='urn:ietf:params:xml:ns:xmpp-streams'", answer)
    if m:
        return f"stream:{m.group(1)}"
    m = re.search(rf"<failure xmlns='{SASL}'><([a-z-]+)", answer)
    if m:
        return f"sasl:{m.group(1)}"
    return "close" if closed else "silence"


async def test_hostile_bytes_before_login(make_server, sconnect):
    server = make_server(server={"allow_plaintext_on_loopback": True})
    bob = await sconnect(server, f"bob@{TEST}", "pw")
    # Warm up (one exchange of each kind), then the level memory must come back to.
    await attack(server.c2s_port, CASES["a 10 MB stanza"][0])
    bob.send_message(f"echo@{TEST}", "warm")
    await bob.expect_message(f"echo@{TEST}", "echo: warm")
    base = server.rss_mib()
    wrong = []
    for name, (data, want) in CASES.items():
        answer, closed = await attack(server.c2s_port, data)
        got = outcome(answer, closed)
        if got != want:
            wrong.append(f"{name}: {got} instead of {want} ({answer[-200:]!r})")
        # Another user is answered after each attack.
        bob.send_message(f"echo@{TEST}", f"after {name}")
        await bob.expect_message(f"echo@{TEST}", f"echo: after {name}", timeout=5)
    assert not wrong, "\n".join(wrong)
    # Every refused login is in the log with its reason, for the operator.
    unlogged = [name for name, (_, want) in CASES.items() if want.startswith("sasl:")
                and not server.count_log(rf"c2s: login refused jid=\S+ condition={want[5:]} reason=")]
    assert not unlogged, unlogged
    after = server.rss_mib()
    print(f"RSS {base:.0f} MiB before the attacks, {after:.0f} MiB after")
    assert after - base < 16, f"RSS grew from {base:.0f} to {after:.0f} MiB"
    assert server.running()

