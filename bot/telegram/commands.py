"""Telegram handlers: read what a person typed, check who may do it, call an action, answer.

No business logic lives here: every request goes through `bot.actions`, every sentence
comes from `bot.telegram.texts`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from html import escape

from telegram import Bot, BotCommand, Chat, Message, MessageEntity, Update
from telegram.constants import ParseMode
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import actions
from bot.delivery import buttons
from bot.delivery.limits import Pacer
from bot.ingest import Ingestor
from bot.store import queries
from bot.store.db import Store
from bot.telegram import targets, texts
from bot.telegram.permissions import ADMIN_STATUSES, may_change
from bot.vocabulary import Vocabulary

log = logging.getLogger(__name__)

Handler = Callable[[Update, ContextTypes.DEFAULT_TYPE], Awaitable[None]]


@dataclass(frozen=True)
class Place:
    """Where a command acts: the chat it was sent in (in a forum topic, `thread_id`), or the
    channel or group that chat manages (`target`, see /target)."""

    chat_id: int
    thread_id: int | None = None
    target: actions.ManagedChat | None = None

    @property
    def here(self) -> bool:
        return self.target is None


Command = Callable[[Message, Place], Awaitable[str]]  # returns the answer, as HTML


def required_argument(message: Message, usage: str) -> str:
    """The command's argument; without one, the usage line is the answer."""
    argument = command_argument(message)
    if not argument:
        raise actions.ActionError(usage)
    return argument


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
    vocabulary: Vocabulary
    ingestor: Ingestor
    allow_private_networks: bool
    search_templates: tuple[str, ...] = ()
    pacer: Pacer = field(default_factory=Pacer)

    def register(self, app: Application) -> None:
        guarded: dict[str, Command] = {
            "follow": self.follow,
            "unfollow": self.unfollow,
            "addsource": self.addsource,
            "removesource": self.removesource,
            "alias": self.alias,
            "unalias": self.unalias,
            "digest": self.settings_command("digest", texts.DIGEST_USAGE),
            "timezone": self.settings_command("timezone", texts.TIMEZONE_USAGE),
            "quiet": self.settings_command("quiet", texts.QUIET_USAGE),
        }
        open_to_all: dict[str, Command] = {
            "list": self.list_tags,
            "latest": self.latest,
            "settings": self.show_settings,
            "sources": self.list_sources,
        }
        app.add_handler(TypeHandler(Update, self.remember_chat), group=-1)
        # New messages and channel posts (a channel's admins post as the channel); edits of
        # an old command are not run again.
        fresh = filters.UpdateType.MESSAGE | filters.UpdateType.CHANNEL_POST
        for name in ("start", "help"):
            app.add_handler(CommandHandler(name, self.show_help, filters=fresh))
        app.add_handler(CommandHandler("target", self._answers_errors(self.target), filters=fresh))
        for name, command in open_to_all.items():
            app.add_handler(CommandHandler(name, self._acting(command), filters=fresh))
        for name, command in guarded.items():
            handler = self._acting(command, guarded=True)
            app.add_handler(CommandHandler(name, handler, filters=fresh))
        app.add_handler(CallbackQueryHandler(self.button))
        app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, self.migrated))
        app.add_handler(MessageHandler(filters.COMMAND, self._answers_errors(self.unknown)))

    @staticmethod
    def menu() -> list[BotCommand]:
        """The command menu Telegram shows beside the text field."""
        return [BotCommand(name, description) for name, description in texts.COMMANDS]

    # --- wrappers --------------------------------------------------------------------

    async def remember_chat(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """Any update from a chat: remember it, and reactivate it (it is talking to us).

        Not a change of the bot's own membership: being removed is not talking to us.
        """
        chat = update.effective_chat
        if chat is not None and update.my_chat_member is None:
            async with self.store.transaction() as session:
                await queries.touch_chat(session, chat.id, chat.type, chat.title or chat.full_name)

    def _answers_errors(self, handler: Handler) -> Handler:
        """Answer a request that cannot be done with the reason."""

        async def wrapped(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            try:
                await handler(update, context)
            except actions.ActionError as exc:
                await self._reply(update, escape(str(exc)))

        return wrapped

    def _acting(self, command: Command, guarded: bool = False) -> Handler:
        """Run a command where it acts (see `_place`) and answer with its outcome, led by
        the /target's name when there is one. In groups, guarded commands are for
        administrators (see permissions); on a target, every command is for its admins."""

        async def handler(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            message = update.effective_message
            try:
                place = await self._place(context.bot, message)
            except actions.ActionError as exc:  # no longer allowed to manage the target
                await self._reply(update, escape(str(exc)))
                return
            try:
                if guarded and place.here and not await may_change(context.bot, message):
                    answer = escape(texts.ADMINS_ONLY)
                else:
                    answer = await command(message, place)
            except actions.ActionError as exc:
                answer = escape(str(exc))
            await self._reply(update, texts.acting_on(place.target, answer))

        return handler

    async def _place(self, bot: Bot, message: Message) -> Place:
        """The chat a command acts on: a private chat's /target while its user still
        administers it, else the chat itself (into the forum topic it was sent in)."""
        chat = message.chat
        target = await actions.target(self.store, chat.id) if chat.type == Chat.PRIVATE else None
        if target is None:
            topic = message.message_thread_id if message.is_topic_message else None
            return Place(chat.id, thread_id=topic)
        await targets.recheck(bot, target, message.from_user.id)
        return Place(target.id, target=target)

    async def _reply(self, update: Update, html_text: str) -> None:
        """Answer in the chat, in as many messages as Telegram's length limit needs.

        A person waits for the answer, so it goes at once; but Telegram counts it against
        the chat's limit, so the chat's next alert waits its turn after it.
        """
        chat = update.effective_chat
        for part in texts.split_message(html_text):
            self.pacer.note_send(chat.id)
            await update.effective_message.reply_text(
                part, parse_mode=ParseMode.HTML, do_quote=False
            )

    # --- commands --------------------------------------------------------------------

    async def show_help(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await self._reply(update, texts.HELP)

    async def target(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """/target @channel, /target off, or /target alone: which chat this one manages."""
        message = update.effective_message
        if message.chat.type != Chat.PRIVATE:
            raise actions.ActionError(texts.TARGET_PRIVATE_ONLY)
        argument = command_argument(message)
        if not argument:
            answer = texts.target_shown(await actions.target(self.store, message.chat.id))
        elif argument.lower() == "off":
            answer = texts.target_cleared(await actions.clear_target(self.store, message.chat.id))
        else:
            chosen = await targets.choose(context.bot, argument, message.from_user.id)
            await actions.set_target(self.store, message.chat.id, chosen)
            answer = texts.target_set(chosen)
        await self._reply(update, answer)

    async def follow(self, message: Message, place: Place) -> str:
        argument = required_argument(message, texts.FOLLOW_USAGE)
        aliases = await self.vocabulary.table()
        change = await actions.follow(
            self.store,
            place.chat_id,
            argument,
            aliases,
            thread_id=place.thread_id,
            search_templates=self.search_templates,
        )
        return texts.followed(change, aliases, here=place.here)

    async def unfollow(self, message: Message, place: Place) -> str:
        argument = required_argument(message, texts.UNFOLLOW_USAGE)
        aliases = await self.vocabulary.table()
        change = await actions.unfollow(self.store, place.chat_id, argument, aliases)
        return texts.unfollowed(change)

    async def list_tags(self, message: Message, place: Place) -> str:
        snapshot = await self.vocabulary.snapshot()
        tags = await actions.chat_tags(self.store, place.chat_id, snapshot.table)
        return texts.tag_list(tags, snapshot.table, snapshot.for_chat(place.chat_id))

    async def latest(self, message: Message, place: Place) -> str:
        argument = required_argument(message, texts.LATEST_USAGE)
        aliases = await self.vocabulary.table()
        tag, found = await actions.latest(self.store, place.chat_id, argument, aliases)
        return texts.latest(tag, found)

    async def alias(self, message: Message, place: Place) -> str:
        argument = command_argument(message)
        if not argument:
            snapshot = await self.vocabulary.snapshot()
            return texts.chat_aliases(snapshot.for_chat(place.chat_id))
        tag, name, added = await actions.add_alias(self.store, place.chat_id, argument)
        return texts.alias_added(tag, name, added)

    async def unalias(self, message: Message, place: Place) -> str:
        argument = required_argument(message, actions.ALIAS_USAGE)
        tag, name, removed = await actions.remove_alias(self.store, place.chat_id, argument)
        return texts.alias_removed(tag, name, removed)

    async def addsource(self, message: Message, place: Place) -> str:
        argument = required_argument(message, texts.ADDSOURCE_USAGE)
        added = await actions.add_source(
            self.store,
            self.ingestor,
            place.chat_id,
            argument,
            allow_private=self.allow_private_networks,
        )
        return texts.source_added(added.url, added.items, here=place.here)

    def settings_command(self, setting: str, usage: str) -> Command:
        """/digest, /timezone or /quiet: change one delivery setting and show them all."""

        async def change(message: Message, place: Place) -> str:
            argument = required_argument(message, usage)
            plan = await actions.change_settings(self.store, place.chat_id, setting, argument)
            return texts.settings(plan)

        return change

    async def show_settings(self, message: Message, place: Place) -> str:
        return texts.settings(await actions.chat_plan(self.store, place.chat_id))

    async def button(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        """A press on an alert's button: it acts only on the chat it was pressed in."""
        query = update.callback_query
        request = buttons.parse(query.data)
        message = query.message
        if request is None or message is None:
            await query.answer("This button no longer works.")
            return
        chat = message.chat
        if chat.type != chat.PRIVATE:
            member = await chat.get_member(query.from_user.id)
            if member.status not in ADMIN_STATUSES:
                await query.answer(texts.ADMINS_ONLY, show_alert=True)
                return
        await query.answer(await actions.press(self.store, chat.id, request))

    async def list_sources(self, message: Message, place: Place) -> str:
        own, shared = await actions.chat_sources(self.store, place.chat_id)
        return texts.sources(own, shared)

    async def removesource(self, message: Message, place: Place) -> str:
        argument = required_argument(message, texts.REMOVESOURCE_USAGE)
        url = await actions.remove_source(self.store, place.chat_id, argument)
        return texts.source_removed(url)

    async def unknown(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        command = (message.text or "").split()[0]
        name, _, addressee = command.partition("@")
        if (
            message.chat.type != "private"
            and addressee.lower() != (context.bot.username or "").lower()
        ):
            return  # a command for another bot in a group: not ours to answer
        await self._reply(update, texts.unknown_command(name))

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
