"""Discord, faked at discord.py's network edge: the one Discord fake of the suite.

Used for gateway events, commands, buttons, backfills, supervision and deliveries.
discord.py talks to Discord through two doors, and both are replaced:

* `HTTPClient.request` (REST: login, command sync, the gateway's recommended shard
  count (`shards`), users, DM channels, channel messages), answered with payloads
  shaped like Discord's;
* `AsyncWebhookAdapter.request` (interaction callbacks, follow-ups and edits of the
  original response, which go through the interaction's webhook).

Everything between a gateway payload and these doors is discord.py's own code:
`ConnectionState.parse_interaction_create`, the command tree, `InteractionResponse`,
`Webhook.send`, `Messageable.send`. The fake keeps the messages it "created", and
models how Discord treats interaction responses: the first follow-up after a
deferred ("thinking") response replaces the deferred message and keeps its
ephemeral flag, whatever the follow-up asked for.

Faults are injected per route with `refuse("POST /channels/{channel_id}/messages",
error)`; any route the fake does not know fails the test.

The gateway socket (`HTTPClient.ws_connect`) is scripted per connection attempt with
`gateway`: an exception (the socket cannot be opened), a close code (the socket opens
and Discord closes it with that code, as aiohttp reports it to discord.py), or
"hang"; once the script is used up, a socket stays open until the client closes.
`gateway_attempts` counts the sockets asked for, `routes()` lists every REST and
webhook route called, in order. Channel history (`GET /channels/{channel_id}/messages`)
is served from `history`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
import discord
import discord.http
import pytest
from discord.webhook.async_ import AsyncWebhookAdapter

from tests.fakes import discord_payloads as p

GOOD_TOKEN = "good.token.value"
EPHEMERAL = 64
LOADING = 128
MANAGE_GUILD = 1 << 5
ADMINISTRATOR = 1 << 3
# What @everyone may do in the test guild (no Administrator, no Manage Server).
MEMBER_PERMISSIONS = int(p.guild_create()["roles"][0]["permissions"])
ATTACHMENT_LIMIT = 10 * 1024 * 1024

Payload = dict[str, Any]

# Interaction callback types (Discord's InteractionResponseType).
CHANNEL_MESSAGE = 4
DEFERRED_CHANNEL_MESSAGE = 5
DEFERRED_UPDATE_MESSAGE = 6
UPDATE_MESSAGE = 7
AUTOCOMPLETE_RESULT = 8


@dataclass
class FakeResponse:
    """What discord.py's HTTPException reads from an aiohttp response."""

    status: int
    reason: str
    headers: dict[str, str] = field(default_factory=dict)


def http_error(
    status: int, code: int, message: str, *, headers: dict[str, str] | None = None
) -> discord.HTTPException:
    """The exception discord.py raises for a Discord error answer with this status and body."""
    reasons = {403: "Forbidden", 404: "Not Found", 429: "Too Many Requests"}
    response = FakeResponse(status, reasons.get(status, "Error"), headers or {})
    body = {"code": code, "message": message}
    if status == 403:
        return discord.Forbidden(response, body)  # type: ignore[arg-type]
    if status == 404:
        return discord.NotFound(response, body)  # type: ignore[arg-type]
    if status >= 500:
        return discord.DiscordServerError(response, body)  # type: ignore[arg-type]
    return discord.HTTPException(response, body)  # type: ignore[arg-type]


@dataclass
class Call:
    """One request that reached the fake."""

    method: str
    path: str  # the route template, e.g. /channels/{channel_id}/messages
    url: str
    body: Any  # the JSON sent (payload_json of a multipart upload), or None
    files: list[tuple[str, bytes]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """`METHOD /path/template`."""
        return f"{self.method} {self.path}"


@dataclass
class Deferral:
    """An interaction answered with a deferral, waiting for its content."""

    message_id: int
    ephemeral: bool
    pending: bool = True  # the next follow-up replaces the deferred message


def custom_ids(message: Payload) -> list[str]:
    """The custom ids of a message's buttons, row by row."""
    return [
        component["custom_id"]
        for row in message.get("components", [])
        for component in row.get("components", [])
        if "custom_id" in component
    ]


def is_ephemeral(message: Payload) -> bool:
    """Whether only the member who acted sees the message."""
    return bool(message.get("flags", 0) & EPHEMERAL)


@dataclass
class ClosingSocket:
    """A gateway socket that Discord closes with `code` as soon as it is read."""

    code: int
    closed: bool = False

    @property
    def close_code(self) -> int:
        """The close code aiohttp reports."""
        return self.code

    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage:  # noqa: ASYNC109 (aiohttp signature)
        """The close frame."""
        return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSE, self.code, "")

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        """Close from our side (discord.py does after a close frame)."""
        self.closed = True
        return True


