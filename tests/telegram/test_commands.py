"""Chat commands, through a whole NewsBot running in this process against the emulator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from bot.app import NewsBot
from bot.config import load_settings
from bot.store import queries
from bot.store.models import Source
from bot.telegram import targets, texts
from tests.fakes.feed_server import FeedServer, rss
from tests.fakes.telegram_api import SentMessage, TelegramEmulator

GROUP, ADMIN, MEMBER, PRIVATE = -1009, 11, 22, 33
STORY = {
    "title": "KIDA report on Moscow ties",
    "link": "https://herald.example/kida",
    "description": "A report by the Korea Institute for Defense Analyses.",
}


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.set_feed("/herald.xml", rss([STORY], title="Korea Herald"))
        yield server


@pytest.fixture
def telegram() -> Iterator[TelegramEmulator]:
    with TelegramEmulator() as emulator:
        emulator.add_user(ADMIN, "Ada")
        emulator.add_user(MEMBER, "Max")
        emulator.add_user(PRIVATE, "Pia")
        emulator.add_chat(GROUP, "supergroup", admins={ADMIN: "creator"})
        yield emulator


@asynccontextmanager
async def running_bot(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path, **overrides: object
) -> AsyncIterator[NewsBot]:
    """A whole NewsBot in this process, its operator's feed on the local feed server."""
    opml = tmp_path / "sources.opml"
    opml.write_text(
        '<opml version="2.0"><body>'
        f'<outline text="Korea Herald" xmlUrl="{feeds.url("/herald.xml")}"/></body></opml>'
    )
    settings = load_settings(
        telegram_bot_token=telegram.token,
        telegram_api_url=telegram.root_url,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        sources=opml,
        **{"poll_interval": 3600, **overrides},
    )
    bot = NewsBot(settings)
    await bot.start()
    try:
        yield bot
    finally:
        await bot.stop()


