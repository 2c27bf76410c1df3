"""A throwaway PostgreSQL for the end-to-end tests, through scripts/pg-test-server.

One server per pytest session (started on first use), one fresh database per test.
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from .util import REPO_ROOT, free_port

SCRIPT = REPO_ROOT / "scripts" / "pg-test-server"


class Postgres:
    def __init__(self):
        self.dir: Path | None = None
        self.url: str | None = None
        self._n = itertools.count(1)

    def start(self, timeout: float = 300.0) -> str:
        # Under /tmp: the postgres user must be able to reach the directory.
        self.dir = Path(tempfile.mkdtemp(prefix="pontoon-e2e-pg.", dir="/tmp"))
        self.url = self._start(free_port(), timeout)
        return self.url

    def _script(self, action: str, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess:
        """Runs `scripts/pg-test-server ACTION DIR ARGS...` on this server's directory."""
        return subprocess.run(["bash", str(SCRIPT), action, str(self.dir), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=timeout)

    def _start(self, port: int, timeout: float) -> str:
        """Starts (or starts again) the server in this directory on `port`; returns its URL."""
        cp = self._script("start", str(port), timeout=timeout)
        if cp.returncode != 0 or not cp.stdout.strip().startswith("postgres://"):
            raise RuntimeError(f"pg-test-server start failed ({cp.returncode}):\n{cp.stdout}\n{cp.stderr}")
        return cp.stdout.strip().splitlines()[-1]

    def new_database(self) -> str:
        """Creates an empty database and returns its URL."""
        assert self.url, "not started"
        name = f"e2e_{next(self._n)}"
        u = urlparse(self.url)
        psql = shutil.which("psql") or "psql"
        subprocess.run(
            [psql, "-X", "-q", "-h", u.hostname, "-p", str(u.port), "-U", u.username or "pontoon", "-d", "postgres",
             "-c", f"CREATE DATABASE {name}"],
            check=True, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
        )
        return urlunparse(u._replace(path=f"/{name}"))

    def pause(self) -> None:
        """Stops the server (pg_ctl -m fast), keeping its data for resume()."""
        assert self.dir is not None, "not started"
        cp = self._script("stop")
        if cp.returncode != 0:
            raise RuntimeError(f"pg-test-server stop failed ({cp.returncode}):\n{cp.stderr}")

    def resume(self, timeout: float = 60.0) -> None:
        """Starts the server paused by pause() again, on the same port."""
        assert self.dir is not None and self.url, "not started"
        self._start(urlparse(self.url).port, timeout)

    def stop(self) -> None:
        if self.dir is None:
            return
        self._script("stop")
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None
