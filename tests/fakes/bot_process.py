"""`newsbot run` as a subprocess, started, stopped and killed the way an operator would."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


class BotProcess:
    """The installed `newsbot` command in `workdir` (so no .env from the checkout is read);
    every run appends to one log file."""

    def __init__(self, env: dict[str, str], workdir: Path) -> None:
        self.env, self.workdir = env, workdir
        self.log = workdir / "newsbot.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [str(Path(sys.executable).with_name("newsbot")), "run"],
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def stop(self, signum: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send `signum` and wait for the exit; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signum)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up."""
        self.stop(signal.SIGKILL, timeout=30)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def close(self) -> None:
        """After a test: make sure no bot is left running."""
        if self.alive():
            self.kill()

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else "(no log)"

    def tail(self, chars: int = 6000) -> str:
        return self.logs()[-chars:]
