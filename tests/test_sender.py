"""The sender against the Bot API emulator: alerts arrive once, and no failure loses one."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from telegram import Bot

from bot.app import NewsBot
from bot.config import load_settings
from bot.core.article import Article
from bot.core.digest import DigestItem
from bot.core.tags import Tag
from bot.delivery import sender as sender_module
from bot.delivery.limits import Limits, Pacer
from bot.delivery.sender import Sender, backoff
from bot.store import queries
from bot.store.db import Store
from bot.store.models import Chat, Delivery, Follow
from tests.fakes.telegram_api import RateLimits, TelegramEmulator
from tests.outbox import make_due

GROUP = -100200300


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.add_chat(GROUP, "supergroup", title="Desk")
        yield emulator


FAST = Limits(per_chat_interval=1e-6, per_group_interval=1e-6, global_per_second=1e6)


@pytest.fixture
async def bot(telegram: TelegramEmulator) -> AsyncIterator[Bot]:
    async with Bot(telegram.token, base_url=telegram.base_url) as bot:
        yield bot


@pytest.fixture
def sender(store: Store, bot: Bot) -> Sender:
    """A sender without pacing, for tests about outcomes rather than timing."""
    return Sender(store, bot, pacer=Pacer(FAST))


async def _queue(
    store: Store, *titles: str, chat_id: int = GROUP, chat_type: str = "supergroup"
) -> None:
    async with store.transaction() as session:
        await queries.touch_chat(session, chat_id, chat_type, "Desk")
        await queries.sync_operator_sources(
            session, [("https://herald.example/rss", "Korea Herald")]
        )
        source = await queries.source_by_url(session, "https://herald.example/rss")
        for n, title in enumerate(titles):
            article = Article(
                title=title, link=f"https://herald.example/{chat_id}/{title}", summary="KIDA said"
            )
            article_id = await queries.insert_article(
                session, source.id, article, [f"url:{chat_id}/{title}/{n}"], datetime.now(UTC)
            )
            await queries.enqueue(session, article_id, {chat_id: queries.Queued({"KIDA": "kida"})})


async def _unsent(store: Store) -> list[Delivery]:
    async with store.transaction() as session:
        return list(await session.scalars(select(Delivery).where(Delivery.sent_at.is_(None))))


async def test_alerts_are_sent_as_html_and_marked(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "first", "second")
    assert await sender.drain_once() == 2
    assert await sender.drain_once() == 0
    sent = telegram.sent_messages(GROUP)
    assert [m.parse_mode for m in sent] == ["HTML", "HTML"]
    assert "first" in sent[0].plain_text and "Korea Herald" in sent[0].plain_text
    assert "#KIDA" in sent[0].plain_text
    assert await _unsent(store) == []


async def test_429_holds_the_chat_and_the_alert_is_sent_later(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "first", "second")
    telegram.fail_next("sendMessage", 429, retry_after=30)
    assert await sender.drain_once() == 0
    assert len(telegram.calls_to("sendMessage")) == 1  # the chat's next alert was not tried
    pending = await _unsent(store)
    assert len(pending) == 2
    async with store.transaction() as session:
        held_until = (await session.get(Chat, GROUP)).hold_until
    assert held_until > datetime.now(UTC) + timedelta(seconds=25)
    await make_due(store)
    assert await sender.drain_once() == 2
    assert [m.plain_text.split("\n")[0] for m in telegram.sent_messages(GROUP)] == [
        "first",
        "second",
    ]


async def test_server_errors_retry_with_backoff_and_never_drop(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "only")
    telegram.fail_next("sendMessage", 500, count=3)
    for attempt in range(3):
        assert await sender.drain_once() == 0
        [row] = await _unsent(store)
        assert row.attempts == attempt + 1 and row.last_error
        await make_due(store)
    assert await sender.drain_once() == 1
    assert backoff(0) < backoff(3) <= backoff(100) == timedelta(minutes=30)


async def test_403_parks_the_chat_until_it_speaks_again(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "kept")
    telegram.block_chat(GROUP)
    assert await sender.drain_once() == 0
    async with store.transaction() as session:
        assert (await session.get(Chat, GROUP)).active is False
    assert len(await _unsent(store)) == 1
    telegram.unblock_chat(GROUP)
    assert await sender.drain_once() == 0  # parked: nothing is tried
    async with store.transaction() as session:
        await queries.touch_chat(session, GROUP, "supergroup", "Desk")  # e.g. /start
    assert await sender.drain_once() == 1


@pytest.mark.parametrize(
    "refusal",
    [
        "Bad Request: chat not found",
        "Bad Request: need administrator rights in the channel chat",
        "Bad Request: not enough rights to send text messages to the chat",
    ],
)
async def test_a_chat_the_bot_may_not_post_in_is_parked_too(
    store: Store, sender: Sender, telegram: TelegramEmulator, refusal: str
) -> None:
    await _queue(store, "kept")
    telegram.fail_next("sendMessage", 400, refusal)
    assert await sender.drain_once() == 0
    async with store.transaction() as session:
        assert (await session.get(Chat, GROUP)).active is False
        await queries.touch_chat(session, GROUP, "supergroup", "Desk")  # e.g. /target again
    assert await sender.drain_once() == 1


async def test_group_upgrade_moves_the_alert_to_the_new_chat(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    old, new = -4001, -1004001
    telegram.add_chat(old, "group")
    telegram.add_chat(new, "supergroup")
    await _queue(store, "moved", chat_id=old)
    telegram.fail_next("sendMessage", 400, migrate_to_chat_id=new, chat_id=old)
    assert await sender.drain_once() == 0
    assert await sender.drain_once() == 1
    assert len(telegram.sent_messages(new)) == 1 and telegram.sent_messages(old) == []


@pytest.mark.parametrize("count", [1, 7], ids=["alert", "digest"])
async def test_unparsable_html_is_resent_as_plain_text(
    store: Store,
    sender: Sender,
    telegram: TelegramEmulator,
    caplog: pytest.LogCaptureFixture,
    count: int,
) -> None:
    """The plain text keeps every article's link, and the log names the alerts."""
    titles = [f"plain{n}" for n in range(count)]
    await _queue(store, *titles)
    telegram.fail_next("sendMessage", 400, "Bad Request: can't parse entities: unexpected end tag")
    assert await sender.drain_once() == count
    [message] = telegram.sent_messages(GROUP)
    assert message.parse_mode is None and "<a" not in message.text
    links = [f"https://herald.example/{GROUP}/{title}" for title in titles]
    for title, link in zip(titles, links, strict=True):
        assert f"{title} ({link})" in message.text
    [warning] = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert str(list(range(1, count + 1))) in warning and all(link in warning for link in links)


