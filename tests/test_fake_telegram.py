"""The Telegram emulator speaks the Bot API well enough for the real PTB client to use it."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from telegram import (
    Bot,
    BotCommand,
    ChatMemberAdministrator,
    ChatMemberLeft,
    ChatMemberMember,
    ChatMemberOwner,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    MessageEntity,
    Update,
)
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

from tests.fakes.telegram_api import GROUP_ANONYMOUS_BOT, RateLimits, TelegramEmulator

TOKEN = "123456:TEST-token"
BOT_USERNAME = "newsbot_test_bot"
GROUP = -1001234567890
OTHER_GROUP = -1009876543210
CHANNEL = -1005555555555
OWNER, ADMIN, ALICE, BOB = 101, 102, 201, 202


@pytest.fixture
def api() -> Iterator[TelegramEmulator]:
    with TelegramEmulator(TOKEN, BOT_USERNAME) as emulator:
        emulator.add_user(ALICE, "Alice", username="alice")
        emulator.add_user(BOB, "Bob")
        emulator.add_chat(
            GROUP, "supergroup", title="News", admins={OWNER: "creator", ADMIN: "administrator"}
        )
        emulator.add_chat(OTHER_GROUP, "supergroup", title="Other")
        yield emulator


@pytest.fixture
async def bot(api: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(TOKEN, base_url=api.base_url) as client:
        yield client


def raw_post(
    api: TelegramEmulator, path: str, body: bytes = b"", content_type: str | None = None
) -> tuple[int, dict[str, Any]]:
    """Plain HTTP, to check the wire format independently of PTB."""
    request = urllib.request.Request(f"{api.root_url}{path}", data=body, method="POST")
    if content_type:
        request.add_header("Content-Type", content_type)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


async def test_get_me_parses_as_the_bot_user(bot: Bot) -> None:
    me = await bot.get_me()

    assert me.id == 123456
    assert me.is_bot
    assert me.username == BOT_USERNAME
    assert me.can_join_groups is True
    assert me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False


async def test_send_message_round_trips_html_and_inline_keyboard(
    api: TelegramEmulator, bot: Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Unsubscribe", callback_data="u:7")]])

    message = await bot.send_message(
        GROUP,
        '<b>Breaking</b> &amp; <a href="https://example.com/a">more</a>',
        parse_mode=ParseMode.HTML,
        reply_markup=keyboard,
        message_thread_id=5,
    )

    assert message.text == "Breaking & more"
    assert message.chat.id == GROUP
    assert message.from_user is not None and message.from_user.username == BOT_USERNAME
    assert message.reply_markup == keyboard
    bold, link = message.entities
    assert (bold.type, bold.offset, bold.length) == (MessageEntity.BOLD, 0, 8)
    assert (link.type, link.offset, link.length) == (MessageEntity.TEXT_LINK, 11, 4)
    assert link.url == "https://example.com/a"
    [sent] = api.sent_messages(GROUP)
    assert sent.message_id == message.message_id
    assert sent.text.startswith("<b>Breaking</b>")
    assert sent.plain_text == "Breaking & more"
    assert sent.parse_mode == "HTML"
    assert sent.reply_markup == keyboard.to_dict()
    assert sent.message_thread_id == 5
    second = await bot.send_message(GROUP, "again")
    assert second.message_id == message.message_id + 1


async def test_long_poll_returns_a_pushed_command_as_soon_as_it_arrives(
    api: TelegramEmulator, bot: Bot
) -> None:
    def user_sends_command() -> None:
        api.wait_for(lambda: api.calls_to("getUpdates"), what="the bot to start polling")
        api.send_message(GROUP, f"/start@{BOT_USERNAME} now", from_user=ALICE)

    started = time.monotonic()
    updates, _ = await asyncio.gather(
        bot.get_updates(timeout=10), asyncio.to_thread(user_sends_command)
    )

    assert time.monotonic() - started < 5
    [update] = updates
    message = update.message
    assert message is not None and message.text == f"/start@{BOT_USERNAME} now"
    assert message.from_user is not None and message.from_user.id == ALICE
    assert message.chat.type == "supergroup"
    [entity] = message.entities
    assert entity.type == MessageEntity.BOT_COMMAND
    assert (entity.offset, entity.length) == (0, len(f"/start@{BOT_USERNAME}"))


async def test_long_poll_returns_empty_after_its_timeout(bot: Bot) -> None:
    started = time.monotonic()

    updates = await bot.get_updates(timeout=dtm.timedelta(seconds=0.3))

    assert updates == ()
    assert time.monotonic() - started >= 0.25


async def test_offset_confirms_earlier_updates_and_limit_caps_the_batch(
    api: TelegramEmulator, bot: Bot
) -> None:
    ids = [api.send_message(GROUP, f"/news {n}", from_user=ALICE) for n in range(3)]

    assert [u.update_id for u in await bot.get_updates(limit=2)] == ids[:2]
    assert [u.update_id for u in await bot.get_updates(offset=ids[1])] == ids[1:]
    assert await bot.get_updates(offset=ids[2] + 1) == ()
    assert api.pending_updates() == []


async def test_a_second_poller_ends_the_first_with_conflict(
    api: TelegramEmulator, bot: Bot
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.to_thread(api.wait_for, lambda: api.calls_to("getUpdates"))

    async with Bot(TOKEN, base_url=api.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()

    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_wrong_token_is_unauthorized(api: TelegramEmulator) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with Bot("999:wrong", base_url=api.base_url):  # initialize() calls getMe
            pass
    assert api.calls == []


def test_http_errors_are_telegram_shaped(api: TelegramEmulator) -> None:
    assert raw_post(api, "/bot999:wrong/getMe") == (
        401,
        {"ok": False, "error_code": 401, "description": "Unauthorized"},
    )
    assert raw_post(api, f"/bot{TOKEN}/sendSticker") == (
        404,
        {"ok": False, "error_code": 404, "description": "Not Found"},
    )
    status, body = raw_post(api, f"/bot{TOKEN}/SENDMESSAGE", b"text=hi", "text/plain")
    assert (status, body["description"]) == (400, "Bad Request: chat_id is empty")
    status, body = raw_post(api, f"/bot{TOKEN}/sendMessage?chat_id=42&text=hi")
    assert (status, body["description"]) == (400, "Bad Request: chat not found")
    assert [call.method for call in api.calls] == ["sendSticker", "sendMessage", "sendMessage"]


def test_form_multipart_and_json_bodies_are_decoded(api: TelegramEmulator) -> None:
    markup = {"inline_keyboard": [[{"text": "Open", "url": "https://example.com"}]]}
    boundary = "xyzzy"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n{GROUP}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="text"\r\n\r\nline 1\nl\u00e9 2\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="reply_markup"\r\n\r\n'
        f"{json.dumps(markup)}\r\n--{boundary}--\r\n"
    ).encode()
    as_json = json.dumps({"chat_id": str(GROUP), "text": "123", "disable_notification": True})

    status, _ = raw_post(
        api, f"/bot{TOKEN}/sendMessage", multipart, f"multipart/form-data; boundary={boundary}"
    )
    assert status == 200
    status, _ = raw_post(api, f"/bot{TOKEN}/sendMessage", as_json.encode(), "application/json")
    assert status == 200

    from_multipart, from_json = api.sent_messages(GROUP)
    assert from_multipart.text == "line 1\nl\u00e9 2"
    assert from_multipart.reply_markup == markup
    assert from_json.text == "123"
    assert from_json.params["disable_notification"] is True


async def test_injected_429_raises_retry_after(
    api: TelegramEmulator, bot: Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # read retry_after without a deprecation warning
    api.fail_next("sendMessage", 429, retry_after=3)

    with pytest.raises(RetryAfter) as raised:
        await bot.send_message(GROUP, "hello")

    assert raised.value.retry_after == dtm.timedelta(seconds=3)
    await bot.send_message(GROUP, "hello")  # the fault was used up
    assert [m.text for m in api.sent_messages()] == ["hello"]


async def test_a_chat_told_to_retry_later_is_refused_until_then(
    api: TelegramEmulator, bot: Bot
) -> None:
    """With limits enforced, sending or editing before retry_after has passed is a violation."""
    api.enforce_limits(RateLimits(per_chat_interval=0))
    sent = await bot.send_message(GROUP, "before")
    api.fail_next("sendMessage", 429, retry_after=1, chat_id=GROUP)
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "told to wait")
    assert api.violations == []  # the 429 itself was Telegram's doing
    with pytest.raises(RetryAfter):
        await bot.send_message(GROUP, "too soon")
    with pytest.raises(RetryAfter):
        await bot.edit_message_text("too soon", GROUP, sent.message_id)
    await bot.send_message(OTHER_GROUP, "another chat may go on")
    assert api.violations == [f"retry_after ignored in chat {GROUP}"] * 2
    await asyncio.sleep(1.1)  # the wait is over
    await bot.edit_message_text("after the wait", GROUP, sent.message_id)
    assert [m.text for m in api.sent_messages()] == ["before", "another chat may go on"]


async def test_injected_faults_map_to_ptb_errors(api: TelegramEmulator, bot: Bot) -> None:
    api.fail_next("sendMessage", 400, migrate_to_chat_id=-100555)
    api.fail_next("sendMessage", 403, chat_id=OTHER_GROUP)
    api.fail_next("getChat", 500, count=2)

    with pytest.raises(ChatMigrated) as migrated:
        await bot.send_message(GROUP, "x")
    assert migrated.value.new_chat_id == -100555
    await bot.send_message(GROUP, "not for OTHER_GROUP, so unaffected")
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(OTHER_GROUP, "x")
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.get_chat(GROUP)
    assert (await bot.get_chat(GROUP)).title == "News"


async def test_blocked_chat_is_forbidden_until_unblocked(api: TelegramEmulator, bot: Bot) -> None:
    api.block_chat(GROUP)

    with pytest.raises(Forbidden, match="bot was kicked from the supergroup chat"):
        await bot.send_message(GROUP, "x")
    api.unblock_chat(GROUP)
    await bot.send_message(GROUP, "x")

    assert len(api.sent_messages(GROUP)) == 1


async def test_text_length_is_checked_after_entity_parsing(bot: Bot) -> None:
    await bot.send_message(GROUP, f"<b>{'x' * 4096}</b>", parse_mode=ParseMode.HTML)

    with pytest.raises(BadRequest, match="Message is too long"):
        await bot.send_message(GROUP, "x" * 4097)
    with pytest.raises(BadRequest, match="Message text is empty"):
        await bot.send_message(GROUP, "<b> </b>", parse_mode=ParseMode.HTML)


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("<b>bold", 'can\'t find end tag corresponding to start tag "b"'),
        ("<b>x</i>", 'unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("x</b>", "unexpected end tag at byte offset 1"),
        ("<blink>x</blink>", 'unsupported start tag "blink" at byte offset 0'),
        ("\u00e9 < 3", "unclosed start tag at byte offset 3"),
    ],
)
async def test_malformed_html_cannot_be_parsed(bot: Bot, html: str, reason: str) -> None:
    with pytest.raises(BadRequest) as raised:
        await bot.send_message(GROUP, html, parse_mode=ParseMode.HTML)

    assert raised.value.message.lower() == f"can't parse entities: {reason}".lower()


async def test_chat_member_statuses(api: TelegramEmulator, bot: Bot) -> None:
    api.send_message(GROUP, "hi", from_user=ALICE)

    assert isinstance(await bot.get_chat_member(GROUP, OWNER), ChatMemberOwner)
    assert isinstance(await bot.get_chat_member(GROUP, ADMIN), ChatMemberAdministrator)
    assert isinstance(await bot.get_chat_member(GROUP, ALICE), ChatMemberMember)
    assert isinstance(await bot.get_chat_member(GROUP, BOB), ChatMemberLeft)
    with pytest.raises(BadRequest, match="User not found"):
        await bot.get_chat_member(GROUP, 999)
    admins = await bot.get_chat_administrators(GROUP)
    assert {member.user.id for member in admins} == {OWNER, ADMIN}
    api.set_member_status(GROUP, ALICE, "administrator")
    assert isinstance(await bot.get_chat_member(GROUP, ALICE), ChatMemberAdministrator)


async def test_channel_rights_decide_whether_the_bot_may_post(
    api: TelegramEmulator, bot: Bot
) -> None:
    bot_id = api.bot_user["id"]
    api.add_chat(CHANNEL, "channel", title="Alerts", username="alerts", admins={OWNER: "creator"})
    with pytest.raises(BadRequest, match="Need administrator rights in the channel chat"):
        await bot.send_message("@alerts", "x")
    api.set_member_status(CHANNEL, bot_id, "administrator", rights={"can_post_messages": False})
    member = await bot.get_chat_member("@alerts", bot_id)
    assert isinstance(member, ChatMemberAdministrator) and member.can_post_messages is False
    assert member.can_pin_messages is None  # "groups only" rights are not sent for channels
    with pytest.raises(BadRequest, match="Need administrator rights"):
        await bot.send_message(CHANNEL, "x")
    api.set_member_status(CHANNEL, bot_id, "administrator")
    assert (await bot.get_chat_member(CHANNEL, bot_id)).can_post_messages is True
    await bot.send_message("@alerts", "x")
    api.set_member_status(CHANNEL, bot_id, "left")
    with pytest.raises(Forbidden, match="not a member of the channel chat"):
        await bot.send_message(CHANNEL, "x")
    assert len(api.sent_messages(CHANNEL)) == 1
    group_admin = await bot.get_chat_member(GROUP, ADMIN)
    assert group_admin.can_pin_messages is True and group_admin.can_post_messages is None


async def test_messages_on_behalf_of_a_chat_carry_sender_chat(
    api: TelegramEmulator, bot: Bot
) -> None:
    api.add_chat(CHANNEL, "channel", title="Linked channel", username="newschannel")
    api.send_anonymous_admin_message(GROUP, "/subscribe rust")
    api.send_message(GROUP, "from the channel", sender_chat=CHANNEL)

    anonymous, linked = (update.message for update in await bot.get_updates())

    assert anonymous is not None and anonymous.sender_chat is not None
    assert anonymous.sender_chat.id == GROUP
    assert anonymous.from_user is not None
    assert anonymous.from_user.id == GROUP_ANONYMOUS_BOT["id"]
    assert anonymous.from_user.username == "GroupAnonymousBot"
    assert anonymous.entities[0].type == MessageEntity.BOT_COMMAND
    assert linked is not None and linked.sender_chat is not None
    assert linked.sender_chat.username == "newschannel"
    assert linked.from_user is not None and linked.from_user.username == "Channel_Bot"


async def test_commands_are_recorded_per_scope(api: TelegramEmulator, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("subscribe", "Follow a tag")])

    assert [c.command for c in await bot.get_my_commands()] == ["subscribe"]
    assert api.commands() == [{"command": "subscribe", "description": "Follow a tag"}]
    with pytest.raises(BadRequest, match="Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Sub-Scribe", "bad name")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()


async def test_callback_edit_and_delete(api: TelegramEmulator, bot: Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Stop", callback_data="stop")]])
    sent = await bot.send_message(GROUP, "Subscribed", reply_markup=keyboard)
    api.send_callback_query(GROUP, sent.message_id, "stop", from_user=ALICE)
    [update] = await bot.get_updates()
    query = update.callback_query
    assert query is not None and query.data == "stop" and query.message is not None

    assert await bot.answer_callback_query(query.id, text="Done")
    edited = await bot.edit_message_text("Stopped", chat_id=GROUP, message_id=sent.message_id)
    assert isinstance(edited, type(sent)) and edited.text == "Stopped"
    assert edited.reply_markup is None
    with pytest.raises(BadRequest, match="Message is not modified"):
        await bot.edit_message_text("Stopped", chat_id=GROUP, message_id=sent.message_id)
    assert await bot.delete_message(GROUP, sent.message_id)
    assert api.message(GROUP, sent.message_id) is None
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(GROUP, sent.message_id)


async def test_webhook_blocks_polling_until_deleted(api: TelegramEmulator, bot: Bot) -> None:
    await bot.set_webhook("https://example.com/hook")
    assert (await bot.get_webhook_info()).url == "https://example.com/hook"

    with pytest.raises(Conflict, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_delay_slows_only_the_named_method(api: TelegramEmulator, bot: Bot) -> None:
    api.delay("sendChatAction", 0.3)

    started = time.monotonic()
    await bot.send_chat_action(GROUP, "typing")
    assert time.monotonic() - started >= 0.25
    api.delay("sendChatAction", 0)
    started = time.monotonic()
    await bot.send_chat_action(GROUP, "typing")
    assert time.monotonic() - started < 0.25


def test_wait_for_messages_explains_a_timeout(api: TelegramEmulator) -> None:
    status, _ = raw_post(api, f"/bot{TOKEN}/sendMessage?chat_id={OTHER_GROUP}&text=elsewhere")
    assert status == 200

    with pytest.raises(AssertionError) as raised:
        api.wait_for_messages(GROUP, 1, timeout=0.1)

    report = str(raised.value)
    assert f"1 message(s) to chat {GROUP}" in report
    assert f"chat {OTHER_GROUP}: 'elsewhere'" in report


def test_stop_does_not_wait_for_a_pending_long_poll() -> None:
    emulator = TelegramEmulator(TOKEN, BOT_USERNAME).start()
    outcome: list[object] = []

    def poll() -> None:
        try:
            outcome.append(raw_post(emulator, f"/bot{TOKEN}/getUpdates?timeout=30"))
        except OSError as error:
            outcome.append(error)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    emulator.wait_for(lambda: emulator.calls_to("getUpdates"))

    started = time.monotonic()
    emulator.stop()
    poller.join(timeout=5)

    assert time.monotonic() - started < 2
    assert not poller.is_alive()
    assert outcome == [(200, {"ok": True, "result": []})]


async def test_application_polls_and_dispatches_an_addressed_command(
    api: TelegramEmulator,
) -> None:
    seen: list[str] = []

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        seen.append(update.effective_message.text or "")
        await update.effective_message.reply_text("Welcome")

    application = ApplicationBuilder().token(TOKEN).base_url(api.base_url).build()
    application.add_handler(CommandHandler("start", start))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=1)
    try:
        api.send_message(GROUP, "/start@someone_else_bot", from_user=ALICE)
        api.send_message(GROUP, f"/start@{BOT_USERNAME}", from_user=ALICE)
        [reply] = await asyncio.to_thread(api.wait_for_messages, GROUP, 1, 5.0)
    finally:
        await application.updater.stop()
        await application.stop()
        await application.shutdown()

    assert seen == [f"/start@{BOT_USERNAME}"]
    assert reply.text == "Welcome"
    assert reply.message["reply_to_message"]["text"] == f"/start@{BOT_USERNAME}"
    assert api.pending_updates() == []  # PTB confirmed what it handled on shutdown
