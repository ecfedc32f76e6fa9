"""The HTTP side: the purchase webhook, the click redirect and a health check (aiohttp).

- `POST /hooks/purchase`: a course platform reports a purchase, signed with HMAC-SHA256
  of the raw body under `[web] webhook_secret`; idempotent on `order_id`. Without a
  secret it refuses everything: an unsigned purchase is never accepted. The answer
  comes only after the purchase is committed (durably, see `Store.run_write`): a
  shop does not resend an order it got a 2xx for, so a crash must not lose it.
- `GET /r/{token}`: "Learn more" links land here; the click is recorded once per token
  and the member is sent on to the course page with UTM parameters.
- `GET /healthz`: the ingest pipeline's counters.

The body format, signature and responses are documented in docs/webhook.md. Handlers
never log the secret or request bodies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import math
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler
from sqlalchemy import select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.core.links import with_utm
from bot.domain.events import MAX_ID, PurchaseMade
from bot.domain.refs import parse_member_ref
from bot.errors import EventInvalid, MemberRefInvalid
from bot.store import schema as s
from bot.store.members import members_by_ids
from bot.store.tracking import Impression, impression, record_feedback

if TYPE_CHECKING:
    from bot.app import Cohort

log = logging.getLogger(__name__)

MAX_BODY: Final = 64 * 1024
SIGNATURE_HEADER: Final = "X-Cohort-Signature"
WEBHOOK_SOURCE: Final = "webhook"
CLICK_SOURCE: Final = "web"
MAX_AMOUNT: Final = 10_000_000_000  # interactions.amount is NUMERIC(12, 2)

TOKEN_RE: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_SIGNATURE_RE: Final = re.compile(r"sha256=([0-9a-fA-F]{64})")
_FIELDS: Final = frozenset({"order_id", "course", "member", "token", "amount", "currency", "ts"})
# Link previews fetch URLs posted in chats; they must not count as clicks.
_PREVIEW_AGENTS: Final = (
    "discordbot",
    "telegrambot",
    "slackbot",
    "twitterbot",
    "facebookexternalhit",
    "whatsapp",
    "linkedinbot",
    "skypeuripreview",
    "googlebot",
    "bingbot",
)


class BadField(ValueError):
    """A webhook body field failed validation; `str()` is `field: problem`."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True, slots=True)
class PurchaseBody:
    """A validated webhook body (member not yet resolved from the token)."""

    order_id: str
    course: str
    member: str | None
    token: str | None
    amount: float | None
    currency: str | None
    ts: datetime


