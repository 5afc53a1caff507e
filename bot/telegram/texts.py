"""What the bot says, in one place, so wording stays consistent (and translatable later)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from html import escape

from bot.actions import ALIAS_USAGE, ManagedChat, TagChange
from bot.core.aliases import AliasTable
from bot.core.article import Article
from bot.core.formatting import MAX_MESSAGE_LENGTH, format_article_line
from bot.core.schedule import Plan
from bot.core.tags import Tag, describe
from bot.store.models import Source

HELP = (
    "I send news alerts for the tags you follow: every new article that mentions a tag "
    "reaches this chat once.\n\n"
    "<b>Commands</b>\n"
    "/follow KIDA, Hanwha Aerospace: follow tags (commas or new lines separate tags; "
    "several words make one phrase)\n"
    "/unfollow KIDA: stop following a tag\n"
    "/list: the tags this chat follows\n"
    "/latest KIDA: the five newest stored articles for a tag\n"
    "/addsource https://example.com/feed.xml: poll a feed of this chat's own\n"
    "/sources: the feeds this chat gets, with their health; /removesource URL drops one\n"
    "/alias KIDA = 국방연구원: in this chat, a name that counts as a tag (/unalias undoes)\n"
    "/settings: how alerts are delivered here; change with /digest off|hourly|daily 08:00, "
    "/timezone Asia/Seoul, /quiet 23:00-07:00 (or off)\n"
    "/target @channel: in a private chat with me, manage a channel or group you "
    "administer (the commands above then act there; /target off comes back)\n"
    "/help: this message\n\n"
    "Quotes, OR and -word work as in a search box: /follow K2 tank -toy or "
    '/follow "LIG Nex1" OR LIG넥스원\n\n'
    "A tag matches whole words in any case, and well-known names match their aliases: "
    "following KIDA also finds \u201cKorea Institute for Defense Analyses\u201d and "
    "#KoreaInstituteforDefenseAnalyses. In groups, only administrators change the tags."
)

COMMANDS = [
    ("follow", "Follow tags: /follow KIDA, NATO"),
    ("unfollow", "Stop following tags"),
    ("list", "Show the tags this chat follows"),
    ("latest", "Newest articles for a tag"),
    ("addsource", "Poll a feed of this chat's own"),
    ("sources", "The feeds this chat gets, with their health"),
    ("removesource", "Drop a feed this chat added"),
    ("alias", "Add a name that counts as a tag here"),
    ("unalias", "Remove such a name"),
    ("settings", "How alerts are delivered here"),
    ("digest", "Alerts as a digest: off, hourly, daily 08:00"),
    ("timezone", "This chat's time zone, e.g. Asia/Seoul"),
    ("quiet", "Quiet hours, e.g. 23:00-07:00, or off"),
    ("target", "In private: manage a channel you administer"),
    ("help", "How to use this bot"),
]

ADMINS_ONLY = "Only this chat's administrators can change what it follows."
FOLLOW_USAGE = "Tell me what to follow, for example: /follow KIDA, Hanwha Aerospace"
UNFOLLOW_USAGE = "Tell me which tag to drop, for example: /unfollow KIDA"
LATEST_USAGE = "Tell me the tag, for example: /latest KIDA"
ADDSOURCE_USAGE = "Give me a feed address, for example: /addsource https://example.com/rss.xml"
REMOVESOURCE_USAGE = "Tell me which feed to drop, for example: /removesource 12 (see /sources)"
DIGEST_USAGE = "Write /digest off, /digest hourly or /digest daily 08:00"
TIMEZONE_USAGE = "Write /timezone Area/City, for example /timezone Asia/Seoul"
QUIET_USAGE = "Write /quiet 23:00-07:00 to hold alerts at night, or /quiet off"
NOTHING_FOLLOWED = "This chat follows no tags yet. Try /follow KIDA"


def describe_tag(tag: Tag, aliases: AliasTable, own: Sequence[str] = ()) -> str:
    """How a tag was understood (phrases, aliases, exclusions), and this chat's own aliases."""
    line = escape(describe(tag, aliases))
    if own:
        line += " (here also: " + ", ".join(escape(name) for name in own) + ")"
    return line