@pytest.mark.parametrize("paced", [True, False])
async def test_pacing_keeps_every_limit(
    store: Store, bot: Bot, telegram: TelegramEmulator, paced: bool
) -> None:
    """Scaled-down limits: the paced sender breaks none; unpaced, the emulator counts breaks."""
    telegram.enforce_limits(
        RateLimits(per_chat_interval=0.2, group_per_minute=600, global_per_second=8)
    )
    chats = [(GROUP, "supergroup"), (501, "private"), (502, "private")]
    for chat_id, kind in chats[1:]:
        telegram.add_chat(chat_id, kind)
    for chat_id, kind in chats:
        await _queue(store, *(f"story{n}" for n in range(4)), chat_id=chat_id, chat_type=kind)
    limits = Limits(per_chat_interval=0.25, per_group_interval=0.25, global_per_second=7)
    sender = Sender(store, bot, pacer=Pacer(limits if paced else FAST))
    sent = await sender.drain_once()
    if paced:
        assert (sent, telegram.violations) == (12, [])
        assert await _unsent(store) == []
    else:  # the control: without pacing the same round breaks the limits
        assert sent < 12 and telegram.violations


@pytest.mark.parametrize("group_paced", [True, False])
async def test_pacing_keeps_the_group_limit(
    store: Store, bot: Bot, telegram: TelegramEmulator, group_paced: bool
) -> None:
    """A group limit scaled down to 3 messages a second: the group interval keeps it; pacing
    per chat alone (the control) breaks it."""
    telegram.enforce_limits(
        RateLimits(
            per_chat_interval=0.05, group_per_minute=3, group_window=1.0, global_per_second=100
        )
    )
    await _queue(store, *(f"story{n}" for n in range(5)))
    group_interval = 0.4 if group_paced else 0.06
    limits = Limits(per_chat_interval=0.06, per_group_interval=group_interval)
    sent = await Sender(store, bot, pacer=Pacer(limits)).drain_once()
    if group_paced:
        assert (sent, telegram.violations) == (5, [])
    else:
        assert sent < 5 and telegram.violations == [f"per-group limit in chat {GROUP}"]


