"""Fixtures of the server-mode end-to-end tests: Pontoon as the XMPP server itself (no
Prosody), clients over STARTTLS checking the certificate against the CA Pontoon generated,
and the IRC servers of the IRC tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "irc"))

from servers import inspircd, ngircd, raw_irc  # noqa: E402,F401  (fixtures)
from server_fixtures import IRC, make_server, sconnect  # noqa: E402,F401  (fixtures)