def followed(change: TagChange, aliases: AliasTable, here: bool = True) -> str:
    """`here`: alerts go to the chat the command came from, not to its /target."""
    parts = []
    if change.changed:
        lines = "\n".join("• " + describe_tag(t, aliases) for t in change.changed)
        where = "here" if here else "there"
        parts.append(f"Now following:\n{lines}\n\nNew articles that match will be posted {where}.")
    if change.unchanged:
        parts.append("Already followed: " + ", ".join(escape(t.name) for t in change.unchanged))
    parts.extend(escape(e) for e in change.errors)
    return "\n\n".join(parts)


def unfollowed(change: TagChange) -> str:
    parts = []
    if change.changed:
        parts.append("Stopped following: " + ", ".join(escape(t.name) for t in change.changed))
    if change.unchanged:
        parts.append(
            "This chat did not follow: " + ", ".join(escape(t.name) for t in change.unchanged)
        )
    parts.extend(escape(e) for e in change.errors)
    return "\n".join(parts)


def tag_list(tags: list[Tag], aliases: AliasTable, own: Mapping[str, list[str]]) -> str:
    """The chat's tags, each with the names it matches, this chat's aliases included."""
    if not tags:
        return escape(NOTHING_FOLLOWED)
    lines = ("• " + describe_tag(t, aliases, own.get(t.key, ())) for t in tags)
    return "This chat follows:\n" + "\n".join(lines)


def chat_aliases(own: Mapping[str, list[str]]) -> str:
    if not own:
        return "This chat has no aliases of its own. " + escape(ALIAS_USAGE)
    lines = (f"• {escape(key)} = {escape(', '.join(names))}" for key, names in own.items())
    return "This chat's aliases:\n" + "\n".join(lines)


def alias_added(tag: str, name: str, added: bool) -> str:
    if not added:
        return f"{escape(name)} already counts as {escape(tag)} here."
    return f"In this chat, {escape(name)} now counts as <b>{escape(tag)}</b>."


def alias_removed(tag: str, name: str, removed: bool) -> str:
    if not removed:
        return f"{escape(name)} was not an alias of {escape(tag)} here."
    return f"{escape(name)} no longer counts as {escape(tag)} here."


def latest(tag: Tag, articles: list[Article]) -> str:
    if not articles:
        return f"No stored articles match {escape(tag.name)} yet."
    lines = "\n".join(format_article_line(a) for a in articles)
    return f"Latest for <b>{escape(tag.name)}</b>:\n{lines}"


def source_added(url: str, items: int, here: bool = True) -> str:
    return (
        f"Added {escape(url)}: it lists {items} {'article' if items == 1 else 'articles'} now. "
        f"New ones that match this chat's tags will be posted {'here' if here else 'there'}."
    )


def source_removed(url: str) -> str:
    return f"Removed {escape(url)}."


def unknown_command(command: str) -> str:
    return f"I don't know {escape(command)}. Send /help to see what I can do."


def split_message(html_text: str, limit: int = MAX_MESSAGE_LENGTH) -> list[str]:
    """Cut a long reply at line breaks into messages Telegram accepts.

    Our replies keep every tag pair on one line, so a cut between lines never splits
    markup; a single line longer than the limit is cut hard (it can only be plain text).
    """
    parts: list[str] = []
    current = ""
    for line in html_text.split("\n"):
        while len(line) > limit:
            if current:
                parts.append(current)
                current = ""
            parts.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            parts.append(current)
            candidate = line
        current = candidate
    if current.strip():
        parts.append(current)
    return parts or [html_text]


def settings(plan: Plan) -> str:
    """The chat's delivery settings, in words."""
    digest = {
        "off": "each alert as it comes (a digest when more than a few arrive at once)",
        "hourly": "one digest an hour",
        "daily": f"one digest a day at {plan.digest_at:%H:%M}",
    }[plan.digest]
    quiet = (
        f"{plan.quiet[0]:%H:%M}-{plan.quiet[1]:%H:%M}, held alerts come after"
        if plan.quiet
        else "none"
    )
    lines = [
        "<b>Delivery settings</b>",
        f"Alerts: {digest}",
        f"Time zone: {escape(plan.timezone)}",
        f"Quiet hours: {quiet}",
    ]
    if plan.muted_until and plan.muted_until > datetime.now(UTC):
        local = plan.muted_until.astimezone(plan.zone)
        lines.append(f"Muted until {local:%Y-%m-%d %H:%M}")
    return "\n".join(lines)


