"""What the bot says, in one place, so wording stays consistent (and translatable later)."""

from __future__ import annotations

from html import escape

from bot.core.aliases import AliasTable
from bot.core.tags import Tag

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
    "/help: this message\n\n"
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
    ("help", "How to use this bot"),
]

ADMINS_ONLY = "Only this group's administrators can change what it follows."
FOLLOW_USAGE = "Tell me what to follow, for example: /follow KIDA, Hanwha Aerospace"
UNFOLLOW_USAGE = "Tell me which tag to drop, for example: /unfollow KIDA"
LATEST_USAGE = "Tell me the tag, for example: /latest KIDA"
ADDSOURCE_USAGE = "Give me a feed address, for example: /addsource https://example.com/rss.xml"
NOTHING_FOLLOWED = "This chat follows no tags yet. Try /follow KIDA"


def describe_tag(tag: Tag, aliases: AliasTable) -> str:
    """How a tag was understood: its name and the other names it will match."""
    others = aliases.expand(tag.name)[1:]
    line = f"<b>{escape(tag.name)}</b>"
    if others:
        line += " (also matches: " + ", ".join(escape(t) for t in others) + ")"
    return line


def followed(added: list[Tag], already: list[Tag], errors: list[str], aliases: AliasTable) -> str:
    parts = []
    if added:
        parts.append("Now following:\n" + "\n".join("• " + describe_tag(t, aliases) for t in added))
        parts.append("New articles that match will be posted here.")
    if already:
        parts.append("Already followed: " + ", ".join(escape(t.name) for t in already))
    parts.extend(escape(e) for e in errors)
    return "\n\n".join(parts)


def unfollowed(removed: list[str], missing: list[str]) -> str:
    parts = []
    if removed:
        parts.append("Stopped following: " + ", ".join(escape(n) for n in removed))
    if missing:
        parts.append("This chat did not follow: " + ", ".join(escape(n) for n in missing))
    return "\n".join(parts)


def tag_list(tags: list[Tag], aliases: AliasTable) -> str:
    return "This chat follows:\n" + "\n".join("• " + describe_tag(t, aliases) for t in tags)


def unknown_command(command: str) -> str:
    return f"I don't know {escape(command)}. Send /help to see what I can do."