@pytest.mark.parametrize("paid", [True, False])
async def test_a_bot_allowed_paid_broadcasts_sends_past_the_free_rate(
    store: Store, bot: Bot, telegram: TelegramEmulator, paid: bool
) -> None:
    """Scaled down to 3 free messages a second: sent as paid broadcasts, the rest go too."""
    telegram.enforce_limits(RateLimits(per_chat_interval=0, global_per_second=3))
    chats = range(501, 507)
    for chat_id in chats:
        telegram.add_chat(chat_id, "private")
        await _queue(store, "story", chat_id=chat_id, chat_type="private")
    sent = await Sender(store, bot, pacer=Pacer(FAST), paid_broadcast=paid).drain_once()
    flags = {call["allow_paid_broadcast"] for call in telegram.calls_to("sendMessage")}
    assert flags == {paid}
    if paid:
        assert (sent, telegram.violations) == (len(chats), [])
    else:  # the control: the same round breaks the free rate
        assert sent < len(chats) and telegram.violations


@pytest.mark.parametrize(("send_rate", "paid"), [(30, False), (100, True)])
def test_a_send_rate_above_telegrams_free_rate_means_paid_broadcasts(
    tmp_path: Path, send_rate: float, paid: bool
) -> None:
    settings = load_settings(
        telegram_bot_token="1:x",
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        send_rate=send_rate,
    )
    assert NewsBot(settings).sender.paid_broadcast is paid


async def test_a_round_does_not_wait_out_a_groups_limit_a_quiet_chat_is_served_meanwhile(
    store: Store, bot: Bot, telegram: TelegramEmulator
) -> None:
    """A group's next turn is seconds away: its alerts wait in the outbox, not in the round."""
    limits = Limits(per_chat_interval=1.05, per_group_interval=60 / 19, global_per_second=1e6)
    sender = Sender(store, bot, pacer=Pacer(limits))
    await _queue(store, "first", "second", "third")
    assert await sender.drain_once() == 1  # one now; the others are held until its turn
    held = await _unsent(store)
    assert len(held) == 2
    assert all(d.next_attempt_at > datetime.now(UTC) + timedelta(seconds=1) for d in held)

    telegram.add_chat(501, "private")
    await _queue(store, "for the quiet chat", chat_id=501, chat_type="private")
    assert await sender.drain_once() == 1
    assert [m.chat_id for m in telegram.sent_messages()] == [GROUP, 501]


async def test_many_alerts_due_at_once_become_one_digest(
    store: Store, bot: Bot, telegram: TelegramEmulator
) -> None:
    await _queue(store, *(f"story{n}" for n in range(8)))
    sender = Sender(store, bot, pacer=Pacer(FAST), digest_threshold=5)
    assert await sender.drain_once() == 8
    [digest] = telegram.sent_messages(GROUP)
    assert digest.plain_text.startswith("8 new articles for #KIDA")
    assert digest.text.count("href=") == 8
    assert await _unsent(store) == []


async def test_a_failed_digest_keeps_every_alert_it_held(
    store: Store, bot: Bot, telegram: TelegramEmulator
) -> None:
    await _queue(store, *(f"story{n}" for n in range(7)))
    telegram.fail_next("sendMessage", 500)
    sender = Sender(store, bot, pacer=Pacer(FAST))
    assert await sender.drain_once() == 0
    assert len(await _unsent(store)) == 7
    await make_due(store)
    assert await sender.drain_once() == 7


