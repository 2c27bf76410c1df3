"""CertFP with InspIRCd + Atheme (issue 19, point 1): the user has the gateway make a
client certificate, sees its fingerprint, registers it with NickServ the way an IRC user
does (`CERT ADD` while connected with it), and from then on logs in to services by SASL
EXTERNAL, with no password stored anywhere. InspIRCd's TLS port asks for client
certificates and passes their SHA-256 fingerprints to Atheme (tests/e2e/irc/ircd.py)."""

from __future__ import annotations

import asyncio
import re

import pytest

from ircd import SEEDED_ACCOUNT, SEEDED_PASSWORD
from ircxmpp import IRC, contact, register_irc, relogin, said, wait_on_irc


@pytest.fixture
def tls_pontoon(make_irc_pontoon, inspircd):
    # The test server's certificate is self-signed: the operator turns the check off.
    return make_irc_pontoon({"connect_host": "127.0.0.1", "connect_port": inspircd.tls_port, "tls": True,
                             "tls_verify": False, "connect_timeout": 5})


async def test_certfp_login_by_sasl_external(tls_pontoon, inspircd, connect, raw_irc_any):
    watcher = await raw_irc_any(inspircd.port, "watcher")
    user = await connect("user1")
    await register_irc(user, SEEDED_ACCOUNT)
    who = await wait_on_irc(watcher, SEEDED_ACCOUNT)
    assert "330" not in who, "logged in to services before any certificate or password was given"

    # Only the gateway makes the key: anything but "generate" is refused in words.
    user.send_message(IRC, "set client-certificate -----BEGIN PRIVATE KEY-----")
    await said(user, IRC, "set client-certificate generate")
    user.send_message(IRC, "set client-certificate generate")
    made = await said(user, IRC, "client-certificate is now a certificate with fingerprints SHA-256 ")
    fingerprint = re.search(r"SHA-256 ([0-9a-f]{64})", made.body).group(1)
    assert "SHA-512 " in made.body and "SHA-1 " in made.body, made.body
    user.send_message(IRC, "settings")
    listing = await said(user, IRC, "client-certificate = a certificate with fingerprints")
    assert fingerprint in listing.body and "PRIVATE" not in listing.body, listing.body

    # The first connection with it: services do not know it yet, so SASL EXTERNAL fails and
    # the password logs in instead; the server sees the certificate.
    user.send_message(IRC, f"set nickserv-password {SEEDED_PASSWORD}")
    await said(user, IRC, "nickserv-password is now (set, not shown).")
    await relogin(user, watcher, SEEDED_ACCOUNT)
    await said(user, IRC, "SASL EXTERNAL failed", timeout=20)
    who = await wait_on_irc(watcher, SEEDED_ACCOUNT)
    assert who.get("330") is not None and who["330"].param(2) == SEEDED_ACCOUNT, sorted(who)
    assert "276" in who and fingerprint in who["276"].params[-1], who.get("276")

    # Registered with NickServ as an IRC user does it, from NickServ's own JID.
    user.send_message(contact("NickServ"), "CERT ADD")
    await said(user, contact("NickServ"), "Added fingerprint", timeout=15)

    # Without any password now: SASL EXTERNAL logs in to the account.
    user.send_message(IRC, "unset nickserv-password")
    await said(user, IRC, "nickserv-password is not set any more.")
    await relogin(user, watcher, SEEDED_ACCOUNT)
    who = await wait_on_irc(watcher, SEEDED_ACCOUNT, timeout=20)
    for _ in range(50):
        if "330" in who:
            break
        await asyncio.sleep(0.2)
        who = await watcher.whois(SEEDED_ACCOUNT)
    assert who.get("330") is not None and who["330"].param(2) == SEEDED_ACCOUNT, sorted(who)
    user.send_message(IRC, "connection")
    info = await said(user, IRC, f"logged in with SASL EXTERNAL as {SEEDED_ACCOUNT}")
    assert f"Client certificate: presented, SHA-256 fingerprint {fingerprint}." in info.body, info.body
    errors = [s for s in user.history if s.frm == IRC and s.type == "error"]
    assert not errors, errors