def sources(own: Sequence[Source], shared: int) -> str:
    """The chat's own feeds with their health, and the count of feeds every chat gets."""
    lines = [f"This chat gets the {shared} feeds the bot polls for everyone."]
    if own:
        lines.append("Its own feeds (/addsource):")
        lines += [
            f"• {source.id}: {escape(source.title or source.url)}: {escape(source.health())}"
            for source in own
        ]
    else:
        lines.append("It has no feeds of its own; /addsource adds one.")
    return "\n".join(lines)


def failing_source(source: Source, channel: str | None = None) -> str:
    """The one notice a chat gets when a feed it added has failed for a day (for a channel,
    its managers get it, naming the channel)."""
    where = f"For {escape(channel)}: " if channel else ""
    return (
        f"{where}The feed {escape(source.title or source.url)} ({escape(source.url)}) has failed "
        f"for more than a day: {escape(source.last_error or 'no answer')}. I keep trying; "
        "/sources shows its state and /removesource drops it."
    )


# --- /target: managing a channel or group from a private chat ---------------------------
# Refusals are plain text (ActionError messages are escaped); the rest is HTML.

TARGET_USAGE = (
    "Name the channel or group as @name, t.me/name or its numeric id (such as "
    "-1001234567890), for example: /target @mychannel. /target off manages this chat again."
)
TARGET_PRIVATE_ONLY = (
    "/target works in a private chat with me: open one, send /target @yourchannel there, "
    "and the commands you send me there act on that channel. Here, commands act on this chat."
)
TARGET_IS_A_PERSON = "That is a person's chat; /target takes a channel or a group."


def target_not_found(reference: str) -> str:
    return (
        f"I cannot find {reference}. Add me to the channel as an administrator first (with "
        "the right to post messages), then send /target again. A private channel has no "
        "@name: use its numeric id."
    )


def bot_cannot_post(title: str, chat_type: str) -> str:
    if chat_type == "channel":
        return (
            f'I am not an administrator of "{title}" allowed to post messages. Make me one '
            '(with "Post messages" on), then send /target again.'
        )
    return f'I cannot write in "{title}". Add me to it, then send /target again.'


def not_target_admin(title: str) -> str:
    return (
        f'Only the creator or an administrator of "{title}" can manage it from here, and '
        "Telegram says you are not one."
    )


def target_demoted(title: str) -> str:
    return (
        f'You are no longer an administrator of "{title}", so I did nothing. /target off '
        "goes back to managing this chat."
    )


def target_unreachable(title: str) -> str:
    return (
        f'Telegram would not tell me whether you still administer "{title}" (was I removed '
        "from it?), so I did nothing. Add me back as an administrator, or send /target off."
    )


def target_set(target: ManagedChat) -> str:
    return (
        f"From now on, the commands you send here act on <b>{escape(target.title)}</b>: "
        "/follow KIDA here, and KIDA's alerts are posted there. /target off manages this "
        "chat again."
    )


def target_shown(target: ManagedChat | None) -> str:
    if target is None:
        return (
            "Commands here act on this chat. To manage a channel or group you administer, "
            "add me to it as an administrator allowed to post, then send /target @name (or "
            "its t.me link, or its numeric id)."
        )
    return (
        f"Commands here act on <b>{escape(target.title)}</b>. /target @other switches to "
        "another chat; /target off comes back to this one."
    )


def target_cleared(previous: ManagedChat | None) -> str:
    if previous is None:
        return "Commands here already act on this chat."
    return (
        f"Commands here act on this chat again. <b>{escape(previous.title)}</b> keeps its "
        "tags and gets its alerts as before."
    )


def acting_on(target: ManagedChat | None, html_text: str) -> str:
    """A command's answer; on a /target, led by the chat it acted on."""
    if target is None:
        return html_text
    return f"For <b>{escape(target.title)}</b>:\n{html_text}"