GatewayOutcome = BaseException | int | str


@dataclass
class FakeDiscord:
    """Discord's REST API and interaction webhooks, as far as Cohort uses them."""

    calls: list[Call] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    messages: dict[int, Payload] = field(default_factory=dict)
    users: dict[int, Payload] = field(default_factory=lambda: dict(p.USERS))
    channels: dict[int, Payload] = field(default_factory=dict)
    synced: list[Payload] | None = None
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    _faults: dict[str, list[list[Any]]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _deferrals: dict[str, Deferral] = field(default_factory=dict)
    _interactions: dict[str, Payload] = field(default_factory=dict)
    _dms: dict[int, Payload] = field(default_factory=dict)
    choices: dict[str, list[Payload]] = field(default_factory=dict)
    gateway: list[GatewayOutcome] = field(default_factory=list)
    gateway_attempts: int = 0
    history: dict[int, list[Payload]] = field(default_factory=dict)
    shards: int = 1  # the shard count `GET /gateway/bot` recommends

    # -- setup ---------------------------------------------------------------------------

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Route discord.py's REST client, webhook adapter and gateway socket to this fake."""
        fake = self
        real_close = discord.http.HTTPClient.close

        async def request(
            http: discord.http.HTTPClient,
            route: discord.http.Route,
            *,
            files: Any = None,
            form: Any = None,
            **kwargs: Any,
        ) -> Any:
            call = Call(
                route.method,
                route.path,
                route.url,
                _body(kwargs.get("json"), form),
                _uploads(form),
                dict(kwargs.get("params") or {}),
            )
            return fake._rest(http, route, call)

        async def webhook_request(
            adapter: AsyncWebhookAdapter,
            route: discord.http.Route,
            session: Any,
            *,
            payload: Payload | None = None,
            multipart: list[Payload] | None = None,
            params: dict[str, Any] | None = None,
            **_: Any,
        ) -> Any:
            call = Call(
                route.method,
                route.path,
                route.url,
                _body(payload, multipart),
                _uploads(multipart),
                dict(params or {}),
            )
            return fake._webhook(route, call)

        async def ws_connect(http: discord.http.HTTPClient, url: str, **_: Any) -> Any:
            fake.gateway_attempts += 1
            outcome = fake.gateway.pop(0) if fake.gateway else None
            if isinstance(outcome, BaseException):
                raise outcome
            if isinstance(outcome, int):
                return ClosingSocket(outcome)
            if outcome == "hang":
                await asyncio.Event().wait()
            await fake.closed.wait()
            raise OSError("gateway connection closed")

        async def close(http: discord.http.HTTPClient) -> None:
            await real_close(http)
            fake.closed.set()

        monkeypatch.setattr(discord.http.HTTPClient, "request", request)
        monkeypatch.setattr(AsyncWebhookAdapter, "request", webhook_request)
        monkeypatch.setattr(discord.http.HTTPClient, "ws_connect", ws_connect)
        monkeypatch.setattr(discord.http.HTTPClient, "close", close)

    def refuse(self, key: str, error: BaseException, *, after: int = 0) -> None:
        """Make the call `key` fail with `error`, once, after `after` successful ones."""
        self._faults.setdefault(key, []).append([after, error])

    def snowflake(self) -> int:
        """A fresh id, created now."""
        return discord.utils.time_snowflake(datetime.now(UTC)) + next(self._ids)

    # -- what happened -------------------------------------------------------------------

    def requests(self, key: str) -> list[Call]:
        """The calls made to route `key` (`METHOD /template`), in order."""
        return [call for call in self.calls if call.key == key]

    def routes(self) -> list[str]:
        """Every route called, in order."""
        return [call.key for call in self.calls]

    def callbacks(self) -> list[Payload]:
        """The interaction responses sent, in order."""
        return [
            c.body
            for c in self.requests("POST /interactions/{webhook_id}/{webhook_token}/callback")
        ]

    def followups(self) -> list[Call]:
        """The follow-up messages sent, in order."""
        return self.requests("POST /webhooks/{webhook_id}/{webhook_token}")

    def shown(self, token: str) -> list[Payload]:
        """The messages an interaction left (deferred placeholders resolved), in order."""
        return [m for m in self.messages.values() if m.get("_token") == token]

    # -- interaction payloads ------------------------------------------------------------

    def slash(
        self,
        name: str,
        options: dict[str, str | int] | None = None,
        *,
        user: int = p.ALICE,
        locale: str = "en-US",
        permissions: int = MEMBER_PERMISSIONS,
        roles: list[int] | None = None,
        dm: bool = False,
    ) -> Payload:
        """INTERACTION_CREATE for `/name` (type 2) in #general, or in a DM with the bot."""
        command_id = next(
            (int(c["id"]) for c in self.synced or [] if c["name"] == name), self.snowflake()
        )
        data: Payload = {"id": str(command_id), "name": name, "type": 1}
        if options:
            data["options"] = [
                {"name": key, "type": 4 if isinstance(value, int) else 3, "value": value}
                for key, value in options.items()
            ]
        return self._interaction(
            2, data, user=user, locale=locale, permissions=permissions, roles=roles, dm=dm
        )

    def autocomplete(
        self,
        name: str,
        options: dict[str, str],
        focused: str,
        *,
        user: int = p.ALICE,
        permissions: int = MEMBER_PERMISSIONS,
    ) -> Payload:
        """INTERACTION_CREATE (type 4) while the option `focused` of `/name` is being typed."""
        payload = self.slash(name, options, user=user, permissions=permissions)
        payload["type"] = 4
        for option in payload["data"]["options"]:
            option["focused"] = option["name"] == focused
        return payload

    def press(
        self,
        custom_id: str,
        message: Payload,
        *,
        user: int = p.ALICE,
        locale: str = "en-US",
        permissions: int = MEMBER_PERMISSIONS,
        dm: bool = False,
    ) -> Payload:
        """INTERACTION_CREATE for a press (type 3) of the button `custom_id` on `message`.

        Discord only sends presses of a button the message has: one missing from
        `message` is added to it (in a row of its own).
        """
        data = {"custom_id": custom_id, "component_type": 2}
        message = {k: v for k, v in message.items() if not k.startswith("_")}
        if custom_id not in custom_ids(message):
            button = {"type": 2, "style": 2, "label": custom_id, "custom_id": custom_id}
            row = {"type": 1, "components": [button]}
            message["components"] = [*message.get("components", []), row]
        return self._interaction(
            3, data, user=user, locale=locale, permissions=permissions, dm=dm, message=message
        )

    def _interaction(
        self,
        kind: int,
        data: Payload,
        *,
        user: int,
        locale: str,
        permissions: int,
        roles: list[int] | None = None,
        dm: bool,
        message: Payload | None = None,
    ) -> Payload:
        interaction_id = self.snowflake()
        token = f"interaction-token-{interaction_id}"
        payload: Payload = {
            "id": str(interaction_id),
            "application_id": str(p.ME),
            "type": kind,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(MEMBER_PERMISSIONS),
            "entitlements": [],
            "attachment_size_limit": ATTACHMENT_LIMIT,
        }
        if dm:
            payload["channel_id"] = str(p.DM_CHANNEL)
            payload["channel"] = self._dm_channel_payload(user, p.DM_CHANNEL)
            payload["user"] = self.users[user]
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": "0"}
        else:
            payload["guild_id"] = str(p.GUILD)
            payload["guild"] = {"id": str(p.GUILD), "locale": "en-US", "features": []}
            payload["guild_locale"] = "en-US"
            payload["channel_id"] = str(p.GENERAL)
            payload["channel"] = p.text_channel(p.GENERAL, "general")
            member = p.member(self.users[user], nick=p.NICKS.get(user))
            member["roles"] = [str(role) for role in roles or []]
            member["permissions"] = str(permissions)
            payload["member"] = member
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(p.GUILD)}
        if message is not None:
            payload["message"] = message
        self._interactions[token] = payload
        return payload

    # -- REST ----------------------------------------------------------------------------

    def _fault(self, call: Call) -> None:
        for fault in self._faults.get(call.key, []):
            if fault[0] > 0:
                fault[0] -= 1
                return
            self._faults[call.key].remove(fault)
            raise fault[1]

    def _rest(self, http: discord.http.HTTPClient, route: discord.http.Route, call: Call) -> Any:
        self.calls.append(call)
        self._fault(call)
        key = call.key
        if key == "GET /users/@me":
            if http.token != GOOD_TOKEN:
                raise http_error(401, 0, "401: Unauthorized")
            return p.users_me()
        if key == "GET /oauth2/applications/@me":
            return p.application()
        if key == "GET /gateway/bot":  # what an AutoShardedClient asks before connecting
            return {
                "url": "wss://gateway.discord.gg",
                "shards": self.shards,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 999,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            }
        if key == "PUT /applications/{application_id}/commands":
            self.synced = [self._registered(command) for command in call.body]
            return self.synced
        if key == "GET /users/{user_id}":
            user_id = int(call.url.rsplit("/", 1)[1])
            if user_id not in self.users:
                raise http_error(404, 10013, "Unknown User")
            return self.users[user_id]
        if key == "POST /users/@me/channels":
            recipient = int(call.body["recipient_id"])
            if recipient not in self._dms:
                self._dms[recipient] = self._dm_channel_payload(recipient, self.snowflake())
            return self._dms[recipient]
        if key == "GET /channels/{channel_id}":
            channel_id = int(str(route.channel_id))
            if channel_id not in self.channels:
                raise http_error(404, 10003, "Unknown Channel")
            return self.channels[channel_id]
        if key == "POST /channels/{channel_id}/messages":
            return self._create(int(str(route.channel_id)), call, flags=0)
        if key == "GET /channels/{channel_id}/messages":
            return self._history(int(str(route.channel_id)), call.params)
        self.unexpected.append(key)
        raise AssertionError(f"test tried to reach Discord: {key}")

    def _history(self, channel_id: int, params: dict[str, Any]) -> list[Payload]:
        """A page of a channel's messages as Discord answers it: newest first, at most `limit`.

        With `after` the page is the oldest messages after it; with `before` (or
        neither) the newest before it, as Discord pages.
        """
        if channel_id not in self.history:
            raise http_error(404, 10003, "Unknown Channel")
        newest_first = sorted(self.history[channel_id], key=lambda m: -int(m["id"]))
        limit = int(params.get("limit", 50))
        if "after" in params:
            after = int(params["after"])
            newer = [m for m in newest_first if int(m["id"]) > after]
            return newer[-limit:]
        before = int(params["before"]) if "before" in params else None
        older = [m for m in newest_first if before is None or int(m["id"]) < before]
        return older[:limit]

    def _registered(self, command: Payload) -> Payload:
        """A command as Discord answers a bulk overwrite: with ids and permissions as strings."""
        permissions = command.get("default_member_permissions")
        return {
            **command,
            "id": str(self.snowflake()),
            "application_id": str(p.ME),
            "version": str(self.snowflake()),
            "default_member_permissions": None if permissions is None else str(permissions),
            "integration_types": command.get("integration_types") or [0],
        }

    def _dm_channel_payload(self, user: int, channel_id: int) -> Payload:
        return {
            "id": str(channel_id),
            "type": 1,
            "last_message_id": None,
            "flags": 0,
            "recipients": [self.users[user]],
        }

    # -- interaction webhooks ------------------------------------------------------------

    def _webhook(self, route: discord.http.Route, call: Call) -> Any:
        self.calls.append(call)
        self._fault(call)
        token = str(route.webhook_token)
        interaction = self._interactions.get(token)
        if interaction is None:
            self.unexpected.append(call.key)
            raise http_error(404, 10062, "Unknown interaction")
        channel_id = int(interaction["channel_id"])
        key = call.key
        if key == "POST /interactions/{webhook_id}/{webhook_token}/callback":
            return self._callback(token, interaction, call)
        if key == "POST /webhooks/{webhook_id}/{webhook_token}":
            flags = call.body.get("flags", 0)
            deferral = self._deferrals.get(token)
            if deferral is not None and deferral.pending:
                # Discord: the first follow-up replaces the deferred message, same visibility.
                deferral.pending = False
                flags = EPHEMERAL if deferral.ephemeral else 0
                return self._create(
                    channel_id, call, flags=flags, token=token, message_id=deferral.message_id
                )
            return self._create(channel_id, call, flags=flags, token=token)
        if key == "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original":
            deferral = self._deferrals.get(token)
            if deferral is None:
                raise http_error(404, 10008, "Unknown Message")
            deferral.pending = False
            message = self.messages[deferral.message_id]
            message.update({k: v for k, v in call.body.items() if k != "flags"})
            message["flags"] = message.get("flags", 0) & ~LOADING
            message["edited_timestamp"] = p.iso(datetime.now(UTC))
            return message
        if key == "DELETE /webhooks/{webhook_id}/{webhook_token}/messages/@original":
            deferral = self._deferrals.pop(token, None)
            if deferral is not None:
                self.messages.pop(deferral.message_id, None)
            return None
        self.unexpected.append(key)
        raise AssertionError(f"test tried to reach Discord: {key}")

    def _callback(self, token: str, interaction: Payload, call: Call) -> Payload:
        kind = call.body["type"]
        data = call.body.get("data") or {}
        flags = data.get("flags", 0)
        channel_id = int(interaction["channel_id"])
        answer: Payload = {
            "id": interaction["id"],
            "type": interaction["type"],
            "response_message_loading": False,
            "response_message_ephemeral": bool(flags & EPHEMERAL),
        }
        resource: Payload = {"type": kind}
        if kind == DEFERRED_CHANNEL_MESSAGE:
            message = self._create(
                channel_id, Call("", "", "", {}), flags=flags | LOADING, token=token
            )
            self._deferrals[token] = Deferral(int(message["id"]), bool(flags & EPHEMERAL))
            answer["response_message_loading"] = True
            resource["message"] = message
        elif kind == CHANNEL_MESSAGE:
            message = self._create(
                channel_id, Call("", "", "", data, call.files), flags=flags, token=token
            )
            resource["message"] = message
        elif kind == AUTOCOMPLETE_RESULT:
            self.choices[token] = list(data["choices"])
        elif kind in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            pressed = int(interaction["message"]["id"])
            message = self.messages.setdefault(pressed, dict(interaction["message"]))
            self._deferrals[token] = Deferral(pressed, is_ephemeral(message), pending=False)
            if kind == UPDATE_MESSAGE:
                message.update(data)
                message["edited_timestamp"] = p.iso(datetime.now(UTC))
                resource["message"] = message
        else:
            self.unexpected.append(f"callback type {kind}")
            raise AssertionError(f"unexpected interaction callback type {kind}")
        if "message" in resource:
            answer["response_message_id"] = resource["message"]["id"]
        return {"interaction": answer, "resource": resource}

    # -- messages ------------------------------------------------------------------------

    def _create(
        self,
        channel_id: int,
        call: Call,
        *,
        flags: int,
        token: str | None = None,
        message_id: int | None = None,
    ) -> Payload:
        """A message by the bot in `channel_id`, made of what `call` sent."""
        body = call.body or {}
        message_id = message_id or self.snowflake()
        message = p.message(message_id, author=p.ME, content=body.get("content") or "", guild=False)
        message["channel_id"] = str(channel_id)
        message["flags"] = flags
        message["components"] = body.get("components", [])
        message["attachments"] = [
            {
                "id": str(self.snowflake()),
                "filename": name,
                "size": len(data),
                "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{message_id}/{name}",
                "proxy_url": f"https://media.discordapp.net/attachments/{channel_id}/{message_id}/{name}",
                "content_type": "application/json" if name.endswith(".json") else None,
            }
            for name, data in call.files
        ]
        if token is not None:
            message["webhook_id"] = str(p.ME)
            message["application_id"] = str(p.ME)
            message["_token"] = token  # test bookkeeping, stripped before it is sent back
            message["_files"] = list(call.files)
        self.messages[message_id] = message
        return {k: v for k, v in message.items() if not k.startswith("_")}


def _body(payload: Any, multipart: Any) -> Any:
    """The JSON a request carried: its payload, or the payload_json part of a multipart body."""
    if multipart:
        for part in multipart:
            if part.get("name") == "payload_json":
                return json.loads(part["value"])
    return payload


def _uploads(multipart: Any) -> list[tuple[str, bytes]]:
    """The files of a multipart body, as (filename, content)."""
    files = []
    for part in multipart or []:
        if str(part.get("name", "")).startswith("files["):
            handle = part["value"]
            position = handle.tell()
            files.append((part["filename"], handle.read()))
            handle.seek(position)
    return files


async def settle() -> None:
    """Let discord.py's event handlers, command-tree invocations and button presses finish."""
    names: tuple[str, ...] = ("discord.py: ", "CommandTree-invoker", "discord-ui-dynamic-item-")
    for _ in range(20):
        await asyncio.sleep(0)
        pending = [
            task
            for task in asyncio.all_tasks()
            if task.get_name().startswith(names) and not task.done()
        ]
        if not pending:
            return
        await asyncio.gather(*pending)


Dispatch = Callable[[Payload], Any]
