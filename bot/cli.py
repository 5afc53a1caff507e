"""The `newsbot` command: `run` the bot, or `db upgrade` the schema."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from telegram.error import InvalidToken

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.store.db import Store, describe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Tag-based news alerts on Telegram."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (long polling) until SIGTERM or Ctrl-C")
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply pending migrations")
    return parser


async def _upgrade(settings: Settings) -> None:
    store = Store(settings.database_url)
    try:
        await store.migrate()
    finally:
        await store.close()
    print(f"database {describe(settings.database_url)} is up to date")


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        secrets = [settings.token] if args.command == "run" else []
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    setup_logging(secrets)
    try:
        if args.command == "run":
            from bot.app import run

            asyncio.run(run(settings))
        else:
            asyncio.run(_upgrade(settings))
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    except InvalidToken:
        print(
            "newsbot: Telegram rejected TELEGRAM_BOT_TOKEN; copy it again from @BotFather",
            file=sys.stderr,
        )
        return 2
    except Exception:
        logging.getLogger("newsbot").exception("newsbot stopped on an error")
        return 1
    return 0