async def test_an_alert_carries_unfollow_and_mute_buttons(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "buttons")
    async with store.transaction() as session:
        [follow] = await queries.follow(session, GROUP, [Tag("kida", "KIDA", ("kida",))])
        follow_id = await session.scalar(select(Follow.id).where(Follow.chat_id == GROUP))
    assert follow.name == "KIDA"
    await sender.drain_once()
    [message] = telegram.sent_messages(GROUP)
    data = [b["callback_data"] for row in message.reply_markup["inline_keyboard"] for b in row]
    assert data == [f"unfollow:{follow_id}", "mute:24"]


async def test_quiet_hours_hold_alerts_until_they_end(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "at night")
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
    async with store.transaction() as session:
        await queries.update_chat_settings(session, GROUP, quiet_start=start, quiet_end=end)
    assert await sender.drain_once() == 0
    [held] = await _unsent(store)
    expected = (now + timedelta(hours=2)).replace(second=0, microsecond=0)
    assert abs((held.next_attempt_at - expected).total_seconds()) < 60
    assert telegram.sent_messages(GROUP) == []
    async with store.transaction() as session:  # quiet hours switched off: sent at once
        await queries.update_chat_settings(session, GROUP, quiet_start=None, quiet_end=None)
    assert await sender.drain_once() == 1


async def test_an_alert_queued_before_quiet_hours_but_still_pending_waits_for_the_end(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    """Queued two hours ago (say, behind a backlog or a 429); quiet hours began an hour ago."""
    await _queue(store, "from the evening")
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).time(), (now + timedelta(hours=2)).time()
    async with store.transaction() as session:
        await queries.update_chat_settings(session, GROUP, quiet_start=start, quiet_end=end)
        await session.execute(update(Delivery).values(created_at=now - timedelta(hours=2)))
    assert await sender.drain_once() == 0
    assert telegram.sent_messages(GROUP) == []
    [held] = await _unsent(store)
    assert held.next_attempt_at > now + timedelta(hours=1)


