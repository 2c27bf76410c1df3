"""Fixtures of the hostile-input suite: the parent's (Prosody, component-mode Pontoon,
connect), and for server mode the server tests' own (make_server, sconnect) with the IRC
servers of the IRC tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE.parent / "irc"))
sys.path.insert(0, str(HERE.parent / "server"))

from servers import inspircd, ngircd, raw_irc  # noqa: E402,F401  (fixtures)
from server_fixtures import make_server, sconnect  # noqa: E402,F401  (fixtures)
