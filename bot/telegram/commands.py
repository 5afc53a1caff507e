"""Telegram handlers: read what a person typed, check who may do it, call the core, answer.

No business logic lives here: tags come from `bot.core.tags`, storage from
`bot.store.queries`, and polling a new source from the `Ingestor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from html import escape

from telegram import BotCommand, Message, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CommandHandler, ContextTypes, MessageHandler, filters

from bot.core.aliases import AliasTable
from bot.core.formatting import format_article_line
from bot.core.matching import TagIndex
from bot.core.tags import Tag, TagError, make_tag, split_tags
from bot.delivery.sender import to_value
from bot.ingest import Ingestor
from bot.sources.guard import UnsafeURLError, check_public, check_url
from bot.store import queries
from bot.store.db import Store
from bot.telegram import texts
from bot.telegram.permissions import may_change

log = logging.getLogger(__name__)

LATEST_COUNT = 5
LATEST_SCAN = 1000  # how many recent stories /latest looks through


def command_argument(message: Message) -> str:
    """Everything after the command word, new lines kept (context.args would lose them)."""
    text = message.text or ""
    for entity in message.entities:
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            return text[entity.length :].strip()
    return text.partition(" ")[2].strip()


@dataclass
class Commands:
    """The chat commands, bound to the services they use (no globals)."""

    store: Store
    aliases: AliasTable
    ingestor: Ingestor
    allow_private_networks: bool

    def register(self, app: Application) -> None:
        guarded = {
            "follow": self.follow,
            "unfollow": self.unfollow,
            "addsource": self.addsource,
        }
        open_to_all = {
            "start": self.help,
            "help": self.help,
            "list": self.list,
            "latest": self.latest,
        }
        for name, handler in open_to_all.items():
            app.add_handler(CommandHandler(name, self._tracked(handler)))
        for name, handler in guarded.items():
            app.add_handler(CommandHandler(name, self._tracked(self._admins_only(handler))))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self.migrated))
        app.add_handler(MessageHandler(filters.COMMAND, self._tracked(self.unknown)))

    @staticmethod
    def menu() -> list[BotCommand]:
        return [BotCommand(name, description) for name, description in texts.COMMANDS]

    # --- wrappers --------------------------------------------------------------------

    def _tracked(self, handler):
        """Remember the chat (and reactivate it: it is talking to us) before handling."""

        async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            chat = update.effective_chat
            if chat is not None:
                async with self.store.transaction() as session:
                    await queries.touch_chat(
                        session, chat.id, chat.type, chat.title or chat.full_name
                    )
            await handler(update, context)

        return wrapped

    @staticmethod
    def _admins_only(handler):
        async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            if message is None:
                return
            if not await may_change(context.bot, message):
                await message.reply_text(texts.ADMINS_ONLY)
                return
            await handler(update, context)

        return wrapped

    # --- commands --------------------------------------------------------------------

    async def help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await _reply(update, texts.HELP)

    async def follow(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        names = split_tags(command_argument(update.effective_message))
        if not names:
            await _reply(update, escape(texts.FOLLOW_USAGE))
            return
        tags, errors = self._parse_tags(names)
        async with self.store.transaction() as session:
            added = await queries.follow(session, update.effective_chat.id, tags)
        added_keys = {t.key for t in added}
        already = [t for t in tags if t.key not in added_keys]
        await _reply(update, texts.followed(added, already, errors, self.aliases))

    async def unfollow(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        names = split_tags(command_argument(update.effective_message))
        if not names:
            await _reply(update, escape(texts.UNFOLLOW_USAGE))
            return
        tags, errors = self._parse_tags(names)
        async with self.store.transaction() as session:
            removed = await queries.unfollow(
                session, update.effective_chat.id, [t.key for t in tags]
            )
        text = texts.unfollowed(
            [t.name for t in tags if t.key in removed],
            [t.name for t in tags if t.key not in removed],
        )
        await _reply(update, "\n".join([text, *map(escape, errors)]).strip())

    async def list(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        async with self.store.transaction() as session:
            follows = await queries.chat_follows(session, update.effective_chat.id)
        tags, _errors = self._parse_tags([f.tag_name for f in follows])
        await _reply(
            update, texts.tag_list(tags, self.aliases) if tags else escape(texts.NOTHING_FOLLOWED)
        )

    async def latest(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        argument = command_argument(update.effective_message)
        if not argument:
            await _reply(update, escape(texts.LATEST_USAGE))
            return
        try:
            tag = make_tag(argument, self.aliases)
        except TagError as exc:
            await _reply(update, escape(str(exc)))
            return
        index = TagIndex([tag])
        async with self.store.transaction() as session:
            recent = await queries.recent_articles(session, LATEST_SCAN)
        hits = [row for row in recent if index.match(to_value(row))][:LATEST_COUNT]
        if not hits:
            await _reply(update, f"No stored articles match {escape(tag.name)} yet.")
            return
        lines = [format_article_line(to_value(row)) for row in hits]
        await _reply(update, f"Latest for <b>{escape(tag.name)}</b>:\n" + "\n".join(lines))

    async def addsource(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        argument = command_argument(update.effective_message)
        if not argument:
            await _reply(update, escape(texts.ADDSOURCE_USAGE))
            return
        try:
            url = check_url(argument)
            if not self.allow_private_networks:
                await check_public(url)
        except UnsafeURLError as exc:
            await _reply(update, escape(str(exc)))
            return
        chat_id = update.effective_chat.id
        async with self.store.transaction() as session:
            created = await queries.add_chat_source(session, chat_id, url, title=url)
            source = await queries.source_by_url(session, url)
        if not created:
            await _reply(update, "This chat already has that source.")
            return
        report = await self.ingestor.poll(source.id)
        if report.error:
            async with self.store.transaction() as session:
                await queries.remove_chat_source(session, chat_id, source.id)
            await _reply(update, f"I could not use that feed: {escape(report.error)}")
            return
        await _reply(
            update,
            f"Added {escape(url)}: it lists {report.items} "
            f"{'article' if report.items == 1 else 'articles'} now. New ones that match this "
            "chat's tags will be posted here.",
        )

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        command = (message.text or "").split()[0]
        name, _, addressee = command.partition("@")
        if (
            message.chat.type != "private"
            and addressee.lower() != (context.bot.username or "").lower()
        ):
            return  # a command for another bot in a group: not ours to answer
        await _reply(update, texts.unknown_command(name))

    async def migrated(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group became a supergroup: its tags, sources and pending alerts move along."""
        message = update.effective_message
        old, new = message.migrate_from_chat_id, message.migrate_to_chat_id
        if old is None and new is not None:
            old, new = message.chat.id, new
        elif old is not None:
            new = message.chat.id
        else:
            return
        async with self.store.transaction() as session:
            await queries.touch_chat(session, old, "group", message.chat.title)
            await queries.migrate_chat(session, old, new)

    def _parse_tags(self, names: list[str]) -> tuple[list[Tag], list[str]]:
        tags, errors = [], []
        for name in names:
            try:
                tags.append(make_tag(name, self.aliases))
            except TagError as exc:
                errors.append(str(exc))
        return tags, errors


async def _reply(update: Update, html_text: str) -> None:
    await update.effective_message.reply_text(
        html_text,
        parse_mode=ParseMode.HTML,
        do_quote=False,
    )
