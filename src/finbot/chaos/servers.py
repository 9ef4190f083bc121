"""Private PostgreSQL and Redis servers a chaos run owns, so it can stop and start them.

A chaos run never touches the servers other work uses: it makes a PostgreSQL cluster
(``initdb``) and a Redis server in a scratch directory, on free ports on 127.0.0.1, and
removes them afterwards. Redis keeps an append-only file there (fsync on every write, as a
production Redis that must not lose events would), so a stop and start keeps the streams.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis
from redis.exceptions import RedisError

from finbot.domain.errors import ConfigurationError

SERVER_USER = "postgres"


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's choice)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_BINARIES = {"initdb": "/usr/lib/postgresql/*/bin/initdb",
             "pg_ctl": "/usr/lib/postgresql/*/bin/pg_ctl", "redis-server": ""}


def missing() -> list[str]:
    """The server programs a chaos run needs that this machine lacks."""
    return [name for name, extra in _BINARIES.items() if _find(name, extra) is None]


def _find(name: str, extra: str) -> str | None:
    return shutil.which(name) or next(iter(sorted(glob.glob(extra), reverse=True)), None)


def _binary(name: str, *, extra: str = "") -> str:
    found = _find(name, extra or _BINARIES.get(name, ""))
    if found is None:
        raise ConfigurationError(
            f"a chaos run starts its own servers and needs {name!r} on PATH "
            f"(Debian: the postgresql and redis-server packages)", field=name)
    return found


class PrivatePostgres:
    """A PostgreSQL cluster in ``root`` on its own port; ``stop`` and ``start`` at will."""

    def __init__(self, root: Path) -> None:
        self.root = root / "pg"  # data, socket and server log; owned by the server's user
        self.data = self.root / "data"
        self.port = free_port()
        self._pg_ctl = _binary("pg_ctl")
        self._initdb = _binary("initdb")
        self._as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root: run it as its own user
            try:
                owner = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise ConfigurationError(
                    f"running as root, a chaos run starts PostgreSQL as the {SERVER_USER!r} "
                    "user, and there is none", field="postgres") from None
            self._as = [_binary("runuser"), "-u", SERVER_USER, "--"]
            self._owner = (owner.pw_uid, owner.pw_gid)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            if self._as:
                self.root.parent.chmod(0o755)  # the server's user reaches its directory
                os.chown(self.root, *self._owner)
            self._run([self._initdb, "-D", str(self.data), "-U", "postgres", "-A", "trust",
                       "--no-sync", "-E", "UTF8"])
        self._run([self._pg_ctl, "-D", str(self.data), "-l", str(self.root / "server.log"), "-w",
                   "-t", "60", "-o",
                   f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200", "start"])

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, in-flight transactions roll back."""
        self._run([self._pg_ctl, "-D", str(self.data), "-w", "-t", "60", "-m", "fast", "stop"])

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run([self._pg_ctl, "-D", str(self.data), "-w", "-m", "immediate", "stop"],
                      check=False)

    def _run(self, command: list[str], *, check: bool = True) -> None:
        done = subprocess.run(  # noqa: S603 - the server binaries found on PATH, no shell
            [*self._as, *command], capture_output=True, text=True, check=False,
            env={**os.environ, "LC_ALL": "C"})
        if check and done.returncode != 0:
            raise RuntimeError(f"{Path(command[0]).name} failed: {done.stderr.strip()}")


class PrivateRedis:
    """A Redis server in ``root`` on its own port, persisting to an append-only file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self._binary = _binary("redis-server")
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - redis-server from PATH, no shell
            [self._binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.root), "--appendonly", "yes", "--appendfsync", "always",
             "--save", "", "--daemonize", "no", "--logfile", str(self.root / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = Redis(port=self.port, socket_timeout=1)
        deadline = time.monotonic() + 30
        while True:
            try:
                client.ping()
                break
            except RedisError:
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.05)
            finally:
                client.close()

    def stop(self) -> None:
        """SIGTERM: Redis finishes its append-only file and exits."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=60)
            self._process = None

    def close(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=60)
            self._process = None
