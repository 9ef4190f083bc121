"""Worker processes of a chaos run: ``finbot worker ROLE`` copies that can be killed with
SIGKILL at any moment and started again, as a crashed container would be restarted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


def finbot_command() -> list[str]:
    """The ``finbot`` script beside this interpreter (a virtualenv's), else the same entry
    point run by this interpreter."""
    script = Path(sys.executable).with_name("finbot")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from finbot.entrypoints.cli.app import main; main()"]


@dataclass
class Worker:
    role: str
    copy: int
    log: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def name(self) -> str:
        return f"{self.role}-{self.copy}"

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class Fleet:
    """``copies`` processes of each role, sharing their consumer groups."""

    roles: tuple[str, ...]
    copies: int
    env: dict[str, str]
    logs: Path
    workers: list[Worker] = field(default_factory=list)
    _files: list[IO[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workers = [Worker(role, n, self.logs / f"{role}-{n}.log")
                        for role in self.roles for n in range(self.copies)]

    def start_all(self) -> None:
        for worker in self.workers:
            self.start(worker)

    def start(self, worker: Worker) -> None:
        log = worker.log.open("ab")
        self._files.append(log)
        worker.process = subprocess.Popen(  # noqa: S603 - our own command, no shell
            [*finbot_command(), "worker", worker.role],
            env=self.env, stdout=log, stderr=subprocess.STDOUT)
        worker.starts += 1

    def kill(self, worker: Worker) -> None:
        """SIGKILL: no handler runs, whatever the process held is left where it was."""
        if worker.process is not None and worker.alive():
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait(timeout=30)

    def dead(self) -> list[Worker]:
        """Workers that exited although nobody killed them (a crash is a finding)."""
        return [w for w in self.workers if w.process is not None and not w.alive()]

    def stop(self, *, timeout_s: float = 60.0) -> dict[str, int | None]:
        """SIGTERM every worker and wait: each finishes or releases its work; exit codes
        by worker (None: it had to be killed after ``timeout_s``)."""
        for worker in self.workers:
            if worker.alive():
                assert worker.process is not None
                worker.process.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + timeout_s
        for worker in self.workers:
            if worker.process is None:
                continue
            try:
                codes[worker.name] = worker.process.wait(
                    timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
                codes[worker.name] = None
        for log in self._files:
            log.close()
        self._files.clear()
        return codes

    def work(self) -> dict[str, dict[str, int]]:
        """What each worker's last run did, as it reported when stopped (``finbot worker``
        prints ``stopped; done: <loop> <count>, ...``): the share of the load each copy took."""
        found: dict[str, dict[str, int]] = {}
        for worker in self.workers:
            text = worker.log.read_text(errors="replace") if worker.log.exists() else ""
            reports = [line for line in text.splitlines() if "stopped; done:" in line]
            if reports:
                counts = reports[-1].split("stopped; done:", 1)[1].split(",")
                found[worker.name] = {name: int(n) for name, _, n in
                                      (c.strip().rpartition(" ") for c in counts)
                                      if n.isdigit()}
        return found

    def tail(self, worker: Worker, *, lines: int = 20) -> str:
        text = worker.log.read_text(errors="replace") if worker.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])
