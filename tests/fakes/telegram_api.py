"""An offline Telegram Bot API server for tests: real HTTP on 127.0.0.1, Telegram-shaped answers.

The bot under test talks to it exactly as it talks to api.telegram.org (its API root is
`TelegramEmulator.root_url`), so the whole stack — PTB's request layer, error mapping, long
polling, our own retry logic — is exercised. The server runs in its own daemon threads, so it
serves an in-process bot (async tests) and a `newsbot run` subprocess alike, while the test
drives it through a small synchronous, thread-safe API.

Wire format, as PTB 22 sends it (verified against telegram/request/_httpxrequest.py): a POST
to `{root}/bot{token}/{method}` with an empty body when there are no parameters,
`application/x-www-form-urlencoded` otherwise, and `multipart/form-data` only when files are
uploaded. Strings travel raw; every other value (ints, bools, reply_markup, commands, ...) is
JSON-encoded into the form field. `application/json` bodies and query strings are accepted too.

Methods not implemented here answer 404 "Not Found" — like Telegram does for unknown methods —
rather than a made-up success: an unexpected call then fails loudly and shows up in `calls`.
Note that PTB maps 404 (and 401) to `telegram.error.InvalidToken`.
"""

from __future__ import annotations

import contextlib
import copy
import email.policy
import json
import logging
import math
import random
import re
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, NamedTuple, NoReturn, TypeVar
from urllib.parse import parse_qsl, urlsplit

_LOG = logging.getLogger(__name__)

JSON = dict[str, Any]
ChatType = Literal["private", "group", "supergroup", "channel"]
#: "kicked" and "restricted" are left out: their ChatMember objects need fields we do not model.
MemberStatus = Literal["creator", "administrator", "member", "left"]
_T = TypeVar("_T")

#: Telegram's stand-in sender for messages an admin posts anonymously on behalf of the group.
GROUP_ANONYMOUS_BOT: JSON = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
#: Telegram's stand-in sender for messages posted in a group on behalf of a channel.
CHANNEL_BOT: JSON = {
    "id": 136817688,
    "is_bot": True,
    "first_name": "Channel",
    "username": "Channel_Bot",
}
MAX_MESSAGE_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_UPDATES_PER_CALL = 100

#: Parameters whose form value is JSON-encoded by clients (Integer, Boolean, JSON-serialised
#: objects in the Bot API docs). Every other form value is a plain string, as on Telegram;
#: add names here when a newly emulated method takes a typed parameter.
_TYPED_PARAMS = frozenset(
    {
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "allowed_updates",
        "cache_time",
        "caption_entities",
        "chat_id",
        "commands",
        "disable_notification",
        "disable_web_page_preview",
        "drop_pending_updates",
        "entities",
        "from_chat_id",
        "limit",
        "link_preview_options",
        "max_connections",
        "message_id",
        "message_ids",
        "message_thread_id",
        "offset",
        "protect_content",
        "reply_markup",
        "reply_parameters",
        "reply_to_message_id",
        "revoke_messages",
        "scope",
        "show_alert",
        "timeout",
        "user_id",
    }
)

_ADMIN_RIGHTS: JSON = {
    "can_be_edited": False,
    "is_anonymous": False,
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_manage_video_chats": True,
    "can_restrict_members": True,
    "can_promote_members": False,
    "can_change_info": True,
    "can_invite_users": True,
    "can_post_stories": False,
    "can_edit_stories": False,
    "can_delete_stories": False,
}
#: Rights the Bot API sends only for some chat types ("channels only", "groups only", ...).
_ADMIN_RIGHTS_BY_CHAT_TYPE: dict[str, JSON] = {
    "channel": {"can_post_messages": True, "can_edit_messages": True},
    "group": {"can_pin_messages": True},
    "supergroup": {"can_pin_messages": True, "can_manage_topics": False},
}

_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
}

#: Methods Telegram refuses while a chat's retry_after runs (lower case, as looked up).
_RETRY_AFTER_METHODS = frozenset({"sendmessage", "editmessagetext"})

_PATH_RE = re.compile(r"/bot([^/]+)/([A-Za-z0-9_]+)/?")
_BOT_COMMAND_RE = re.compile(r"(?<![\w/<>])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/<>])")
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]{1,32}")


class ApiError(Exception):
    """A Bot API error answer; raised anywhere in request handling to end the request."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _status_error(
    status: int,
    description: str | None = None,
    retry_after: int | None = None,
    migrate_to_chat_id: int | None = None,
) -> ApiError:
    """An error answer with Telegram's usual wording when no description is given."""
    if status == 429 and retry_after is None and migrate_to_chat_id is None:
        retry_after = 1
    parameters: JSON = {}
    if retry_after is not None:
        parameters["retry_after"] = retry_after
    if migrate_to_chat_id is not None:
        parameters["migrate_to_chat_id"] = migrate_to_chat_id
    if description is None:
        if retry_after is not None:
            description = f"Too Many Requests: retry after {retry_after}"
        elif migrate_to_chat_id is not None:
            description = "Bad Request: group chat was upgraded to a supergroup chat"
        else:
            description = _DEFAULT_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
    return ApiError(status, description, parameters or None)


def _whole_seconds(wait: float) -> int:
    """A wait as Telegram's `retry_after`: whole seconds, rounded up, at least one."""
    return max(1, math.ceil(wait))


class Call(NamedTuple):
    """One authorised request, with its parameters decoded (see `_TYPED_PARAMS`)."""

    method: str
    params: JSON


@dataclass(frozen=True)
class SentMessage:
    """A message sendMessage accepted; `text` is what the bot sent, `plain_text` what users see."""

    chat_id: int
    message_id: int
    text: str
    plain_text: str
    parse_mode: str | None
    reply_markup: JSON | None
    message_thread_id: int | None
    params: JSON
    message: JSON