async def test_an_hourly_digest_chat_gets_one_message_at_the_hour(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    async with store.transaction() as session:
        await queries.touch_chat(session, GROUP, "supergroup", "Desk")
        await queries.update_chat_settings(session, GROUP, digest="hourly")
    await _queue(store, "one", "two")
    assert await sender.drain_once() == 0
    held = await _unsent(store)
    assert {d.next_attempt_at.minute for d in held} == {0}
    await make_due(store)
    async with store.transaction() as session:  # pretend the hour has come
        await session.execute(
            update(Delivery).values(created_at=datetime.now(UTC) - timedelta(hours=2))
        )
    assert await sender.drain_once() == 2
    [digest] = telegram.sent_messages(GROUP)
    assert digest.plain_text.startswith("2 new articles")


async def test_alerts_go_to_the_forum_topic_the_tag_was_followed_in(
    store: Store, sender: Sender, telegram: TelegramEmulator
) -> None:
    await _queue(store, "topic story")
    async with store.transaction() as session:
        await session.execute(update(Delivery).values(thread_id=77))
    assert await sender.drain_once() == 1
    assert telegram.sent_messages(GROUP)[0].message_thread_id == 77


def _poison(monkeypatch: pytest.MonkeyPatch, title: str) -> None:
    """Formatting the alert titled `title` raises, as a bug in formatting would."""

    def format_alert(article: Article, **kwargs: object) -> str:
        if article.title == title:
            raise ValueError(f"cannot format {title}")
        return real(article, **kwargs)

    real = sender_module.format_alert
    monkeypatch.setattr(sender_module, "format_alert", format_alert)


async def test_a_failing_alert_is_postponed_and_no_other_is_sent_twice(
    store: Store, sender: Sender, telegram: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One chat's alert cannot be formatted. The round still waits for the other chats (a
    new round started while they were sending would send their alerts again), the chat's
    next alert goes next round, and the poisoned one waits its backoff, kept."""
    telegram.delay("sendMessage", 0.02)  # the other chats are still sending when it fails
    others = [501, 502]
    for chat_id in others:
        telegram.add_chat(chat_id, "private")
        await _queue(store, "a", "b", "c", chat_id=chat_id, chat_type="private")
    await _queue(store, "poison", "next")
    _poison(monkeypatch, "poison")
    for _ in range(3):
        with contextlib.suppress(ValueError):  # as run() does: a failed round, then the next
            await sender.drain_once()
    await asyncio.gather(*asyncio.all_tasks() - {asyncio.current_task()})  # none left over
    sent = Counter((m.chat_id, m.plain_text.split("\n")[0]) for m in telegram.sent_messages())
    expected = {(chat_id, title) for chat_id in others for title in "abc"} | {(GROUP, "next")}
    assert sent == Counter(expected)
    [poisoned] = await _unsent(store)
    assert poisoned.attempts == 1 and "cannot format poison" in poisoned.last_error
    assert poisoned.next_attempt_at > datetime.now(UTC)


async def test_an_alert_a_digest_cannot_list_is_postponed_alone(
    store: Store, sender: Sender, telegram: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that breaks one alert's line must not keep the digest from going round after
    round: the digest goes without it, and it waits its backoff, kept."""

    def format_digest(items: list[DigestItem]) -> tuple[str, int]:
        if any(item.article.title == "poison" for item in items):
            raise ValueError("cannot list poison")
        return real(items)

    real = sender_module.format_digest
    monkeypatch.setattr(sender_module, "format_digest", format_digest)
    titles = ["one", "two", "poison", "three", "four", "five", "six"]  # past the threshold
    await _queue(store, *titles)
    assert await sender.drain_once() == 6
    [digest] = telegram.sent_messages(GROUP)
    assert digest.plain_text.startswith("6 new articles") and "poison" not in digest.plain_text
    [poisoned] = await _unsent(store)
    assert poisoned.attempts == 1 and "cannot list poison" in poisoned.last_error
    assert poisoned.next_attempt_at > datetime.now(UTC)


async def _covered_elsewhere(store: Store) -> None:
    """Every sent alert's story was carried by another outlet: the alerts are due for edits."""
    async with store.transaction() as session:
        now = datetime.now(UTC)
        for article_id in await session.scalars(select(Delivery.article_id)):
            await queries.add_coverage(session, article_id, "Yonhap", "https://yna.example", now)
            await queries.revise_alerts(session, article_id, now - timedelta(hours=1), now)


async def test_a_failing_edit_is_postponed_and_the_other_chats_are_edited(
    store: Store, sender: Sender, telegram: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    telegram.add_chat(501, "private")
    await _queue(store, "poison")
    await _queue(store, "fine", chat_id=501, chat_type="private")
    assert await sender.drain_once() == 2
    await _covered_elsewhere(store)
    _poison(monkeypatch, "poison")
    assert await sender.drain_once() == 1
    assert [edit["chat_id"] for edit in telegram.calls_to("editMessageText")] == [501]
    async with store.transaction() as session:
        [poisoned] = await session.scalars(select(Delivery).where(Delivery.revise))
    assert poisoned.chat_id == GROUP and poisoned.next_attempt_at > datetime.now(UTC)


async def test_a_429_on_an_edit_holds_the_chat_and_ends_its_edits_for_the_round(
    store: Store, sender: Sender, telegram: TelegramEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    await _queue(store, "one", "two")
    assert await sender.drain_once() == 2
    await _covered_elsewhere(store)
    held: list[tuple[int, datetime, str]] = []

    async def postpone_chat(session: object, chat_id: int, until: datetime, error: str) -> None:
        held.append((chat_id, until, error))

    monkeypatch.setattr(queries, "postpone_chat", postpone_chat)
    telegram.fail_next("editMessageText", 429, retry_after=30)
    assert await sender.drain_once() == 0
    assert len(telegram.calls_to("editMessageText")) == 1  # the second edit was not tried
    [(chat_id, until, error)] = held
    assert (chat_id, error) == (GROUP, "429 Too Many Requests")
    assert until > datetime.now(UTC) + timedelta(seconds=25)