@pytest.fixture
async def newsbot(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> AsyncIterator[NewsBot]:
    async with running_bot(telegram, feeds, tmp_path) as bot:
        yield bot


async def ask(telegram: TelegramEmulator, chat_id: int, text: str, **sender: object) -> SentMessage:
    """Send a message as a person and wait (off the bot's event loop) for the answer."""
    before = len(telegram.sent_messages(chat_id))
    telegram.send_message(chat_id, text, **sender)
    sent = await asyncio.to_thread(telegram.wait_for_messages, chat_id, before + 1)
    return sent[before]


async def test_follow_several_tags_and_list_them(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    answer = await ask(telegram, GROUP, "/follow KIDA, Hanwha Aerospace\nK2 tank", from_user=ADMIN)
    assert "Now following" in answer.plain_text
    for name in ("KIDA", "Hanwha Aerospace", "K2 tank", "한국국방연구원"):
        assert name in answer.plain_text
    again = await ask(telegram, GROUP, "/follow kida, !!!", from_user=ADMIN)
    assert "Already followed: kida" in again.plain_text
    assert "no letters or digits" in again.plain_text
    listing = await ask(telegram, GROUP, "/list@newsbot_test_bot", from_user=MEMBER)
    bullets = [line for line in listing.plain_text.splitlines() if line.startswith("•")]
    assert [b.split(" = ")[0] for b in bullets] == ["• KIDA", '• "Hanwha Aerospace"', '• "K2 tank"']


async def reply(telegram: TelegramEmulator, chat_id: int, text: str, **sender: object) -> str:
    return (await ask(telegram, chat_id, text, **sender)).plain_text


async def test_members_cannot_change_tags_but_admins_and_private_users_can(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    assert "administrators" in await reply(telegram, GROUP, "/follow NATO", from_user=MEMBER)
    assert "administrators" in await reply(telegram, GROUP, "/unfollow NATO", from_user=MEMBER)
    assert "Now following" in await reply(telegram, PRIVATE, "/follow NATO")
    async with newsbot.store.transaction() as session:
        assert await queries.chat_follows(session, GROUP) == []
        assert [f.tag_key for f in await queries.chat_follows(session, PRIVATE)] == ["nato"]


async def test_usage_help_and_unknown_commands(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    started = await reply(telegram, PRIVATE, "/start")
    assert "/follow" in started and "-word" in started and " OR " in started
    assert "for example" in await reply(telegram, PRIVATE, "/follow")
    assert "don't know /frobnicate" in await reply(telegram, PRIVATE, "/frobnicate now")
    assert "don't know" in await reply(telegram, GROUP, "/nope@newsbot_test_bot", from_user=MEMBER)
    assert "follows no tags" in await reply(telegram, GROUP, "/list", from_user=MEMBER)
    # A command meant for another bot in the group gets no answer from this one.
    before = len(telegram.sent_messages(GROUP))
    telegram.send_message(GROUP, "/roll@dice_bot", from_user=MEMBER)
    await ask(telegram, GROUP, "/help", from_user=MEMBER)
    assert len(telegram.sent_messages(GROUP)) == before + 1
    assert telegram.commands() and {c["command"] for c in telegram.commands()} >= {"follow", "list"}


async def test_latest_lists_stored_matching_articles(
    newsbot: NewsBot, telegram: TelegramEmulator, feeds: FeedServer
) -> None:
    for _ in range(200):  # the first poll stores the feed's items
        async with newsbot.store.transaction() as session:
            if await queries.recent_articles_for_chat(session, PRIVATE, 1):
                break
        await asyncio.sleep(0.05)
    answer = await ask(telegram, PRIVATE, "/latest KIDA")
    assert "KIDA report on Moscow ties" in answer.plain_text
    assert "No stored articles match NATO" in await reply(telegram, PRIVATE, "/latest NATO")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/feed", "http"),
        ("http://127.0.0.1/feed.xml", "private network"),
        ("http://[::1]/feed.xml", "private network"),
        ("http://2130706433/feed.xml", "private network"),
        ("http://user:pw@example.com/feed", ""),
    ],
)
async def test_addsource_refuses_unsafe_addresses(
    newsbot: NewsBot, telegram: TelegramEmulator, url: str, reason: str
) -> None:
    answer = await ask(telegram, PRIVATE, f"/addsource {url}")
    assert reason in answer.plain_text
    assert "Added" not in answer.plain_text
    async with newsbot.store.transaction() as session:
        assert await queries.chat_sources(session, PRIVATE) == []


async def test_addsource_polls_a_feed_for_this_chat(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/own.xml", rss([STORY], title="Own"))
    feeds.set_feed("/page.html", b"<html><body>hello</body></html>", content_type="text/html")
    async with running_bot(telegram, feeds, tmp_path, allow_private_networks=True) as bot:
        answer = await reply(telegram, PRIVATE, f"/addsource {feeds.url('/own.xml')}")
        assert "Added" in answer and "lists 1 article now" in answer
        assert "already has" in await reply(
            telegram, PRIVATE, f"/addsource {feeds.url('/own.xml')}"
        )
        refused = await reply(telegram, PRIVATE, f"/addsource {feeds.url('/page.html')}")
        assert "could not use that feed" in refused
        async with bot.store.transaction() as session:
            sources = await queries.chat_sources(session, PRIVATE)
        assert [s.url for s in sources] == [feeds.url("/own.xml")]
        assert sources[0].primed  # polled once: its existing items will not be alerted


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("/start@newsbot_test_bot", "/follow"),
        ("/help@newsbot_test_bot", "/follow"),
        ("/follow@newsbot_test_bot NATO, KIDA", "Now following"),
        ("/unfollow@newsbot_test_bot IISS", "did not follow: IISS"),
        ("/list@newsbot_test_bot", "follows no tags"),
        ("/latest@newsbot_test_bot NATO", "No stored articles match NATO"),
        ("/addsource@newsbot_test_bot ftp://x.example/feed", "http"),
    ],
)
async def test_every_command_answers_when_addressed_to_the_bot(
    newsbot: NewsBot, telegram: TelegramEmulator, command: str, expected: str
) -> None:
    assert expected in await reply(telegram, GROUP, command, from_user=ADMIN)


async def test_a_linked_channel_writing_in_the_group_is_not_an_admin(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    telegram.add_chat(-100777, "channel", title="Linked channel")
    answer = await reply(telegram, GROUP, "/follow KIDA", sender_chat=-100777)
    assert "administrators" in answer
    answer = await reply(telegram, GROUP, "/follow KIDA", sender_chat=GROUP)  # anonymous admin
    assert "Now following" in answer


async def test_a_long_answer_is_split_under_telegrams_limit(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    tags = ", ".join(f"Topic number {n} of a long list" for n in range(210))
    telegram.send_message(PRIVATE, f"/follow {tags}")

    def cap_explained() -> bool:
        return any("up to 200 tags; 10 were not added" in m.plain_text for m in sent())

    def sent() -> list:
        return telegram.sent_messages(PRIVATE)

    await asyncio.to_thread(telegram.wait_for, cap_explained)
    assert len(sent()) >= 2 and all(len(m.plain_text) <= 4096 for m in sent())
    async with newsbot.store.transaction() as session:
        assert len(await queries.chat_follows(session, PRIVATE)) == 200


async def test_group_upgrade_message_moves_the_chats_tags(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    old, new = -4242, -1004242
    telegram.add_chat(old, "group", admins={ADMIN: "creator"})
    telegram.add_chat(new, "supergroup", admins={ADMIN: "creator"})
    await reply(telegram, old, "/follow KIDA", from_user=ADMIN)
    telegram.push_update(
        {
            "message": {
                "message_id": 99,
                "date": 0,
                "chat": {"id": old, "type": "group", "title": "Old"},
                "from": {"id": ADMIN, "is_bot": False, "first_name": "Ada"},
                "migrate_to_chat_id": new,
            }
        }
    )
    assert "KIDA" in await reply(telegram, new, "/list", from_user=ADMIN)
    async with newsbot.store.transaction() as session:
        assert await queries.chat_follows(session, old) == []


async def test_latest_does_not_show_another_chats_own_feed(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> None:
    private_story = {
        **STORY,
        "title": "KIDA item from a private feed",
        "link": "https://p.example/1",
    }
    feeds.set_feed("/own.xml", rss([private_story], title="Own"))
    async with running_bot(telegram, feeds, tmp_path, allow_private_networks=True):
        assert "Added" in await reply(telegram, PRIVATE, f"/addsource {feeds.url('/own.xml')}")
        assert "private feed" in await reply(telegram, PRIVATE, "/latest KIDA")
        assert "private feed" not in await reply(telegram, GROUP, "/latest KIDA", from_user=ADMIN)


async def test_chat_aliases_are_added_listed_and_removed_by_admins(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    assert "administrators" in await reply(
        telegram, GROUP, "/alias KIDA = 국방연구원", from_user=MEMBER
    )
    assert "/alias TAG = NAME" in await reply(telegram, GROUP, "/alias KIDA", from_user=ADMIN)
    added = await reply(telegram, GROUP, "/alias KIDA = 국방연구원", from_user=ADMIN)
    assert "국방연구원 now counts as KIDA" in added
    await reply(telegram, GROUP, "/follow KIDA", from_user=ADMIN)
    assert "국방연구원" in await reply(telegram, GROUP, "/list", from_user=MEMBER)
    assert "kida = 국방연구원" in await reply(telegram, GROUP, "/alias", from_user=ADMIN)
    removed = await reply(telegram, GROUP, "/unalias KIDA = 국방연구원", from_user=ADMIN)
    assert "no longer counts" in removed
    assert "no aliases of its own" in await reply(telegram, GROUP, "/alias", from_user=ADMIN)


async def _press(telegram: TelegramEmulator, chat_id: int, data: str, user: int) -> dict:
    """Press a button under the bot's last message in a chat; returns answerCallbackQuery."""
    message_id = telegram.sent_messages(chat_id)[-1].message_id
    before = len(telegram.calls_to("answerCallbackQuery"))
    telegram.send_callback_query(chat_id, message_id, data, from_user=user)
    await asyncio.to_thread(
        telegram.wait_for, lambda: len(telegram.calls_to("answerCallbackQuery")) > before
    )
    return telegram.calls_to("answerCallbackQuery")[-1]


async def test_buttons_act_only_for_admins_and_only_on_their_own_chat(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    await reply(telegram, GROUP, "/follow KIDA", from_user=ADMIN)
    await reply(telegram, PRIVATE, "/follow NATO")
    async with newsbot.store.transaction() as session:
        [other] = await queries.chat_follows(session, PRIVATE)
        [kida] = await queries.chat_follows(session, GROUP)
    refused = await _press(telegram, GROUP, f"unfollow:{kida.id}", MEMBER)
    assert "administrators" in refused["text"]
    forged = await _press(telegram, GROUP, f"unfollow:{other.id}", ADMIN)  # another chat's
    assert "no longer follows" in forged["text"]
    assert "This button" in (await _press(telegram, GROUP, "unfollow:1;drop", ADMIN))["text"]
    done = await _press(telegram, GROUP, f"unfollow:{kida.id}", ADMIN)
    assert done["text"] == "Stopped following KIDA."
    muted = await _press(telegram, GROUP, "mute:24", ADMIN)
    assert "Muted for 24 hours" in muted["text"]
    async with newsbot.store.transaction() as session:
        assert await queries.chat_follows(session, GROUP) == []
        assert [f.tag_key for f in await queries.chat_follows(session, PRIVATE)] == ["nato"]
    assert "Muted until" in await reply(telegram, GROUP, "/settings", from_user=MEMBER)


async def test_delivery_settings_commands(newsbot: NewsBot, telegram: TelegramEmulator) -> None:
    assert "Write /digest" in await reply(telegram, PRIVATE, "/digest")
    assert "a day at 07:30" in await reply(telegram, PRIVATE, "/digest daily 07:30")
    assert "Asia/Seoul" in await reply(telegram, PRIVATE, "/timezone Asia/Seoul")
    assert "23:00-07:00" in await reply(telegram, PRIVATE, "/quiet 23:00-07:00")
    assert "not a time zone" in await reply(telegram, PRIVATE, "/timezone Mars/Base")
    assert "HH:MM" in await reply(telegram, PRIVATE, "/quiet 25:00-07:00")
    settings = await reply(telegram, PRIVATE, "/settings")
    assert "a day at 07:30" in settings and "Asia/Seoul" in settings
    assert "Quiet hours: none" in await reply(telegram, PRIVATE, "/quiet off")
    assert "administrators" in await reply(telegram, GROUP, "/quiet off", from_user=MEMBER)


async def test_follow_in_a_forum_topic_and_from_a_channel(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    forum, channel = -100555, -100666
    telegram.add_chat(forum, "supergroup", is_forum=True, admins={ADMIN: "administrator"})
    bot_admin = {telegram.bot_user["id"]: "administrator"}
    telegram.add_chat(channel, "channel", title="Alerts channel", admins=bot_admin)
    before = len(telegram.sent_messages(forum))
    telegram.send_message(forum, "/follow KIDA", from_user=ADMIN, message_thread_id=12)
    answer = (await asyncio.to_thread(telegram.wait_for_messages, forum, before + 1))[-1]
    assert "Now following" in answer.plain_text
    before = len(telegram.sent_messages(channel))
    telegram.send_channel_post(channel, "/follow NATO")
    posted = (await asyncio.to_thread(telegram.wait_for_messages, channel, before + 1))[-1]
    assert "Now following" in posted.plain_text
    async with newsbot.store.transaction() as session:
        [topic_follow] = await queries.chat_follows(session, forum)
        assert [f.tag_key for f in await queries.chat_follows(session, channel)] == ["nato"]
    assert topic_follow.thread_id == 12


async def test_sources_lists_a_chats_feeds_with_health_and_removes_one(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/own.xml", rss([STORY], title="Own feed"))
    async with running_bot(telegram, feeds, tmp_path, allow_private_networks=True):
        assert "no feeds of its own" in await reply(telegram, PRIVATE, "/sources")
        await reply(telegram, PRIVATE, f"/addsource {feeds.url('/own.xml')}")
        listing = await reply(telegram, PRIVATE, "/sources")
        assert "Own feed: ok" in listing and "1 feeds the bot polls for everyone" in listing
        assert "no such source" in await reply(telegram, PRIVATE, "/removesource nope")
        assert "Removed" in await reply(telegram, PRIVATE, f"/removesource {feeds.url('/own.xml')}")
        assert "no feeds of its own" in await reply(telegram, PRIVATE, "/sources")


async def test_addsource_of_a_page_uses_the_feed_it_links_to(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> None:
    feeds.set_feed("/section/feed.xml", rss([STORY], title="Section feed"))
    page = (
        '<html><head><link rel="alternate" type="application/rss+xml" href="feed.xml">'
        "</head><body><h1>Section</h1></body></html>"
    )
    feeds.set_feed("/section/", page, content_type="text/html; charset=utf-8")
    async with running_bot(telegram, feeds, tmp_path, allow_private_networks=True) as bot:
        answer = await reply(telegram, PRIVATE, f"/addsource {feeds.url('/section/')}")
        assert f"Added {feeds.url('/section/feed.xml')}" in answer
        async with bot.store.transaction() as session:
            sources = await queries.chat_sources(session, PRIVATE)
        assert [s.url for s in sources] == [feeds.url("/section/feed.xml")]


async def test_any_message_reactivates_a_chat_that_could_not_receive(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    await reply(telegram, PRIVATE, "/start")
    async with newsbot.store.transaction() as session:
        await queries.deactivate_chat(session, PRIVATE)  # as after a 403
    telegram.send_message(PRIVATE, "hello again, no command")

    async def active() -> bool:
        async with newsbot.store.transaction() as session:
            return (await queries.chat_settings(session, PRIVATE)).active

    for _ in range(200):
        if await active():
            break
        await asyncio.sleep(0.05)
    assert await active()


# --- /target: a private chat managing a channel or group --------------------------------

CHANNEL = -1001555
NEW_STORY = {
    "title": "KIDA warns of drone gaps",
    "link": "https://herald.example/kida-drones",
    "description": "The Korea Institute for Defense Analyses published a study.",
}


def add_channel(telegram: TelegramEmulator) -> None:
    """The channel "Alerts desk" (@alertsdesk): PRIVATE created it, the bot administers it."""
    telegram.add_chat(
        CHANNEL,
        "channel",
        title="Alerts desk",
        username="alertsdesk",
        admins={PRIVATE: "creator", telegram.bot_user["id"]: "administrator"},
    )


async def test_a_private_chat_targets_a_channel_whose_alerts_go_there(
    telegram: TelegramEmulator, feeds: FeedServer, tmp_path: Path
) -> None:
    add_channel(telegram)
    telegram.set_member_status(CHANNEL, MEMBER, "member")
    async with running_bot(telegram, feeds, tmp_path, poll_interval=1) as bot:
        assert "act on this chat" in await reply(telegram, PRIVATE, "/target")
        chosen = await reply(telegram, PRIVATE, "/target t.me/alertsdesk")
        assert "act on Alerts desk" in chosen
        assert "act on Alerts desk" in await reply(telegram, PRIVATE, "/target")
        followed = await reply(telegram, PRIVATE, "/follow KIDA")
        assert followed.startswith("For Alerts desk:\nNow following")
        assert "posted there" in followed
        assert (await reply(telegram, PRIVATE, "/list")).startswith("For Alerts desk:\n")
        async with bot.store.transaction() as session:
            assert await queries.chat_follows(session, PRIVATE) == []
            assert [f.tag_key for f in await queries.chat_follows(session, CHANNEL)] == ["kida"]
            channel = await queries.chat_settings(session, CHANNEL)
        assert (channel.type, channel.title) == ("channel", "Alerts desk")

        for _ in range(200):  # the first poll only records the feed's items
            async with bot.store.transaction() as session:
                if await queries.recent_articles_for_chat(session, CHANNEL, 1):
                    break
            await asyncio.sleep(0.05)
        feeds.set_feed("/herald.xml", rss([STORY, NEW_STORY], title="Korea Herald"))
        alert = await asyncio.to_thread(
            telegram.wait_for,
            lambda: next(
                (m for m in telegram.sent_messages(CHANNEL) if NEW_STORY["link"] in m.text), None
            ),
        )
        assert not any(NEW_STORY["link"] in m.text for m in telegram.sent_messages(PRIVATE))

        # Its buttons answer the channel's administrators only.
        unfollow = alert.reply_markup["inline_keyboard"][0][0]["callback_data"]
        assert "administrators" in (await _press(telegram, CHANNEL, unfollow, MEMBER))["text"]
        assert "Stopped following" in (await _press(telegram, CHANNEL, unfollow, PRIVATE))["text"]

        # A failing feed of the channel's is news for its managers, not its subscribers.
        posted = len(telegram.sent_messages(CHANNEL))
        down = Source(url="https://down.example/rss", title="Down", last_error="HTTP 503")
        assert await bot.notices(CHANNEL, down)  # the ingestor's Notify callback
        assert len(telegram.sent_messages(CHANNEL)) == posted
        assert telegram.sent_messages(PRIVATE)[-1].plain_text.startswith("For Alerts desk: ")

        off = await reply(telegram, PRIVATE, "/target off")
        assert "act on this chat again" in off and "Alerts desk" in off
        assert await reply(telegram, PRIVATE, "/list") == texts.NOTHING_FOLLOWED
        assert "already act on this chat" in await reply(telegram, PRIVATE, "/target off")


@pytest.mark.parametrize(
    ("text", "reference"),
    [
        ("@alertsdesk", "@alertsdesk"),
        ("https://t.me/alertsdesk/", "@alertsdesk"),
        ("telegram.me/alertsdesk", "@alertsdesk"),
        ("alertsdesk", "@alertsdesk"),
        ("-1001234567890", -1001234567890),
        ("@abc", None),  # too short for a username
        ("https://t.me/+AbCdEf123", None),  # an invitation link names no chat
        ("my channel", None),
    ],
)
def test_target_references(text: str, reference: str | int | None) -> None:
    assert targets.parse_reference(text) == reference


async def test_target_refuses_with_the_reason_and_what_to_do(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    bot_id = telegram.bot_user["id"]
    add_channel(telegram)
    telegram.set_member_status(CHANNEL, ADMIN, "member")
    telegram.add_chat(
        -1002, "channel", title="Mute", username="mutedesk", admins={PRIVATE: "creator"}
    )
    assert "private chat with me" in await reply(
        telegram, GROUP, "/target @alertsdesk", from_user=ADMIN
    )
    before = len(telegram.sent_messages(CHANNEL))
    telegram.send_channel_post(CHANNEL, "/target")
    posted = await asyncio.to_thread(telegram.wait_for_messages, CHANNEL, before + 1)
    assert "private chat with me" in posted[-1].plain_text
    assert "for example: /target @mychannel" in await reply(telegram, PRIVATE, "/target my channel")
    not_found = await reply(telegram, PRIVATE, "/target @nosuchdesk")
    assert "cannot find @nosuchdesk" in not_found and "administrator first" in not_found
    assert "person's chat" in await reply(telegram, PRIVATE, f"/target {PRIVATE}")
    assert 'not an administrator of "Mute"' in await reply(telegram, PRIVATE, "/target @mutedesk")
    telegram.set_member_status(-1002, bot_id, "administrator", rights={"can_post_messages": False})
    assert "allowed to post" in await reply(telegram, PRIVATE, "/target @mutedesk")
    await reply(telegram, ADMIN, "/start")  # ADMIN's own private chat; a mere member there
    assert "Only the creator or an administrator" in await reply(
        telegram, ADMIN, "/target @alertsdesk"
    )
    assert "act on this chat" in await reply(telegram, PRIVATE, "/target")
    async with newsbot.store.transaction() as session:
        assert await queries.target_of(session, PRIVATE) is None
        assert await queries.target_of(session, ADMIN) is None


async def test_a_supergroup_can_be_a_target_too(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    await reply(telegram, ADMIN, "/start")
    assert "act on Chat -1009" in await reply(telegram, ADMIN, f"/target {GROUP}")
    assert (await reply(telegram, ADMIN, "/follow NATO")).startswith("For Chat -1009:")
    async with newsbot.store.transaction() as session:
        assert [f.tag_key for f in await queries.chat_follows(session, GROUP)] == ["nato"]


async def test_a_demoted_administrator_can_no_longer_act_on_the_target(
    newsbot: NewsBot, telegram: TelegramEmulator
) -> None:
    add_channel(telegram)
    await reply(telegram, PRIVATE, "/target @alertsdesk")
    telegram.set_member_status(CHANNEL, PRIVATE, "member")
    for command in ("/follow NATO", "/list", "/quiet 23:00-07:00"):
        answer = await reply(telegram, PRIVATE, command)
        assert 'no longer an administrator of "Alerts desk", so I did nothing' in answer
    telegram.set_member_status(CHANNEL, PRIVATE, "administrator")
    assert "For Alerts desk:\nNow following" in await reply(telegram, PRIVATE, "/follow NATO")
    telegram.block_chat(CHANNEL)  # the bot was removed from the channel
    assert "would not tell me" in await reply(telegram, PRIVATE, "/unfollow NATO")
    assert "act on this chat again" in await reply(telegram, PRIVATE, "/target off")
    assert "Now following" in await reply(telegram, PRIVATE, "/follow IISS")
    async with newsbot.store.transaction() as session:
        assert [f.tag_key for f in await queries.chat_follows(session, CHANNEL)] == ["nato"]
        assert [f.tag_key for f in await queries.chat_follows(session, PRIVATE)] == ["iiss"]
        assert (await queries.chat_settings(session, CHANNEL)).quiet_start is None