@dataclass
class _Fault:
    method: str
    error: ApiError
    remaining: int
    chat_id: int | str | None


@dataclass
class _ChatState:
    chat: JSON
    members: dict[int, MemberStatus] = field(default_factory=dict)
    rights: dict[int, JSON] = field(default_factory=dict)  # an administrator's non-default rights
    messages: dict[int, JSON] = field(default_factory=dict)
    bot_message_ids: set[int] = field(default_factory=set)
    last_message_id: int = 0
    forbidden: str | None = None  # the 403 description while the bot may not use the chat


@dataclass(frozen=True)
class RateLimits:
    """Telegram's documented sending limits, as the emulator enforces them.

    A message that would break one is answered 429 with `retry_after` and counted in
    `TelegramEmulator.violations`; `tolerance` absorbs the jitter between a bot's clock and
    the moment its request lands here. Tests scale the limits down: `group_window` is the
    span (seconds) in which a group takes `group_per_minute` messages, a minute on Telegram.
    A message sent with `allow_paid_broadcast` counts against `paid_per_second` instead of
    `global_per_second`.
    """

    per_chat_interval: float = 1.0
    group_per_minute: int = 20
    group_window: float = 60.0
    global_per_second: int = 30
    paid_per_second: int = 1000
    tolerance: float = 0.05


@dataclass
class _SendLog:
    """When the bot's accepted messages landed, for the limit checks."""

    all: deque[float] = field(default_factory=deque)
    by_chat: dict[int, deque[float]] = field(default_factory=dict)


_Handler = Callable[["TelegramEmulator", JSON], Any]
_METHODS: dict[str, tuple[str, _Handler]] = {}


def _api_method(name: str) -> Callable[[_Handler], _Handler]:
    """Register a Bot API method; lookup is case-insensitive, like Telegram's."""

    def register(handler: _Handler) -> _Handler:
        _METHODS[name.lower()] = (name, handler)
        return handler

    return register


