"""SIGHUP reloads what an operator changes on a live gateway, without dropping anybody: the
TLS certificate (a renewed file, or other paths in [server]) and the log level. A file with
errors changes nothing. (docs/operating.md, "Reloading without a restart".)
"""

from __future__ import annotations

import asyncio
import re
import signal
import ssl
import subprocess
from pathlib import Path

import pytest

from server_fixtures import IRC  # noqa: F401  (the conftest makes make_server/sconnect)

DOMAIN = "test.localhost"
pytestmark = pytest.mark.asyncio


def self_signed(dir: Path, tag: str) -> tuple[Path, Path]:
    """A self-signed certificate for DOMAIN (its own CA for the client) and its key."""
    cert, key = dir / f"{tag}.pem", dir / f"{tag}-key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={DOMAIN}",
         "-addext", f"subjectAltName=DNS:{DOMAIN},DNS:localhost"],
        check=True, capture_output=True, timeout=30,
    )
    return cert, key


async def read_until(reader: asyncio.StreamReader, pattern: bytes, timeout: float = 10) -> bytes:
    """Reads until `pattern` matches what was read (at most 64 KiB, within `timeout`)."""
    buf = b""
    async with asyncio.timeout(timeout):
        while not re.search(pattern, buf):
            chunk = await reader.read(4096)
            assert chunk, f"stream closed before {pattern!r}: {buf!r}"
            buf += chunk
            assert len(buf) < 65536, buf
    return buf


async def starttls_peer_cert(port: int, trust: Path) -> bytes:
    """Opens a client stream, negotiates STARTTLS trusting only `trust`, and returns the
    certificate the server presented (DER). Raises ssl.SSLCertVerificationError when the
    server's certificate is not one `trust` vouches for."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            f"<?xml version='1.0'?><stream:stream to='{DOMAIN}' version='1.0' xmlns='jabber:client' "
            "xmlns:stream='http://etherx.jabber.org/streams'>".encode()
        )
        await read_until(reader, rb"</(stream:)?features>")
        writer.write(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        await read_until(reader, rb"<proceed[^>]*/>")
        ctx = ssl.create_default_context(cafile=str(trust))
        await asyncio.wait_for(writer.start_tls(ctx, server_hostname=DOMAIN), 10)
        der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        assert der
        return der
    finally:
        writer.close()


def reload(server, what: str, pattern: str) -> None:
    """SIGHUP, then waits for the log line `pattern` written after it."""
    since = server.log_offset()
    server.proc.send_signal(signal.SIGHUP)
    server.wait_log(pattern, 15, since=since, what=what)


async def test_sighup_reloads_the_certificate_and_keeps_clients(make_server, sconnect, tmp_path):
    server = make_server()
    generated_ca = server.ca_path
    alice = await sconnect(server, f"alice@{DOMAIN}", "pw")
    before = await starttls_peer_cert(server.c2s_port, generated_ca)

    # The operator moves to their own certificate: new paths in [server], then SIGHUP.
    cert, key = self_signed(tmp_path, "renewed")
    server.server.update({"cert": str(cert), "key": str(key)})
    server.write_config()
    reload(server, "the certificate reload", r"reload: TLS certificate read again")
    after = await starttls_peer_cert(server.c2s_port, cert)
    assert after != before
    assert after == ssl.PEM_cert_to_DER_cert(cert.read_text())
    # New clients that trust only the old CA are refused; the connected one stayed.
    with pytest.raises(ssl.SSLCertVerificationError):
        await starttls_peer_cert(server.c2s_port, generated_ca)
    reply = await alice.iq("get", DOMAIN, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert reply.get("type") == "result", reply
    assert server.count_log(r"SIGTERM|stopped") == 0

    # A renewal caught half-written (the key of another certificate) changes nothing.
    _, other_key = self_signed(tmp_path, "other")
    server.server.update({"key": str(other_key)})
    server.write_config()
    reload(server, "the refused reload", r"reload: TLS certificate not changed; the previous one stays in use")
    assert await starttls_peer_cert(server.c2s_port, cert) == after

    # A file with errors changes nothing either, and says what is wrong.
    good = server.config_path.read_text()
    server.config_path.write_text(good + "\n[general\n")
    reload(server, "the refused file", r"reload: the configuration file has errors; nothing was changed")
    assert await starttls_peer_cert(server.c2s_port, cert) == after
    reply = await alice.iq("get", DOMAIN, "<query xmlns='http://jabber.org/protocol/disco#info'/>")
    assert reply.get("type") == "result", reply


async def test_sighup_reloads_the_log_level(make_server, sconnect):
    server = make_server(start=False)
    server.general["log_level"] = "warn"
    server.write_config()
    server.start(wait_ready=False)
    # At warn, the start's info lines are not written: wait on the console being up instead.
    server.wait_log(r"no console administrator yet", 20, what="the start")
    assert server.count_log(r" INFO ", since=server.start_offset) == 0
    server.general["log_level"] = "info"
    server.write_config()
    # The change itself is logged at info, so only once info is on.
    reload(server, "the level change", r"log level changed.*level=info")
    since = server.log_offset()
    await sconnect(server, f"bob@{DOMAIN}", "pw")
    server.wait_log(r" INFO .*bob@" + DOMAIN.replace(".", r"\."), 15, since=since,
                    what="an info line about the login")
    assert server.count_log(r" DEBUG ", since=since) == 0
