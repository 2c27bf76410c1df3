"""Registrations on a user's behalf follow the IRC transport's rules in force (its stored
options: here `allowed_networks`), whichever interface makes them: the command line as the
console, the API, the ad-hoc command and in-band registration (one operations layer,
`pontoon_core::ops`, issue 14)."""

from __future__ import annotations


async def test_cli_registration_follows_allowed_networks(make_irc_pontoon):
    pontoon = make_irc_pontoon({"allowed_networks": ["irc.example.net"], "connect_timeout": 2})
    refused = await pontoon.cli_async("register", "user1@localhost", "irc", "--username", "bob",
                                      "--option", "network=evil.example.org", check=False)
    assert refused.returncode != 0, refused
    assert "connecting to evil.example.org is not allowed on this gateway" in refused.stderr, refused.stderr
    await pontoon.cli_async("register", "user1@localhost", "irc", "--username", "bob",
                            "--option", "network=irc.example.net")
    listed = (await pontoon.cli_async("registrations", "list", "--transport", "irc")).stdout
    assert "user1@localhost" in listed and "bob" in listed, listed
    # Adding is adding: an existing registration is edited, not silently replaced.
    again = await pontoon.cli_async("register", "user1@localhost", "irc", "--username", "carol",
                                    "--option", "network=irc.example.net", check=False)
    assert again.returncode != 0 and "already registered" in again.stderr, again.stderr
    # The same rule when editing.
    edit = await pontoon.cli_async("registrations", "edit", "user1@localhost", "irc",
                                   "--option", "network=evil.example.org", check=False)
    assert edit.returncode != 0 and "not allowed" in edit.stderr, edit.stderr
