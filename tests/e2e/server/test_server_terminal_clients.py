"""A person in an IRC channel with a real terminal client (profanity, poezio; in tmux),
logged in to Pontoon in server mode as nick@irc.localhost, against ngircd (issue 13). Both
clients check Pontoon's certificate against the CA Pontoon generated."""

from __future__ import annotations

from server_fixtures import IRC
from harness.terminal import ca_directory
from terminal_flows import poezio_in_a_room, profanity_in_a_room


def irc_options(ngircd) -> dict:
    return {"connect_host": "127.0.0.1", "connect_port": ngircd.port, "connect_timeout": 5}


async def test_profanity_talks_in_an_irc_channel(make_server, ngircd, raw_irc, profanity, tmp_path):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    prof = await profanity()
    cas = ca_directory(server.ca_path, tmp_path / "cas")
    await prof.connect(f"alice@{IRC}", "pw", server.c2s_port, tls="force", ca_dir=cas)
    await profanity_in_a_room(prof, bob, "#room", f"#room@{IRC}", "alice")


async def test_poezio_talks_in_an_irc_channel(make_server, ngircd, raw_irc, poezio):
    server = make_server(irc_options=irc_options(ngircd))
    bob = await raw_irc("rawbob")
    await bob.join("#room")
    client = await poezio(f"carl@{IRC}", "pw", server.c2s_port, ca_pem=server.ca_path)
    await poezio_in_a_room(client, bob, "#room", f"#room@{IRC}", "carl")
