"""Logging set-up that keeps the bot token out of every line.

The token travels inside Bot API URLs (`/bot<token>/sendMessage`), so it can surface in
httpx's request log, in exception texts and in tracebacks. The redaction runs on the final
formatted line, which covers all three; httpx's per-request INFO log is silenced as well.
"""

from __future__ import annotations

import logging
import sys


class RedactingFormatter(logging.Formatter):
    """A formatter that replaces each secret with a placeholder in the finished line."""

    def __init__(self, fmt: str, secrets: list[str]) -> None:
        super().__init__(fmt)
        self._secrets = [s for s in secrets if s]

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        for secret in self._secrets:
            line = line.replace(secret, "[REDACTED]")
        return line


def setup_logging(secrets: list[str], level: int = logging.INFO, label: str = "") -> None:
    """Send logs to stderr through the redacting formatter; quiet the request loggers.

    `label` marks every line, for processes that share a log (the poll processes).
    """
    handler = logging.StreamHandler(sys.stderr)
    where = f"[{label}] " if label else ""
    handler.setFormatter(
        RedactingFormatter(f"%(asctime)s %(levelname)s {where}%(name)s: %(message)s", secrets)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings, too, pass through the redacting formatter
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
