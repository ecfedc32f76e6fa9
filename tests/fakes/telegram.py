"""Telegram's servers, faked at the HTTP edge: the one Bot API fake of the suite.

`FakeTelegram` is a PTB `BaseRequest`: PTB builds every request as it would for the
real Bot API, and the fake answers with the JSON Telegram sends back (the bot's
`User` for getMe, the sent `Message`, `ChatMember`, `true`), records each call, and
injects faults on cue: an error response (`Forbidden`, flood control, "chat not
found", a revoked token on getMe) or a transport exception (`TimedOut`), for one
method and chat, once or every time. With `polling` it also serves `getUpdates`,
handing out the updates queued with `deliver` (an empty long poll otherwise).

Update builders (commands, button presses, every other update kind) are in
`tests.fakes.telegram_payloads`.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from telegram.error import TelegramError
from telegram.request import BaseRequest, RequestData

from tests.fakes import telegram_payloads as tg

# Bodies Telegram answers with (descriptions as the Bot API words them).
BOT_NOT_STARTED = (403, "Forbidden: bot can't initiate conversation with a user")
BOT_BLOCKED = (403, "Forbidden: bot was blocked by the user")
BOT_KICKED = (403, "Forbidden: bot was kicked from the supergroup chat")
CHAT_NOT_FOUND = (400, "Bad Request: chat not found")
NOT_MODIFIED = (
    400,
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message",
)
BAD_ENTITIES = (400, 'Bad Request: can\'t parse entities: unsupported start tag "x"')
TOKEN_REJECTED = (401, "Unauthorized")


def api_error(code: int, description: str, **parameters: Any) -> bytes:
    """An error response body, e.g. `api_error(429, "...", retry_after=35)`."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return _json(body)


def flood(seconds: int) -> tuple[int, str, dict[str, Any]]:
    """Telegram's flood-control answer (HTTP 429 with `retry_after`)."""
    return 429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds}


@dataclass
class Fault:
    """Answer `method` (for `chat_id`, if set) with an error, after `skip` matching calls."""

    method: str
    chat_id: int | None = None
    status: int = 400
    body: bytes = b""
    exception: TelegramError | None = None
    skip: int = 0
    times: int | None = 1  # None: every time

    def matches(self, method: str, parameters: dict[str, Any]) -> bool:
        if method != self.method:
            return False
        return self.chat_id is None or int(parameters.get("chat_id", 0)) == self.chat_id


@dataclass
class Upload:
    """A file sent in a multipart request."""

    field: str
    filename: str
    content: bytes
    mimetype: str


@dataclass
class Call:
    """One Bot API request, as PTB sent it."""

    method: str
    parameters: dict[str, Any]
    uploads: list[Upload] = field(default_factory=list)
    result: Any = None  # what Telegram answered (the sent `Message` as JSON, ...)


