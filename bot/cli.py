"""The `newsbot` command: `run` the bot, `poll` beside it, `db upgrade` the schema,
`sources ...` list and change the polled feeds."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from telegram.error import InvalidToken

from bot import sources_cli
from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging
from bot.store.db import Store, describe


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="newsbot", description="Tag-based news alerts on Telegram."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the bot (long polling) until SIGTERM or Ctrl-C")
    commands.add_parser(
        "poll",
        help="only poll feeds, beside a running bot on the same database, until SIGTERM",
    )
    db = commands.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: apply pending migrations")
    sources_cli.add_arguments(commands.add_parser("sources", help="list and change the feeds"))
    return parser


async def _with_store(settings: Settings, args: argparse.Namespace) -> None:
    """`db upgrade` and `sources ...`: a migrated store, one action, a line or table out."""
    store = Store(settings.database_url)
    try:
        await store.migrate()
        if args.command == "db":
            print(f"database {describe(settings.database_url)} is up to date")
        else:
            print(await sources_cli.run(store, args))
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings()
        secrets = [settings.token] if args.command in ("run", "poll") else []
    except ConfigError as exc:
        print(f"newsbot: {exc}", file=sys.stderr)
        return 2
    setup_logging(secrets)
    try:
        if args.command in ("run", "poll"):
            from bot.app import NewsBot, PollWorker, until_stopped

            part = NewsBot if args.command == "run" else PollWorker
            asyncio.run(until_stopped(part(settings)))
        else:
            asyncio.run(_with_store(settings, args))
    except (ConfigError, sources_cli.SourcesError) as exc:
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