def _id_field(data: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None:
        if required:
            raise BadField(name, "required")
        return None
    if isinstance(value, int) and not isinstance(value, bool) and name == "order_id":
        value = str(value)  # shops often number their orders
    if not isinstance(value, str):
        raise BadField(name, "must be a string")
    if not value:
        raise BadField(name, "must not be empty")
    if len(value) > MAX_ID:
        raise BadField(name, f"longer than {MAX_ID} characters")
    if value != value.strip() or any(ord(char) < 32 for char in value):
        raise BadField(name, "contains control characters or surrounding spaces")
    if any("\ud800" <= char <= "\udfff" for char in value):
        raise BadField(name, "contains a lone surrogate (not valid Unicode text)")
    return value


def parse_purchase_body(data: object, *, now: datetime | None = None) -> PurchaseBody:
    """Validate a decoded webhook body; raise `BadField` naming the first bad field."""
    if not isinstance(data, dict):
        raise BadField("body", "must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise BadField(unknown[0], "unknown field")
    order_id = _id_field(data, "order_id", required=True)
    course = _id_field(data, "course", required=True)
    assert order_id is not None and course is not None  # required=True never returns None

    member = _id_field(data, "member", required=False)
    if member is not None:
        try:
            member = str(parse_member_ref(member))
        except MemberRefInvalid as exc:
            _, _, problem = str(exc).partition(": ")
            raise BadField("member", problem or "expected platform:id") from None

    token = data.get("token")
    if token is not None and not (isinstance(token, str) and TOKEN_RE.fullmatch(token)):
        raise BadField("token", "must be a Cohort token (URL-safe base64, at most 64 characters)")

    amount = data.get("amount")
    if amount is not None:
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise BadField("amount", "must be a number")
        if not math.isfinite(amount) or amount < 0:
            raise BadField("amount", "must be a non-negative number")
        if amount >= MAX_AMOUNT:
            raise BadField("amount", "too large")
        amount = float(amount)

    currency = data.get("currency")
    if currency is not None:
        if not (
            isinstance(currency, str)
            and len(currency) == 3
            and currency.isascii()
            and currency.isalpha()
        ):
            raise BadField("currency", "must be a 3-letter ISO 4217 code, e.g. USD")
        currency = currency.upper()

    raw_ts = data.get("ts")
    if raw_ts is None:
        ts = now or datetime.now(UTC)
    else:
        if not isinstance(raw_ts, str):
            raise BadField("ts", "must be an ISO 8601 string")
        try:
            ts = datetime.fromisoformat(raw_ts)
        except ValueError:
            raise BadField("ts", "not an ISO 8601 date and time") from None
        if ts.tzinfo is None or ts.utcoffset() is None:
            raise BadField("ts", "needs a time zone, e.g. 2024-05-01T10:00:00Z")
        ts = ts.astimezone(UTC)

    return PurchaseBody(
        order_id=order_id,
        course=course,
        member=member,
        token=token,
        amount=amount,
        currency=currency,
        ts=ts,
    )


def sign(secret: str, body: bytes) -> str:
    """The `X-Cohort-Signature` value for `body`: `sha256=<hex HMAC-SHA256>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether `header` is the signature of `body` under `secret` (constant-time compare)."""
    if not secret or header is None:
        return False
    match = _SIGNATURE_RE.fullmatch(header.strip())
    if match is None:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, match.group(1).lower())


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _not_found(text: str = "This link is not valid or has expired.") -> web.Response:
    return web.Response(status=404, text=text + "\n", headers={"Cache-Control": "no-store"})


class _Refused(Exception):
    """Stop handling a webhook request with this response."""

    def __init__(self, response: web.Response) -> None:
        self.response = response
        super().__init__(response.status)


class _Handlers:
    """Request handlers sharing one Cohort and its web settings."""

    def __init__(self, cohort: Cohort) -> None:
        self.cohort = cohort
        self.secret = cohort.settings.web.webhook_secret.get_secret_value()

    # -- POST /hooks/purchase --------------------------------------------------------

    async def purchase(self, request: web.Request) -> web.Response:
        """The purchase webhook; see the module docstring and docs/webhook.md."""
        try:
            return await self._purchase(request)
        except _Refused as refused:
            return refused.response

    async def _read_signed(self, request: web.Request) -> bytes:
        if not self.secret:
            log.warning("purchase webhook refused: [web] webhook_secret is not configured")
            raise _Refused(
                _error(
                    503,
                    "webhook secret not configured: set [web] webhook_secret "
                    "(or COHORT_WEB__WEBHOOK_SECRET); unsigned purchases are never accepted",
                )
            )
        content_type = request.content_type
        if content_type != "application/json" and not content_type.endswith("+json"):
            raise _Refused(_error(415, "content type must be application/json"))
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise _Refused(_error(413, f"body larger than {MAX_BODY} bytes"))
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            raise _Refused(_error(413, f"body larger than {MAX_BODY} bytes")) from None
        if not signature_ok(self.secret, raw, request.headers.get(SIGNATURE_HEADER)):
            log.warning("purchase webhook: bad or missing signature from %s", request.remote)
            raise _Refused(
                _error(401, f"bad or missing {SIGNATURE_HEADER} (sha256=<hex HMAC-SHA256>)")
            )
        return raw

    async def _purchase(self, request: web.Request) -> web.Response:
        raw = await self._read_signed(request)
        try:
            data = json.loads(raw, parse_constant=_no_constants)
        except (ValueError, RecursionError):  # JSONDecodeError and bad UTF-8 are ValueErrors
            return _error(400, "body: not valid JSON")
        try:
            body = parse_purchase_body(data)
        except BadField as exc:
            log.info("purchase webhook: rejected body (%s)", exc.field)
            return _error(400, str(exc))

        if await self._recorded(body.order_id):
            log.info("purchase webhook: order %s already recorded", body.order_id)
            return web.json_response({"status": "duplicate"}, status=200)
        event = await self._event(body)
        # Written now, in its own durable transaction, not through the batching
        # pipeline: the answer below promises the order is on disk. A crash before
        # the commit means no answer, so the shop sends the order again.
        stored = await self._commit(event)
        if stored:
            log.info("purchase webhook: order %s of %s stored", body.order_id, body.course)
            return web.json_response({"status": "accepted"}, status=202)
        if await self._recorded(body.order_id):  # a concurrent retry stored it first
            log.info("purchase webhook: order %s already recorded", body.order_id)
            return web.json_response({"status": "duplicate"}, status=200)
        # The writer logged why (the member was erased, or the course just removed).
        # The shop must not retry an order Cohort will never store: 200, not 4xx/5xx.
        log.warning("purchase webhook: order %s not stored (see the line above)", body.order_id)
        return web.json_response({"status": "not stored"}, status=200)

    async def _commit(self, event: PurchaseMade) -> bool:
        """Write the purchase in one durable transaction; whether a row was stored."""
        writer = self.cohort.writer

        def work(conn: Connection) -> int:
            return writer.write(conn, [event]).interactions

        try:
            stored = await self.cohort.store.run_write(work, durable=True)
        except BaseException:
            writer.rolled_back()
            raise
        writer.committed()
        return stored > 0

    async def _recorded(self, order_id: str) -> bool:
        key = f"purchase:{WEBHOOK_SOURCE}:{order_id}"
        i = s.interactions.c
        async with self.cohort.store.read() as conn:
            found = await conn.scalar(select(i.id).where(i.dedupe_key == key).limit(1))
        return found is not None

    async def _event(self, body: PurchaseBody) -> PurchaseMade:
        """Check the course and token, resolve the member; raise `_Refused` (422) if not."""
        member = body.member
        community: str | None = None
        async with self.cohort.store.read() as conn:
            known = await conn.scalar(select(s.courses.c.id).where(s.courses.c.id == body.course))
            if known is None:
                raise _Refused(_error(422, f"course: unknown course {body.course!r}"))
            shown = None if body.token is None else await impression(conn, body.token)
            if body.token is not None and shown is None:
                raise _Refused(_error(422, "token: matches no Cohort link"))
            if member is None:
                if shown is None:
                    raise _Refused(_error(422, "member: required when there is no token"))
                member = await _member_of(conn, shown)
                if member is None:
                    raise _Refused(
                        _error(
                            422,
                            "member: the token's link was shown in a channel, not to a "
                            "member; send member (platform:id)",
                        )
                    )
            if shown is not None and shown.community_id is not None:
                place = await _community_of(conn, shown.community_id)
                if place is not None and member.startswith(place[0] + ":"):
                    community = place[1]
        platform, _, member_id = member.partition(":")
        try:
            return PurchaseMade(
                platform=platform,
                member=member_id,
                course=body.course,
                ts=body.ts,
                community=community,
                amount=body.amount,
                currency=body.currency,
                order=body.order_id,
                source=WEBHOOK_SOURCE,
                token=body.token,
            )
        except EventInvalid as exc:  # pragma: no cover - the body was validated above
            raise _Refused(_error(400, str(exc))) from None

    # -- GET /r/{token} --------------------------------------------------------------

    async def redirect(self, request: web.Request) -> web.Response:
        """Record a click (once per token) and send the member on to the course page."""
        token = request.match_info["token"]
        if not TOKEN_RE.fullmatch(token):
            return _not_found()
        async with self.cohort.store.read() as conn:
            shown = await impression(conn, token)
            if shown is None:
                return _not_found()
            if not shown.url:
                return _not_found("This course has no page to open.")
            platform = await _platform_of(conn, shown)
        if request.method == "GET" and not _is_preview(request):
            await self._record_click(shown, token)
        return web.Response(
            status=302,
            headers={
                "Location": with_utm(shown.url, token, platform, shown.variant),
                "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer",
            },
        )

    async def _record_click(self, shown: Impression, token: str) -> None:
        now = datetime.now(UTC)
        try:
            await self.cohort.store.run_write(
                lambda conn: record_feedback(conn, shown, "click", token, now, CLICK_SOURCE)
            )
        except (SQLAlchemyError, OSError):
            # The member still gets the course page; only the click count suffers.
            log.exception("recording a click failed")

    # -- GET /healthz ----------------------------------------------------------------

    async def health(self, request: web.Request) -> web.Response:
        """200 with the ingest pipeline's counters."""
        stats = asdict(self.cohort.pipeline.stats())
        return web.json_response({"status": "ok", **stats})


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _is_preview(request: web.Request) -> bool:
    agent = request.headers.get("User-Agent", "").lower()
    return any(name in agent for name in _PREVIEW_AGENTS)


async def _member_of(conn: AsyncConnection, shown: Impression) -> str | None:
    if shown.member_id is None:
        return None
    found = (await members_by_ids(conn, [shown.member_id])).get(shown.member_id)
    return None if found is None else found.ref


async def _community_of(conn: AsyncConnection, community_id: int) -> tuple[str, str] | None:
    c = s.communities.c
    row = (
        await conn.execute(select(c.platform, c.platform_id).where(c.id == community_id))
    ).first()
    return None if row is None else (row.platform, row.platform_id)


async def _platform_of(conn: AsyncConnection, shown: Impression) -> str:
    """The platform the pick was shown on (for `utm_medium`)."""
    if shown.community_id is not None:
        place = await _community_of(conn, shown.community_id)
        if place is not None:
            return place[0]
    if shown.member_id is not None:
        platform = await conn.scalar(
            select(s.members.c.platform).where(s.members.c.id == shown.member_id)
        )
        if platform is not None:
            return str(platform)
    return shown.source


@web.middleware
async def _database_unavailable(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A database that is down answers 503 (retry later) instead of a bare 500."""
    try:
        return await handler(request)
    except ConnectionResetError:  # the client went away: nobody to answer
        raise
    except (SQLAlchemyError, OSError):
        log.exception("%s %s: database unavailable", request.method, request.path)
        if request.path.startswith("/hooks/"):
            return _error(503, "database unavailable; retry later")
        return web.Response(status=503, text="Temporarily unavailable; try again.\n")


def build_web_app(cohort: Cohort) -> web.Application:
    """The aiohttp application: purchase webhook, click redirect and health check."""
    handlers = _Handlers(cohort)
    app = web.Application(client_max_size=MAX_BODY, middlewares=[_database_unavailable])
    app.router.add_post("/hooks/purchase", handlers.purchase)
    app.router.add_get("/r/{token}", handlers.redirect)
    app.router.add_get("/healthz", handlers.health)
    return app