def _plain(markup: str) -> str:
    """The text Telegram returns for HTML-mode text (tags gone, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", markup))


class FakeTelegram(BaseRequest):
    """The Bot API for the methods the adapter uses; anything else fails the test.

    `chats` are the chats the bot knows (a user's private chat is made up from
    `users`); `statuses[(chat, user)]` is what `getChatMember` answers (default
    `member`). `polling` also answers `deleteWebhook` and `getUpdates` (the updates
    queued with `deliver`, or none after a short wait, like an empty long poll).
    """

    def __init__(self, *, polling: bool = False) -> None:
        self.polling = polling
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.users: dict[int, dict[str, Any]] = {u["id"]: u for u in (tg.ALICE, tg.BOB, tg.CAROL)}
        self.chats: dict[int, dict[str, Any]] = {tg.GROUP_ID: tg.supergroup()}
        self.statuses: dict[tuple[int, int], str] = {}
        self.updates: list[dict[str, Any]] = []
        self._message_ids = itertools.count(9001)

    # -- set-up ---------------------------------------------------------------------

    def fail(
        self,
        method: str,
        answer: tuple[int, str] | tuple[int, str, dict[str, Any]] | None = None,
        *,
        chat_id: int | None = None,
        exception: TelegramError | None = None,
        skip: int = 0,
        times: int | None = 1,
    ) -> None:
        """Make `method` fail: with an API error `(code, description[, parameters])`
        or by raising `exception` as PTB's HTTP client does (e.g. `TimedOut`)."""
        status, body = 400, b""
        if answer is not None:
            status, description, *rest = answer
            body = api_error(status, description, **(rest[0] if rest else {}))
        self.faults.append(Fault(method, chat_id, status, body, exception, skip, times))

    def deliver(self, *updates: dict[str, Any]) -> None:
        """Queue raw updates (`tg.update(...)`) for the next `getUpdates` long poll."""
        self.updates.extend(updates)

    # -- what was asked --------------------------------------------------------------

    def methods(self) -> list[str]:
        """Every method called, in order (getMe included)."""
        return [call.method for call in self.calls]

    def sent(self, method: str = "sendMessage", chat_id: int | None = None) -> list[Call]:
        """The calls of `method` (to `chat_id`, if given)."""
        return [
            call
            for call in self.calls
            if call.method == method
            and (chat_id is None or int(call.parameters.get("chat_id", 0)) == chat_id)
        ]

    def outgoing(self) -> list[Call]:
        """Everything but getMe."""
        return [call for call in self.calls if call.method != "getMe"]

    # -- BaseRequest ----------------------------------------------------------------

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 1.0

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        endpoint = url.rsplit("/", 1)[-1]
        if endpoint == "getUpdates" and not self.updates:
            await asyncio.sleep(0.01)  # an empty long poll, not a busy loop
        parameters = dict(request_data.parameters) if request_data else {}
        uploads = []
        if request_data is not None and request_data.contains_files:
            for name, (filename, content, mimetype) in request_data.multipart_data.items():
                assert isinstance(content, bytes)
                uploads.append(Upload(name, filename, content, mimetype))
        self.calls.append(Call(endpoint, parameters, uploads))
        for fault in self.faults:
            if not fault.matches(endpoint, parameters):
                continue
            if fault.skip:
                fault.skip -= 1
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times == 0:
                    self.faults.remove(fault)
            if fault.exception is not None:
                raise fault.exception
            return fault.status, fault.body
        call = self.calls[-1]
        call.result = self._result(endpoint, parameters, uploads)
        return 200, _json({"ok": True, "result": call.result})

    def _result(self, endpoint: str, parameters: dict[str, Any], uploads: list[Upload]) -> Any:
        if endpoint == "getMe":
            return tg.BOT_USER
        if endpoint in ("setMyCommands", "answerCallbackQuery", "setWebhook"):
            return True
        if endpoint == "getChatMember":
            user = self.users[int(parameters["user_id"])]
            status = self.statuses.get((int(parameters["chat_id"]), user["id"]), "member")
            return tg.chat_member(status, user)
        if endpoint in ("sendMessage", "sendPhoto", "sendDocument"):
            return self._message(parameters, uploads)
        if endpoint == "editMessageText":
            result = self._message(parameters, uploads, message_id=int(parameters["message_id"]))
            result["edit_date"] = tg.DATE + 30
            return result
        if self.polling and endpoint == "deleteWebhook":
            return True
        if self.polling and endpoint == "getUpdates":
            updates, self.updates = self.updates, []
            return updates
        pytest.fail(f"unexpected Bot API call: {endpoint} {parameters}")

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.chats:
            return self.chats[chat_id]
        return tg.private_chat(self.users[chat_id])

    def _message(
        self, parameters: dict[str, Any], uploads: list[Upload], message_id: int | None = None
    ) -> dict[str, Any]:
        """The `Message` Telegram returns for a message the bot sent."""
        result: dict[str, Any] = {
            "message_id": next(self._message_ids) if message_id is None else message_id,
            "from": {k: tg.BOT_USER[k] for k in ("id", "is_bot", "first_name", "username")},
            "chat": self._chat(int(parameters["chat_id"])),
            "date": tg.DATE + 5,
        }
        if "message_thread_id" in parameters:
            result["message_thread_id"] = parameters["message_thread_id"]
            result["is_topic_message"] = True
        if "text" in parameters:
            result["text"] = _plain(str(parameters["text"]))
        if "caption" in parameters:
            result["caption"] = _plain(str(parameters["caption"]))
        if "reply_markup" in parameters:
            result["reply_markup"] = parameters["reply_markup"]
        for upload in uploads:
            if upload.field == "document":
                result["document"] = {
                    "file_name": upload.filename,
                    "mime_type": upload.mimetype,
                    "file_id": "BQACAgQAAxkDAAIBz2ZKx0f1bC6kqAAB",
                    "file_unique_id": "AgADvBQAAk3hUVI",
                    "file_size": len(upload.content),
                }
            elif upload.field == "photo":
                result["photo"] = [
                    {"file_id": "AgACAgQAAxkDAAIB0GZK", "file_unique_id": "AQADuMIxG",
                     "file_size": len(upload.content), "width": 800, "height": 600},
                ]  # fmt: skip
        return result


async def settle() -> None:
    """Wait until the handlers PTB runs as tasks of their own (`block=False`) are done."""
    while True:
        pending = [
            task
            for task in asyncio.all_tasks()
            if "process_update_non_blocking" in task.get_name() and not task.done()
        ]
        if not pending:
            return
        await asyncio.gather(*pending, return_exceptions=True)


# -- reading recorded calls ------------------------------------------------------------


def callback_data(call: Call) -> list[str]:
    """Every `callback_data` on the inline keyboard of a recorded send."""
    keyboard = call.parameters.get("reply_markup") or {"inline_keyboard": []}
    return [
        button["callback_data"]
        for row in keyboard["inline_keyboard"]
        for button in row
        if "callback_data" in button
    ]


def button_urls(call: Call) -> list[str]:
    """Every URL button on the inline keyboard of a recorded send."""
    keyboard = call.parameters.get("reply_markup") or {"inline_keyboard": []}
    return [
        button["url"] for row in keyboard["inline_keyboard"] for button in row if "url" in button
    ]


def _json(body: Any) -> bytes:
    return json.dumps(body).encode()