class TelegramEmulator:
    """A Bot API server holding one bot's world: users, chats, pending updates, sent messages.

    All state sits behind one lock with a condition variable, so HTTP handler threads and the
    test thread see a consistent picture and the `wait_for*` helpers wake on every change.
    """

    def __init__(
        self, token: str = "123456:TEST-token", bot_username: str = "newsbot_test_bot"
    ) -> None:
        bot_id, _, secret = token.partition(":")
        if not bot_id.isdigit() or not secret:
            raise ValueError(f"a bot token looks like '<bot id>:<secret>', got {token!r}")
        self.token = token
        self.bot_user: JSON = {
            "id": int(bot_id),
            "is_bot": True,
            "first_name": "Newsbot Test",
            "username": bot_username,
        }
        self._cond = threading.Condition(threading.RLock())
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._users: dict[int, JSON] = {self.bot_user["id"]: self.bot_user}
        self._chats: dict[int, _ChatState] = {}
        self._updates: list[JSON] = []
        self._last_update_id = 0
        self._poll_generation = 0
        self._open_callback_queries: set[str] = set()
        self._last_callback_query_id = 0
        self._calls: list[Call] = []
        self._sent: list[SentMessage] = []
        self._faults: list[_Fault] = []
        self._random_faults: dict[str, list[tuple[float, int]]] = {}
        self._random = random.Random(0)
        self._limits: RateLimits | None = None
        self._send_log = _SendLog()
        self.violations: list[str] = []
        self._retry_until: dict[str, float] = {}  # chat_id param -> end of its retry_after
        self._delays: dict[str, float] = {}
        self._webhook: JSON = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> TelegramEmulator:
        """Bind a free port and serve; one emulator serves once (stop is final)."""
        if self._server is not None or self._stopping.is_set():
            raise RuntimeError("a TelegramEmulator can only be started once")
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # bounds how long stop() waits for the accept loop
            name=f"telegram-emulator:{self._server.server_port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; wakes long polls and delays, and cuts keep-alive connections."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        with self._cond:
            self._stopping.set()
            self._cond.notify_all()
        server.shutdown()
        server.close_connections(grace=2.0)
        server.server_close()
        thread.join(timeout=5)

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def root_url(self) -> str:
        """The API root to configure the bot with (TELEGRAM_API_URL)."""
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def base_url(self) -> str:
        """PTB's `base_url` (the token is appended to it)."""
        return f"{self.root_url}/bot"

    # -- world setup -------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str | None = None,
        *,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = None,
    ) -> JSON:
        """Register (or replace) a human user and return its User object."""
        user: JSON = {"id": user_id, "is_bot": False, "first_name": first_name or f"User{user_id}"}
        optional = {"last_name": last_name, "username": username, "language_code": language_code}
        user.update({key: value for key, value in optional.items() if value is not None})
        with self._cond:
            self._users[user_id] = user
        return copy.deepcopy(user)

    def add_chat(
        self,
        chat_id: int,
        type: ChatType = "supergroup",
        *,
        title: str | None = None,
        username: str | None = None,
        is_forum: bool = False,
        admins: Mapping[int, MemberStatus] | None = None,
    ) -> JSON:
        """Create a chat the bot is a member of; `admins` maps user ids to their status.

        A private chat's id is its user's id. Put the bot's own id in `admins` to make the bot
        an administrator.
        """
        with self._cond:
            if type == "private":
                user = self._user(chat_id)
                chat: JSON = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
                for key in ("last_name", "username"):
                    if key in user:
                        chat[key] = user[key]
            else:
                chat = {"id": chat_id, "type": type, "title": title or f"Chat {chat_id}"}
                if username:
                    chat["username"] = username
                if is_forum:
                    chat["is_forum"] = True
            state = _ChatState(chat=chat)
            state.members[self.bot_user["id"]] = "member"
            if type == "private":
                state.members[chat_id] = "member"
            for user_id, status in (admins or {}).items():
                self._user(user_id)
                state.members[user_id] = status
            self._chats[chat_id] = state
            return copy.deepcopy(chat)

    def set_member_status(
        self,
        chat_id: int,
        user_id: int,
        status: MemberStatus,
        *,
        rights: Mapping[str, bool] | None = None,
    ) -> None:
        """Promote, demote or remove a user, e.g. to test admin checks mid-conversation.

        `rights` overrides an administrator's default rights, e.g. {"can_post_messages":
        False} for a channel administrator who may not post.
        """
        with self._cond:
            self._user(user_id)
            state = self._existing_chat(chat_id)
            state.members[user_id] = status
            state.rights[user_id] = dict(rights or {})

    def block_chat(self, chat_id: int, description: str | None = None) -> None:
        """Answer 403 to everything the bot does in this chat until `unblock_chat`."""
        with self._cond:
            state = self._existing_chat(chat_id)
            kind = state.chat["type"]
            state.forbidden = description or (
                "Forbidden: bot was blocked by the user"
                if kind == "private"
                else f"Forbidden: bot was kicked from the {kind} chat"
            )

    def unblock_chat(self, chat_id: int) -> None:
        with self._cond:
            self._existing_chat(chat_id).forbidden = None

    # -- incoming traffic (what users do) ----------------------------------------------------

    def send_message(
        self,
        chat_id: int,
        text: str,
        *,
        from_user: int | JSON | None = None,
        sender_chat: int | None = None,
        message_thread_id: int | None = None,
    ) -> int:
        """A user writes `text` in a chat; returns the update_id.

        `from_user` defaults to the chat's user in private chats (the chat is created on first
        use). With `sender_chat` (a message on behalf of a chat) and no `from_user`, `from` is
        Telegram's placeholder: GroupAnonymousBot for the group itself, Channel_Bot for a
        channel. Commands anywhere in the text get `bot_command` entities, as on Telegram.
        """
        with self._cond:
            if sender_chat is not None and from_user is None:
                from_user = GROUP_ANONYMOUS_BOT if sender_chat == chat_id else CHANNEL_BOT
            elif from_user is None:
                if chat_id <= 0:
                    raise ValueError("a group message needs from_user or sender_chat")
                from_user = chat_id
            user = self._user(from_user) if isinstance(from_user, int) else self._adopt(from_user)
            if chat_id not in self._chats and chat_id == user["id"]:
                self.add_chat(chat_id, "private")
            state = self._existing_chat(chat_id)
            sender: JSON = {"from": user}
            if sender_chat is not None:
                sender["sender_chat"] = self._existing_chat(sender_chat).chat
            elif state.members.get(user["id"], "left") == "left":
                state.members[user["id"]] = "member"  # Telegram knows who has written here
            message = self._incoming_message(state, sender, text, message_thread_id)
            return self.push_update({"message": message})

    def send_anonymous_admin_message(
        self, chat_id: int, text: str, *, message_thread_id: int | None = None
    ) -> int:
        """An admin posts anonymously: `from` is GroupAnonymousBot, `sender_chat` the group."""
        return self.send_message(
            chat_id, text, sender_chat=chat_id, message_thread_id=message_thread_id
        )

    def send_channel_post(self, chat_id: int, text: str) -> int:
        """A post in a channel the bot is in (a `channel_post` update, no `from`)."""
        with self._cond:
            state = self._existing_chat(chat_id)
            message = self._incoming_message(state, {"sender_chat": state.chat}, text, None)
            return self.push_update({"channel_post": message})

    def send_callback_query(
        self, chat_id: int, message_id: int, data: str, *, from_user: int | JSON
    ) -> int:
        """A user presses an inline button under one of the bot's messages."""
        with self._cond:
            user = self._user(from_user) if isinstance(from_user, int) else self._adopt(from_user)
            message = self._existing_chat(chat_id).messages.get(message_id)
            if message is None:
                raise KeyError(f"no message {message_id} in chat {chat_id}")
            self._last_callback_query_id += 1
            query = {
                "id": str(self._last_callback_query_id),
                "from": user,
                "message": message,
                "chat_instance": str(chat_id),
                "data": data,
            }
            return self.push_update({"callback_query": query})

    def push_update(self, update: JSON) -> int:
        """Queue any Update (without update_id) for getUpdates; returns the assigned id."""
        with self._cond:
            self._last_update_id += 1
            queued = copy.deepcopy(update)
            queued["update_id"] = self._last_update_id
            if "callback_query" in queued:
                self._open_callback_queries.add(str(queued["callback_query"]["id"]))
            self._updates.append(queued)
            self._cond.notify_all()
            return self._last_update_id

    # -- fault and latency injection ---------------------------------------------------------

    def fail_next(
        self,
        method: str,
        status: int,
        description: str | None = None,
        *,
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
        count: int = 1,
        chat_id: int | str | None = None,
    ) -> None:
        """Answer the next `count` calls of `method` (for `chat_id`, if given) with an error.

        Without a description, Telegram's usual one for the status is used, e.g.
        "Too Many Requests: retry after 3" for 429 with `retry_after=3`.
        """
        error = _status_error(status, description, retry_after, migrate_to_chat_id)
        with self._cond:
            self._faults.append(_Fault(method.lower(), error, count, chat_id))

    def enforce_limits(self, limits: RateLimits | None = RateLimits()) -> None:
        """Answer 429 to messages that break Telegram's limits (None switches it off).

        Also, as Telegram does, a message or edit to a chat before the `retry_after` of its
        last 429 has passed is answered 429 again and counted in `violations`.
        """
        with self._cond:
            self._limits = limits

    def fail_randomly(self, method: str, rates: Mapping[int, float], *, seed: int = 0) -> None:
        """Answer a share of `method` calls with errors, e.g. {429: 0.2, 500: 0.1}.

        A random 429 carries retry_after=1. Seeded, so a failing run can be replayed.
        """
        with self._cond:
            self._random = random.Random(seed)
            self._random_faults[method.lower()] = list(rates.items())

    def delay(self, method: str, seconds: float) -> None:
        """Answer every call of `method` `seconds` late (0 removes the delay)."""
        with self._cond:
            if seconds > 0:
                self._delays[method.lower()] = seconds
            else:
                self._delays.pop(method.lower(), None)

    # -- observation -------------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """Every authorised request so far, in arrival order (including failed ones)."""
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[JSON]:
        """The parameters of every call of `method` (case-insensitive)."""
        with self._cond:
            return [call.params for call in self._calls if call.method.lower() == method.lower()]

    def sent_messages(self, chat_id: int | None = None) -> list[SentMessage]:
        with self._cond:
            return [sent for sent in self._sent if chat_id is None or sent.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The message as it is now (after edits), or None if deleted or never sent."""
        with self._cond:
            return copy.deepcopy(self._existing_chat(chat_id).messages.get(message_id))

    def pending_updates(self) -> list[JSON]:
        """Updates not yet confirmed by a getUpdates offset."""
        with self._cond:
            return copy.deepcopy(self._updates)

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list setMyCommands stored for this scope and language."""
        with self._cond:
            return copy.deepcopy(self._commands.get(_commands_key(scope, language_code), []))

    @property
    def webhook_url(self) -> str:
        with self._cond:
            return str(self._webhook.get("url", ""))

    def wait_for(
        self, predicate: Callable[[], _T], timeout: float = 10.0, *, what: str | None = None
    ) -> _T:
        """Block until `predicate()` is truthy and return its value.

        Re-evaluated on every state change (calls, sends, updates), so no polling. On timeout
        raises AssertionError describing `what` was awaited and what the bot did meanwhile.
        """
        with self._cond:
            result = self._cond.wait_for(predicate, timeout)
            if not result:
                awaited = what or getattr(predicate, "__qualname__", repr(predicate))
                raise AssertionError(
                    f"timed out after {timeout}s waiting for {awaited}\n{self._summary()}"
                )
            return result

    def wait_for_messages(
        self, chat_id: int, count: int = 1, timeout: float = 10.0
    ) -> list[SentMessage]:
        """Block until the bot has sent at least `count` messages to `chat_id`; return them all."""

        def enough_sent() -> list[SentMessage] | None:
            sent = self.sent_messages(chat_id)
            return sent if len(sent) >= count else None

        return self.wait_for(enough_sent, timeout, what=f"{count} message(s) to chat {chat_id}")

    def _summary(self) -> str:
        sent = "\n".join(f"  chat {m.chat_id}: {m.text!r}" for m in self._sent[-10:])
        calls = ", ".join(call.method for call in self._calls[-20:])
        return (
            f"sent messages (last 10):\n{sent or '  (none)'}\n"
            f"recent calls (last 20): {calls or '(none)'}\n"
            f"pending updates: {len(self._updates)}"
        )

    # -- request handling --------------------------------------------------------------------

    def _dispatch(self, path: str, query: str, content_type: str, body: bytes) -> tuple[int, JSON]:
        """Answer one HTTP request: route, authorise, decode, inject faults, run the method."""
        try:
            match = _PATH_RE.fullmatch(path)
            if match is None:
                raise ApiError(404, "Not Found")
            if match[1] != self.token:
                raise ApiError(401, "Unauthorized")
            name, handler = _METHODS.get(match[2].lower(), (match[2], None))
            params = _parse_params(query, content_type, body)
        except ApiError as error:
            return error.status, error.payload()
        with self._cond:
            self._calls.append(Call(name, params))
            self._cond.notify_all()
            delay = self._delays.get(name.lower(), 0.0)
        if delay:
            self._stopping.wait(delay)
        with self._cond:
            try:
                self._check_retry_after(name, params)
                self._raise_injected_fault(name, params)
                if handler is None:
                    raise ApiError(404, "Not Found")
                result = handler(self, params)
            except ApiError as error:
                self._note_retry_after(name, params, error)
                return error.status, error.payload()
            finally:
                self._cond.notify_all()
            return 200, {"ok": True, "result": copy.deepcopy(result)}

    def _check_retry_after(self, method: str, params: JSON) -> None:
        """Under enforced limits, refuse (429, counted) a chat that was told to wait longer."""
        if self._limits is None or method.lower() not in _RETRY_AFTER_METHODS:
            return
        chat_id = str(params.get("chat_id"))
        wait = self._retry_until.get(chat_id, 0.0) - time.monotonic()
        if wait > self._limits.tolerance:
            self.violations.append(f"retry_after ignored in chat {chat_id}")
            raise _status_error(429, retry_after=_whole_seconds(wait))

    def _note_retry_after(self, method: str, params: JSON, error: ApiError) -> None:
        """Remember until when a chat that got a 429 must wait."""
        retry_after = (error.parameters or {}).get("retry_after")
        if retry_after is None or method.lower() not in _RETRY_AFTER_METHODS:
            return
        chat_id, until = str(params.get("chat_id")), time.monotonic() + retry_after
        self._retry_until[chat_id] = max(self._retry_until.get(chat_id, 0.0), until)

    def _raise_injected_fault(self, method: str, params: JSON) -> None:
        rates = self._random_faults.get(method.lower(), ())
        roll = self._random.random() if rates else 1.0  # draw only where faults are set
        for status, share in rates:
            if roll < share:
                raise _status_error(status)
            roll -= share
        for fault in self._faults:
            if fault.method != method.lower():
                continue
            if fault.chat_id is not None and str(fault.chat_id) != str(params.get("chat_id")):
                continue
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.remove(fault)
            raise fault.error

    # -- state helpers (call with the lock held) ---------------------------------------------

    def _user(self, user_id: int) -> JSON:
        """A known user, or a placeholder one: tests need not declare every user."""
        if user_id not in self._users:
            self._users[user_id] = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        return self._users[user_id]

    def _adopt(self, user: JSON) -> JSON:
        """Register a User object given by the test (merged over placeholder defaults)."""
        adopted = {"is_bot": False, "first_name": f"User{user['id']}", **user}
        self._users[adopted["id"]] = adopted
        return adopted

    def _existing_chat(self, chat_id: int) -> _ChatState:
        """Test-side lookup: an unknown chat is a mistake in the test, not an API error."""
        if chat_id not in self._chats:
            raise KeyError(f"chat {chat_id} is unknown; add it with add_chat() first")
        return self._chats[chat_id]

    def _chat(self, params: JSON) -> _ChatState:
        """API-side lookup of `chat_id` (numeric or @username), enforcing 403 on blocked chats."""
        chat_id = params.get("chat_id")
        if chat_id is None or chat_id == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        state: _ChatState | None
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            wanted = chat_id[1:].lower()
            state = next(
                (s for s in self._chats.values() if s.chat.get("username", "").lower() == wanted),
                None,
            )
        else:
            try:
                state = self._chats.get(int(chat_id))
            except (TypeError, ValueError):
                state = None
        if state is None:
            raise ApiError(400, "Bad Request: chat not found")
        if state.forbidden:
            raise ApiError(403, state.forbidden)
        return state

    def _new_message(self, state: _ChatState, sender: JSON, thread_id: int | None) -> JSON:
        state.last_message_id += 1
        message: JSON = {
            "message_id": state.last_message_id,
            **sender,
            "chat": state.chat,
            "date": int(time.time()),
        }
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            if state.chat.get("is_forum"):
                message["is_topic_message"] = True
        state.messages[state.last_message_id] = message
        return message

    def _incoming_message(
        self, state: _ChatState, sender: JSON, text: str, thread_id: int | None
    ) -> JSON:
        message = self._new_message(state, sender, thread_id)
        message["text"] = text
        if entities := _bot_command_entities(text):
            message["entities"] = entities
        return message

    def _post_message(self, state: _ChatState, content: JSON, params: JSON) -> JSON:
        """The one path every bot-authored message takes, so rights and limits are checked here."""
        self._check_may_post(state)
        self._check_limits(state.chat, paid=params.get("allow_paid_broadcast") is True)
        reply_to = self._reply_target(state, params)
        is_channel = state.chat["type"] == "channel"
        sender = {"sender_chat": state.chat} if is_channel else {"from": self.bot_user}
        message = self._new_message(state, sender, _int_param(params, "message_thread_id"))
        if reply_to is not None:
            message["reply_to_message"] = {
                k: v for k, v in reply_to.items() if k != "reply_to_message"
            }
        message.update(content)
        state.bot_message_ids.add(message["message_id"])
        return message

    def _check_may_post(self, state: _ChatState) -> None:
        """In a channel only administrators with the right to post may post, as on Telegram."""
        if state.chat["type"] != "channel":
            return
        member = self._chat_member(state, self.bot_user["id"])
        if member["status"] == "left":
            raise ApiError(403, "Forbidden: bot is not a member of the channel chat")
        if member["status"] != "creator" and not member.get("can_post_messages"):
            raise ApiError(400, "Bad Request: need administrator rights in the channel chat")

    def _check_limits(self, chat: JSON, *, paid: bool) -> None:
        """Raise 429 (and count a violation) if this message breaks a limit; else log it."""
        if self._limits is None:
            return
        limits, log, now = self._limits, self._send_log, time.monotonic()
        chat_times = log.by_chat.setdefault(chat["id"], deque())
        for times, window in ((log.all, 1.0), (chat_times, limits.group_window)):
            while times and times[0] <= now - window:
                times.popleft()
        waits = []
        if chat_times and now - chat_times[-1] < limits.per_chat_interval - limits.tolerance:
            waits.append(("per-chat", chat_times[-1] + limits.per_chat_interval - now))
        if chat["type"] in ("group", "supergroup") and len(chat_times) >= limits.group_per_minute:
            waits.append(("per-group", chat_times[0] + limits.group_window - now))
        if len(log.all) >= (limits.paid_per_second if paid else limits.global_per_second):
            waits.append(("global", log.all[0] + 1.0 - now))
        if waits:
            kind, wait = max(waits, key=lambda w: w[1])
            self.violations.append(f"{kind} limit in chat {chat['id']}")
            raise _status_error(429, retry_after=_whole_seconds(wait))
        chat_times.append(now)
        log.all.append(now)

    def _reply_target(self, state: _ChatState, params: JSON) -> JSON | None:
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):  # PTB 22 always sends this form
            message_id = _int_param(reply, "message_id")
            allow_missing = reply.get("allow_sending_without_reply")
        else:
            message_id = _int_param(params, "reply_to_message_id")
            allow_missing = params.get("allow_sending_without_reply")
        if message_id is None:
            return None
        target = state.messages.get(message_id)
        if target is None and not allow_missing:
            raise ApiError(400, "Bad Request: message to be replied not found")
        return target

    def _chat_member(self, state: _ChatState, user_id: int) -> JSON:
        """A ChatMember; an administrator's rights are those its chat type has, as on Telegram."""
        status = state.members.get(user_id, "left")
        member: JSON = {"status": status, "user": self._users[user_id]}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(_ADMIN_RIGHTS)
            member.update(_ADMIN_RIGHTS_BY_CHAT_TYPE.get(state.chat["type"], {}))
            member.update(state.rights.get(user_id, {}))
        return member

    # -- Bot API methods ---------------------------------------------------------------------

    @_api_method("getMe")
    def _get_me(self, params: JSON) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @_api_method("logOut")
    def _log_out(self, params: JSON) -> bool:
        return True

    @_api_method("close")
    def _close(self, params: JSON) -> bool:
        return True

    @_api_method("setWebhook")
    def _set_webhook(self, params: JSON) -> bool:
        url = str(params.get("url") or "")
        if url and not url.startswith("https://"):
            raise ApiError(400, "Bad Request: bad webhook: HTTPS url must be provided for webhook")
        self._webhook = {key: value for key, value in params.items() if key != "certificate"}
        return True

    @_api_method("deleteWebhook")
    def _delete_webhook(self, params: JSON) -> bool:
        self._webhook = {}
        if params.get("drop_pending_updates") is True:
            self._updates.clear()
        return True

    @_api_method("getWebhookInfo")
    def _get_webhook_info(self, params: JSON) -> JSON:
        info: JSON = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        for key in ("max_connections", "allowed_updates", "ip_address"):
            if key in self._webhook:
                info[key] = self._webhook[key]
        return info

    @_api_method("getUpdates")
    def _get_updates(self, params: JSON) -> list[JSON]:
        """Long polling with Telegram's rules: a newer getUpdates ends an older one with 409."""
        if self._webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = _int_param(params, "offset") or 0
        limit = min(
            max(_int_param(params, "limit") or MAX_UPDATES_PER_CALL, 1), MAX_UPDATES_PER_CALL
        )
        timeout = max(_number_param(params, "timeout"), 0.0)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        self._poll_generation += 1
        generation = self._poll_generation
        self._cond.notify_all()
        self._cond.wait_for(
            lambda: (
                bool(self._updates)
                or self._stopping.is_set()
                or generation != self._poll_generation
            ),
            timeout,
        )
        if generation != self._poll_generation:
            raise ApiError(409, _DEFAULT_DESCRIPTIONS[409])
        return self._updates[:limit]

    @_api_method("setMyCommands")
    def _set_my_commands(self, params: JSON) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise ApiError(400, 'Bad Request: parameter "commands" is required')
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_NAME_RE.fullmatch(
                str(command.get("command", ""))
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        key = _commands_key(params.get("scope"), params.get("language_code"))
        self._commands[key] = commands
        return True

    @_api_method("getMyCommands")
    def _get_my_commands(self, params: JSON) -> list[JSON]:
        return self._commands.get(
            _commands_key(params.get("scope"), params.get("language_code")), []
        )

    @_api_method("deleteMyCommands")
    def _delete_my_commands(self, params: JSON) -> bool:
        self._commands.pop(_commands_key(params.get("scope"), params.get("language_code")), None)
        return True

    @_api_method("sendMessage")
    def _send_message(self, params: JSON) -> JSON:
        state = self._chat(params)
        content = _message_content(params)
        message = self._post_message(state, content, params)
        self._sent.append(
            SentMessage(
                chat_id=state.chat["id"],
                message_id=message["message_id"],
                text=str(params["text"]),
                plain_text=content["text"],
                parse_mode=params.get("parse_mode"),
                reply_markup=content.get("reply_markup"),
                message_thread_id=_int_param(params, "message_thread_id"),
                params=params,
                message=copy.deepcopy(message),
            )
        )
        return message

    @_api_method("editMessageText")
    def _edit_message_text(self, params: JSON) -> JSON | bool:
        if params.get("inline_message_id"):
            _message_content(params)  # still validated; inline messages are not tracked
            return True
        state = self._chat(params)
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        message = state.messages.get(message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message_id not in state.bot_message_ids:
            raise ApiError(400, "Bad Request: message can't be edited")
        content = _message_content(params)
        if all(
            message.get(key) == content.get(key) for key in ("text", "entities", "reply_markup")
        ):
            raise ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply "
                "markup are exactly the same as a current content and reply markup of the message",
            )
        for key in ("entities", "reply_markup"):
            message.pop(key, None)
        message.update(content, edit_date=int(time.time()))
        return message

    @_api_method("deleteMessage")
    def _delete_message(self, params: JSON) -> bool:
        state = self._chat(params)
        message_id = _int_param(params, "message_id")
        if message_id is None:
            raise ApiError(400, "Bad Request: message identifier is not specified")
        if message_id not in state.messages:
            raise ApiError(400, "Bad Request: message to delete not found")
        bot_status = state.members.get(self.bot_user["id"])
        is_private = state.chat["type"] == "private"
        may_delete_others = is_private or bot_status in ("creator", "administrator")
        if message_id not in state.bot_message_ids and not may_delete_others:
            raise ApiError(400, "Bad Request: message can't be deleted")
        del state.messages[message_id]
        return True

    @_api_method("sendChatAction")
    def _send_chat_action(self, params: JSON) -> bool:
        self._chat(params)
        return True

    @_api_method("answerCallbackQuery")
    def _answer_callback_query(self, params: JSON) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self._open_callback_queries:
            raise ApiError(
                400,
                "Bad Request: query is too old and response timeout expired or query ID is invalid",
            )
        self._open_callback_queries.discard(query_id)
        return True

    @_api_method("getChat")
    def _get_chat(self, params: JSON) -> JSON:
        state = self._chat(params)
        return {
            **state.chat,
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    @_api_method("getChatMember")
    def _get_chat_member(self, params: JSON) -> JSON:
        """Unknown users are a 400 like on Telegram; known users outside the chat have "left"."""
        state = self._chat(params)
        user_id = _int_param(params, "user_id")
        if user_id is None:
            raise ApiError(400, "Bad Request: invalid user_id specified")
        if user_id not in self._users:
            raise ApiError(400, "Bad Request: user not found")
        return self._chat_member(state, user_id)

    @_api_method("getChatAdministrators")
    def _get_chat_administrators(self, params: JSON) -> list[JSON]:
        state = self._chat(params)
        if state.chat["type"] == "private":
            raise ApiError(400, "Bad Request: there are no administrators in the private chat")
        return [
            self._chat_member(state, user_id)
            for user_id, status in state.members.items()
            if status in ("creator", "administrator")
        ]

    @_api_method("leaveChat")
    def _leave_chat(self, params: JSON) -> bool:
        state = self._chat(params)
        state.members[self.bot_user["id"]] = "left"
        state.forbidden = f"Forbidden: bot is not a member of the {state.chat['type']} chat"
        return True


# -- HTTP layer ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    """Threaded server that can finish in-flight answers, then cut idle keep-alive connections."""

    daemon_threads = True

    def __init__(self, emulator: TelegramEmulator) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._busy = 0  # requests between reading and fully answering
        self._state = threading.Condition()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._state:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._state:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bot that dies or is killed resets its connections: routine, not worth a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            _LOG.debug("client %s went away", client_address)
        else:
            super().handle_error(request, client_address)

    @contextlib.contextmanager
    def answering(self) -> Iterator[None]:
        with self._state:
            self._busy += 1
        try:
            yield
        finally:
            with self._state:
                self._busy -= 1
                self._state.notify_all()

    def close_connections(self, grace: float) -> None:
        """Let woken long polls send their (empty) answer, then cut every connection."""
        with self._state:
            self._state.wait_for(lambda: self._busy == 0, grace)
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as httpx and api.telegram.org use
    disable_nagle_algorithm = True  # headers and body go out in two writes: avoid a 40 ms stall
    server: _Server

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            # PTB always sends a Content-Length; refuse loudly rather than misread the stream.
            self.close_connection = True
            error = ApiError(411, "Length Required: chunked bodies are not emulated")
            self._respond(error.status, error.payload())
            return
        with self.server.answering():
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            url = urlsplit(self.path)
            content_type = self.headers.get("Content-Type", "")
            try:
                status, payload = self.server.emulator._dispatch(
                    url.path, url.query, content_type, body
                )
            except Exception as exc:  # an emulator bug: answer like Telegram's 500, keep serving
                _LOG.exception("telegram emulator failed on %s", self.path)
                status, payload = 500, ApiError(500, f"Internal Server Error: {exc!r}").payload()
            self._respond(status, payload)

    do_GET = do_POST

    def _respond(self, status: int, payload: JSON) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (e.g. a cancelled long poll)
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        _LOG.debug("%s " + format, self.address_string(), *args)


# -- parameter decoding ----------------------------------------------------------------------


def _parse_params(query: str, content_type: str, body: bytes) -> JSON:
    """Merge query string and body into decoded parameters (the body wins, as on Telegram)."""
    raw: JSON = dict(parse_qsl(query, keep_blank_values=True))
    if body:
        raw.update(_parse_body(content_type, body))
    return {name: _decode_param(name, value) for name, value in raw.items()}


def _parse_body(content_type: str, body: bytes) -> JSON:
    media_type = content_type.partition(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        return dict(_parse_multipart(content_type, body))
    if media_type != "application/json":  # form-encoded, whatever the header claims
        return dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    try:
        decoded = json.loads(body)
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON request body") from None
    if not isinstance(decoded, dict):
        raise ApiError(400, "Bad Request: JSON request body must be an object")
    return decoded


def _parse_multipart(content_type: str, body: bytes) -> Iterator[tuple[str, str | bytes]]:
    """Fields as text, uploaded files as bytes (stdlib `email` does the MIME parsing)."""
    head = f"Content-Type: {content_type}\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "Bad Request: can't parse multipart/form-data body")
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename() is None:
            yield str(name), payload.decode(part.get_content_charset() or "utf-8")
        else:
            yield str(name), payload


def _decode_param(name: str, value: Any) -> Any:
    if name in _TYPED_PARAMS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value  # e.g. chat_id="@channel"; handlers validate the rest
    return value


def _int_param(params: JSON, name: str) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _number_param(params: JSON, name: str) -> float:
    """Accepts fractions (Telegram takes whole seconds) so tests can use short timeouts."""
    value = params.get(name)
    if value is None or value == "":
        return 0.0
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, f"Bad Request: invalid {name} specified") from None


def _commands_key(scope: Any, language_code: Any) -> tuple[str, str]:
    return json.dumps(scope or {"type": "default"}, sort_keys=True), str(language_code or "")


# -- message content -------------------------------------------------------------------------


def _message_content(params: JSON) -> JSON:
    """Validate text, parse mode and keyboard like Telegram; return the Message fields.

    The length limit applies to the visible text and is counted in code points (Python `len`).
    """
    text = params.get("text")
    if text is None or not str(text).strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if isinstance(params.get("entities"), list):
        plain, entities = str(text), params["entities"]
    else:
        plain, entities = _render(str(text), params.get("parse_mode"))
    if not plain.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if len(plain) > MAX_MESSAGE_LENGTH:
        raise ApiError(400, "Bad Request: message is too long")
    content: JSON = {"text": plain}
    if entities:
        content["entities"] = entities
    if (markup := _inline_keyboard(params.get("reply_markup"))) is not None:
        content["reply_markup"] = markup
    return content


def _render(text: str, parse_mode: Any) -> tuple[str, list[JSON]]:
    """Plain text and entities; Markdown modes are passed through unparsed (not emulated)."""
    mode = str(parse_mode or "").lower()
    if mode == "html":
        return _HtmlParser(text).parse()
    if mode in ("", "markdown", "markdownv2"):
        return text, []
    raise ApiError(400, "Bad Request: unsupported parse_mode")


def _inline_keyboard(markup: Any) -> JSON | None:
    """Only inline keyboards are echoed in the Message, as Telegram does; all are validated."""
    if markup is None or markup == "":
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise ApiError(400, "Bad Request: can't parse inline keyboard button: array expected")
    for button in (button for row in rows for button in row):
        if not isinstance(button, dict) or not button.get("text"):
            raise ApiError(400, "Bad Request: can't parse inline keyboard button: text is empty")
        data = button.get("callback_data")
        if data is not None and not 0 < len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
            raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return markup


def _utf16_len(text: str) -> int:
    """Entity offsets and lengths are counted in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _bot_command_entities(text: str) -> list[JSON]:
    return [
        {
            "type": "bot_command",
            "offset": _utf16_len(text[: match.start()]),
            "length": _utf16_len(match[0]),
        }
        for match in _BOT_COMMAND_RE.finditer(text)
    ]


_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_TAG_RE = re.compile(r"<(/?)([^\s>]*)([^>]*)>")
_HTML_ATTR_RE = re.compile(r"""([^\s=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_HTML_CHAR_REF_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_HTML_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


@dataclass
class _OpenTag:
    name: str
    entity: JSON
    offset: int  # UTF-16 offset where the tag's content starts
    first_part: int  # index into the output parts where the content starts


class _HtmlParser:
    """Telegram's HTML parse mode, closely enough to reject what the server rejects.

    Mirrors the server's rules and error texts (tdlib's parse_html): only the documented tags,
    only &lt; &gt; &amp; &quot; and numeric character references (other '&' stay literal),
    strict nesting, `</>` closes the innermost tag, byte offsets in errors.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[str] = []
        self.length = 0  # of the output so far, in UTF-16 code units
        self.stack: list[_OpenTag] = []
        self.entities: list[JSON] = []

    def parse(self) -> tuple[str, list[JSON]]:
        source, i = self.source, 0
        while i < len(source):
            if source[i] == "<":
                i = self._tag(i)
            elif source[i] == "&":
                i = self._char_ref(i)
            else:
                end = min(
                    (j for j in (source.find("<", i), source.find("&", i)) if j != -1),
                    default=len(source),
                )
                self._emit(source[i:end])
                i = end
        if self.stack:
            self._fail(f'Can\'t find end tag corresponding to start tag "{self.stack[-1].name}"')
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return "".join(self.parts), self.entities

    def _emit(self, text: str) -> None:
        self.parts.append(text)
        self.length += _utf16_len(text)

    def _char_ref(self, i: int) -> int:
        match = _HTML_CHAR_REF_RE.match(self.source, i)
        if match is None:
            self._emit("&")
            return i + 1
        self._emit(_char_ref_text(match))
        return match.end()

    def _tag(self, i: int) -> int:
        at = f"at byte offset {len(self.source[:i].encode())}"
        match = _HTML_TAG_RE.match(self.source, i)
        is_end_tag = self.source.startswith("</", i)
        if is_end_tag and not self.stack:
            self._fail(f"Unexpected end tag {at}")
        if match is None:
            self._fail(f"Unclosed {'end' if is_end_tag else 'start'} tag {at}")
        name, rest = match[2].lower(), match[3]
        if is_end_tag:
            if rest.strip():
                self._fail(f"Unclosed end tag {at}")
            expected = self.stack[-1].name
            if name and name != expected:
                self._fail(f'Unmatched end tag {at}, expected "</{expected}>", found "</{name}>"')
            self._close(self.stack.pop())
        else:
            if name not in _HTML_ENTITY_TYPES:
                self._fail(f'Unsupported start tag "{name}" {at}')
            entity = self._entity(name, _html_attributes(rest), at)
            self.stack.append(_OpenTag(name, entity, self.length, len(self.parts)))
        return match.end()

    def _entity(self, name: str, attributes: dict[str, str], at: str) -> JSON:
        entity: JSON = {"type": _HTML_ENTITY_TYPES[name]}
        if name == "span" and attributes.get("class") != "tg-spoiler":
            self._fail(f'Tag "span" must have class "tg-spoiler" {at}')
        if name == "a":
            entity["url"] = attributes.get("href", "")
        elif name == "code" and attributes.get("class", "").startswith("language-"):
            entity["language"] = attributes["class"].removeprefix("language-")
        elif name == "blockquote" and "expandable" in attributes:
            entity["type"] = "expandable_blockquote"
        elif name == "tg-emoji":
            entity["custom_emoji_id"] = attributes.get("emoji-id", "")
        return entity

    def _close(self, tag: _OpenTag) -> None:
        entity = tag.entity
        if tag.name == "a" and not entity["url"]:
            entity["url"] = "".join(self.parts[tag.first_part :])  # Telegram links the text
        if "language" in entity and self.stack and self.stack[-1].name == "pre":
            self.stack[-1].entity["language"] = entity["language"]  # <pre><code class=...>
            return
        if length := self.length - tag.offset:
            self.entities.append({**entity, "offset": tag.offset, "length": length})

    @staticmethod
    def _fail(reason: str) -> NoReturn:
        raise ApiError(400, f"Bad Request: can't parse entities: {reason}")


def _html_attributes(text: str) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for match in _HTML_ATTR_RE.finditer(text):
        raw = next((value for value in match.groups()[1:] if value is not None), "")
        attributes[match[1].lower()] = _HTML_CHAR_REF_RE.sub(_char_ref_text, raw)
    return attributes


def _char_ref_text(match: re.Match[str]) -> str:
    named, decimal, hexadecimal = match.groups()
    if named:
        return _HTML_NAMED_REFS[named]
    code_point = int(decimal) if decimal else int(hexadecimal, 16)
    valid = code_point <= 0x10FFFF and not 0xD800 <= code_point <= 0xDFFF
    return chr(code_point) if valid else match[0]
