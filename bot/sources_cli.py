"""`newsbot sources ...`: the operator's view of every source, from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.sources.guard import UnsafeURLError, check_url
from bot.sources.opml import OpmlSource, read_opml, write_opml
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Source


def add_arguments(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every source with its kind and health")
    add = actions.add_parser("add", help="poll a feed for every chat")
    add.add_argument("url")
    add.add_argument("--title", default="")
    remove = actions.add_parser("remove", help="stop polling a feed for every chat")
    remove.add_argument("url")
    imported = actions.add_parser("import", help="add every feed of an OPML file")
    imported.add_argument("file", type=Path)
    actions.add_parser("export", help="print the sources for every chat as OPML")


class SourcesError(Exception):
    """A sources command could not be done; the message says why."""


async def run(store: Store, args: argparse.Namespace) -> str:
    """Carry out one `newsbot sources` action; returns what to print."""
    async with store.transaction() as session:
        if args.action == "list":
            return _table(await queries.all_sources(session))
        if args.action == "export":
            rows = [s for s in await queries.all_sources(session) if s.operator]
            return write_opml(OpmlSource(url=s.url, title=s.title or s.url) for s in rows)
        if args.action == "import":
            try:
                feeds = read_opml(args.file)
            except (OSError, ValueError) as exc:
                raise SourcesError(f"cannot import {args.file}: {exc}") from None
            added = [
                f.url
                for f in feeds
                if await queries.add_operator_source(session, _checked(f.url), f.title, "cli")
            ]
            return f"imported {len(added)} new of {len(feeds)} feeds from {args.file}"
        url = _checked(args.url)
        if args.action == "add":
            added = await queries.add_operator_source(session, url, args.title or url, "cli")
            return f"added {url}" if added else f"{url} was already polled for every chat"
        removed = await queries.remove_operator_source(session, url)
        return f"removed {url}" if removed else f"{url} is not polled for every chat"


def _checked(url: str) -> str:
    """Operators may add private addresses, but only http(s) URLs make sense."""
    try:
        return check_url(url)
    except UnsafeURLError as exc:
        raise SourcesError(f"{url}: {exc}") from None


def _table(sources: list[Source]) -> str:
    if not sources:
        return "no sources"
    lines = [f"{'id':>5}  {'kind':<7} {'health':<28} url"]
    for source in sources:
        kind = "all" if source.operator else source.added_by
        lines.append(f"{source.id:>5}  {kind:<7} {source.health():<28.28} {source.url}")
    return "\n".join(lines)
