"""The HTTP side: purchase webhook, click redirect, health check and the server's lifecycle.

Requests go through aiohttp's test client to a real server on 127.0.0.1, in front of a
real Cohort on each backend; nothing leaves the machine.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from dataclasses import fields
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import typer
from aiohttp import ClientSession
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, text
from typer.testing import CliRunner

import bot.web.app as web_app
from bot.app import Cohort
from bot.cli.web_cmd import web
from bot.core.pipeline import PipelineStats
from bot.core.services.suite import Services
from bot.domain.refs import MemberRef
from bot.errors import ConfigError
from bot.serve import serve
from bot.store import schema as s
from bot.store.tracking import Shown, record_impressions
from bot.web import WebServer, build_web_app
from tests.conftest import make_settings
from tests.helpers import T0, consent, count, message, rows, write

SECRET = "s3cret"
COURSE_URL = "https://shop.example/rust-101?ref=catalog"
Client = TestClient[Any, Any]


def signature(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def add_course(cohort: Cohort, course_id: str, url: str | None) -> None:
    async with cohort.store.write() as conn:
        await conn.execute(
            s.courses.insert().values(id=course_id, title=course_id, tags=[], url=url)
        )


@pytest.fixture
async def cohort(backend: tuple[str, str | None]) -> AsyncIterator[Cohort]:
    """A Cohort with a webhook secret and two courses (one without a page), pipeline running."""
    url, schema = backend
    settings = make_settings(url, web={"webhook_secret": SECRET}, ingest={"batch_seconds": 0.05})
    app = await Cohort.build(settings, schema=schema)
    app.pipeline.start()
    try:
        await add_course(app, "rust-101", COURSE_URL)
        await add_course(app, "no-page", None)
        yield app
    finally:
        await app.close()


async def current_schema(cohort: Cohort) -> str | None:
    """The PostgreSQL schema the cohort works in (None on SQLite)."""
    if cohort.store.dialect != "postgresql":
        return None
    async with cohort.store.read() as conn:
        return str(await conn.scalar(text("SELECT current_schema()")))


async def open_client(cohort: Cohort) -> Client:
    client: Client = TestClient(TestServer(build_web_app(cohort), host="127.0.0.1"))
    await client.start_server()
    return client


@pytest.fixture
async def client(cohort: Cohort) -> AsyncIterator[Client]:
    client = await open_client(cohort)
    try:
        yield client
    finally:
        await client.close()


async def post(
    client: Client,
    body: dict[str, Any] | bytes,
    *,
    secret: str | None = SECRET,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": content_type}
    if secret is not None:
        headers["X-Cohort-Signature"] = signature(raw, secret)
    response = await client.post("/hooks/purchase", data=raw, headers=headers)
    payload = await response.json() if response.content_type == "application/json" else None
    return response.status, payload


def order(order_id: str = "o-1", **extra: Any) -> dict[str, Any]:
    return {"order_id": order_id, "course": "rust-101", "member": "discord:u1", **extra}


async def purchases(cohort: Cohort) -> list[Any]:
    await cohort.pipeline.flush()
    i = s.interactions.c
    return await rows(
        cohort,
        select(
            i.member_id,
            i.course_id,
            i.community_id,
            i.ts,
            i.source,
            i.amount,
            i.currency,
            i.token,
            i.dedupe_key,
        ).where(i.kind == "purchase"),
    )


async def member_id(cohort: Cohort, platform_id: str) -> int:
    [row] = await rows(cohort, select(s.members.c.id).where(s.members.c.platform_id == platform_id))
    return int(row.id)


async def community_id(cohort: Cohort, platform_id: str) -> int:
    [row] = await rows(
        cohort, select(s.communities.c.id).where(s.communities.c.platform_id == platform_id)
    )
    return int(row.id)


async def impression_token(
    cohort: Cohort, member: int | None, course: str = "rust-101", community: int | None = None
) -> str:
    shown = Shown(
        member_id=member,
        course_id=course,
        position=0,
        variant="A",
        source="dm",
        community_id=community,
    )
    [recorded] = await cohort.store.run_write(lambda conn: record_impressions(conn, [shown], T0))
    return recorded.token


# -- the purchase webhook ----------------------------------------------------------------


async def test_a_signed_purchase_is_accepted_and_stored(cohort: Cohort, client: Client) -> None:
    """A signed purchase answers 202 and becomes a `purchase` interaction from the webhook."""
    await write(cohort, consent("u1"))
    body = order(amount=49.5, currency="usd", ts="2024-05-02T10:00:00+02:00")
    assert await post(client, body) == (202, {"status": "accepted"})
    [row] = await purchases(cohort)
    assert row.member_id == await member_id(cohort, "u1")
    assert row.course_id == "rust-101"
    assert row.source == "webhook"
    assert row.dedupe_key == "purchase:webhook:o-1"
    assert row.amount == Decimal("49.50")
    assert row.currency == "USD"
    assert row.ts == T0.replace(day=2, hour=8)
    assert row.token is None


async def test_the_same_order_twice_is_a_duplicate_and_stored_once(
    cohort: Cohort, client: Client
) -> None:
    """Shop retries are idempotent: in flight and after the write, the order answers duplicate."""
    assert (await post(client, order("o-1")))[0] == 202
    assert await post(client, order("o-1")) == (200, {"status": "duplicate"})
    await cohort.pipeline.flush()
    fresh = await open_client(cohort)  # nothing in memory: the answer comes from the store
    try:
        assert await post(fresh, order("o-1", amount=10)) == (200, {"status": "duplicate"})
        assert (await post(fresh, order("o-2")))[0] == 202
    finally:
        await fresh.close()
    assert sorted(row.dedupe_key for row in await purchases(cohort)) == [
        "purchase:webhook:o-1",
        "purchase:webhook:o-2",
    ]


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Cohort-Signature": signature(json.dumps(order()).encode(), "wrong")},
        {"X-Cohort-Signature": signature(json.dumps(order("other")).encode())},
        {"X-Cohort-Signature": signature(json.dumps(order()).encode()).removeprefix("sha256=")},
        {"X-Cohort-Signature": "sha256=zz"},
    ],
    ids=["missing", "other-secret", "other-body", "no-prefix", "garbage"],
)
async def test_a_bad_or_missing_signature_is_401_and_nothing_is_stored(
    cohort: Cohort, client: Client, headers: dict[str, str]
) -> None:
    """Only bodies signed with the configured secret are accepted."""
    response = await client.post(
        "/hooks/purchase",
        data=json.dumps(order()).encode(),
        headers={"Content-Type": "application/json", **headers},
    )
    assert response.status == 401
    assert "X-Cohort-Signature" in (await response.json())["error"]
    assert await purchases(cohort) == []


async def test_without_a_secret_the_webhook_refuses_everything(sqlite_cohort: Cohort) -> None:
    """No [web] webhook_secret: 503 naming the setting, even for a body 'signed' with ''."""
    await add_course(sqlite_cohort, "rust-101", COURSE_URL)
    client = await open_client(sqlite_cohort)
    try:
        for secret in (None, ""):
            status, payload = await post(client, order(), secret=secret)
            assert status == 503
            assert "webhook_secret" in payload["error"]
            assert "not configured" in payload["error"]
    finally:
        await client.close()
    await sqlite_cohort.pipeline.flush()
    assert await count(sqlite_cohort, s.interactions) == 0


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"{not json", "body: not valid JSON"),
        (b"", "body: not valid JSON"),
        (b'{"amount": NaN}', "body: not valid JSON"),
        (b"\xff\xfe{}", "body: not valid JSON"),
        (b"[" * 50_000, "body: not valid JSON"),
        (b'["o-1"]', "body: must be a JSON object"),
    ],
    ids=["broken", "empty", "nan", "not-utf8", "deep", "list"],
)
async def test_malformed_json_is_400(client: Client, raw: bytes, error: str) -> None:
    """A signed body that is not a JSON object is a 400 saying so."""
    assert await post(client, raw) == (400, {"error": error})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"course": "rust-101", "member": "discord:u1"}, "order_id"),
        (order(order_id=""), "order_id"),
        (order(order_id=" o-1"), "order_id"),
        (order(order_id="x" * 101), "order_id"),
        (order(order_id="\ud800"), "order_id"),
        (order(member="discord:\udfff"), "member"),
        ({"order_id": "o-1", "member": "discord:u1"}, "course"),
        (order(course=7), "course"),
        (order(member="slack:u1"), "member"),
        (order(member="u1"), "member"),
        (order(token="not a token!"), "token"),
        (order(token="a" * 65), "token"),
        (order(amount=-1), "amount"),
        (order(amount="49"), "amount"),
        (order(amount=True), "amount"),
        (order(amount=1e12), "amount"),
        (order(currency="US"), "currency"),
        (order(currency=840), "currency"),
        (order(ts="2024-05-02T10:00:00"), "ts"),
        (order(ts="yesterday"), "ts"),
        (order(ts=1714600000), "ts"),
        (order(orderId="o-1"), "orderId"),
    ],
)
async def test_an_invalid_body_is_400_naming_the_field(
    cohort: Cohort, client: Client, body: dict[str, Any], field: str
) -> None:
    """Validation errors are `field: problem`, and nothing is queued."""
    status, payload = await post(client, body)
    assert status == 400
    assert payload["error"].startswith(f"{field}: ")
    assert cohort.pipeline.stats().events_in == 0


async def test_a_numeric_order_id_is_its_decimal_string(cohort: Cohort, client: Client) -> None:
    """Shops that number orders may send them as JSON numbers; 1001 and "1001" are one order."""
    assert (await post(client, order(1001)))[0] == 202
    assert await post(client, order("1001")) == (200, {"status": "duplicate"})
    [row] = await purchases(cohort)
    assert row.dedupe_key == "purchase:webhook:1001"


async def test_a_non_json_content_type_is_415(client: Client) -> None:
    """Only application/json (or a +json type) is read."""
    status, payload = await post(client, order(), content_type="text/plain")
    assert status == 415
    assert "application/json" in payload["error"]
    assert (await post(client, order(), content_type="application/vnd.shop+json"))[0] == 202


async def test_an_unknown_course_is_422(cohort: Cohort, client: Client) -> None:
    """A course that is not in the catalog is refused before it reaches the pipeline."""
    status, payload = await post(client, order(course="cobol-9000"))
    assert status == 422
    assert payload["error"].startswith("course: ")
    assert "cobol-9000" in payload["error"]
    assert cohort.pipeline.stats().events_in == 0


async def test_neither_member_nor_token_is_422(cohort: Cohort, client: Client) -> None:
    """Without member or token nobody can be named as the buyer."""
    status, payload = await post(client, {"order_id": "o-1", "course": "rust-101"})
    assert status == 422
    assert payload["error"].startswith("member: ")


async def test_a_token_that_matches_no_impression_is_422(cohort: Cohort, client: Client) -> None:
    """A well-formed but unknown token is refused, with or without a member."""
    for body in (
        order(token="AAAAAAAAAAAA"),
        {"order_id": "o-1", "course": "rust-101", "token": "AAAAAAAAAAAA"},
    ):
        status, payload = await post(client, body)
        assert status == 422
        assert payload["error"].startswith("token: ")
    assert cohort.pipeline.stats().events_in == 0


async def test_a_token_only_purchase_takes_the_member_from_the_impression(
    cohort: Cohort, client: Client
) -> None:
    """`token` alone names the buyer (the impression's member) and the community; both stored."""
    await write(cohort, consent("u1"))
    uid, gid = await member_id(cohort, "u1"), await community_id(cohort, "g1")
    token = await impression_token(cohort, uid, community=gid)
    body = {"order_id": "o-7", "course": "rust-101", "token": token}
    assert await post(client, body) == (202, {"status": "accepted"})
    [row] = await purchases(cohort)
    assert (row.member_id, row.community_id, row.token) == (uid, gid, token)
    assert row.source == "webhook"


async def test_a_token_of_an_anonymous_impression_needs_a_member(
    cohort: Cohort, client: Client
) -> None:
    """A pick shown in a channel has no member: 422 asking for `member`; with it, accepted."""
    token = await impression_token(cohort, None)
    status, payload = await post(client, {"order_id": "o-8", "course": "rust-101", "token": token})
    assert status == 422
    assert payload["error"].startswith("member: ")
    assert (await post(client, order("o-8", token=token)))[0] == 202
    [row] = await purchases(cohort)
    assert row.token == token


async def test_an_oversized_body_is_413(cohort: Cohort, client: Client) -> None:
    """Bodies over 64 KiB are refused, whether announced by Content-Length or streamed."""
    raw = json.dumps(order(padding="x" * 70_000)).encode()
    assert (await post(client, raw))[0] == 413

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 8192):
            yield raw[start : start + 8192]

    response = await client.post(
        "/hooks/purchase",
        data=chunks(),
        headers={"Content-Type": "application/json", "X-Cohort-Signature": signature(raw)},
    )
    assert response.status == 413
    assert cohort.pipeline.stats().events_in == 0


async def test_a_purchase_is_committed_before_the_answer(
    backend: tuple[str, str | None],
) -> None:
    """202 means on disk: the row is there at once, with a pipeline batch far from due."""
    url, schema = backend
    settings = make_settings(url, web={"webhook_secret": SECRET}, ingest={"batch_seconds": 60})
    app = await Cohort.build(settings, schema=schema)
    app.pipeline.start()
    try:
        await add_course(app, "rust-101", COURSE_URL)
        client = await open_client(app)
        try:
            assert await post(client, order("o-9")) == (202, {"status": "accepted"})
            keys = await rows(app, select(s.interactions.c.dedupe_key))
            assert [row.dedupe_key for row in keys] == ["purchase:webhook:o-9"]
        finally:
            await client.close()
    finally:
        await app.close()


async def test_a_purchase_of_an_erased_member_is_a_2xx_and_not_stored(
    cohort: Cohort, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Erased by another process: 200 "not stored", no row, no FK error, one clear log line."""
    await write(cohort, consent("u1"))
    assert (await post(client, order("o-1")))[0] == 202  # caches the member in this process
    url = cohort.settings.database_url
    schema = await current_schema(cohort)
    other = await Cohort.build(make_settings(url), schema=schema)
    try:
        services = Services.build(other, instance="test")
        await services.privacy.forget(MemberRef("discord", "u1"))
    finally:
        await other.close()
    before = await count(cohort, s.interactions)
    caplog.set_level("INFO")
    assert await post(client, order("o-2")) == (200, {"status": "not stored"})
    assert await count(cohort, s.interactions) == before
    assert "purchase (order o-2) of an erased member dropped: not stored" in caplog.text
    assert "FOREIGN KEY" not in caplog.text.upper()
    assert await count(cohort, s.members) == 0


async def test_the_healthz_counters_follow_the_pipeline(cohort: Cohort, client: Client) -> None:
    """/healthz reports what the ingest pipeline took in and wrote."""
    assert cohort.pipeline.ingest(message())
    await cohort.pipeline.flush()
    response = await client.get("/healthz")
    payload = await response.json()
    assert (payload["events_in"], payload["written"]) == (1, 1)


async def test_the_secret_and_body_are_never_logged(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    """Logs name orders and fields, never the secret or what the body carried."""
    caplog.set_level("DEBUG")
    await post(client, order("o-1", currency="ZZZ", amount=12345.67))
    await post(client, order("o-2", ts="private-detail"))
    await post(client, order("o-3"), secret="wrong")
    text = caplog.text
    assert "o-1" in text
    for secret_or_body in (SECRET, "12345.67", "private-detail", "discord:u1"):
        assert secret_or_body not in text


# -- the click redirect ------------------------------------------------------------------


async def clicks(cohort: Cohort) -> list[Any]:
    i = s.interactions.c
    return await rows(cohort, select(i.token, i.source, i.attributed_to).where(i.kind == "click"))


async def test_the_redirect_records_one_click_and_forwards_with_utm(
    cohort: Cohort, client: Client
) -> None:
    """Two hits: two 302s to the course page with UTM and token, one click attributed."""
    await write(cohort, consent("u1"))
    token = await impression_token(cohort, await member_id(cohort, "u1"))
    for _ in range(2):
        response = await client.get(f"/r/{token}", allow_redirects=False)
        assert response.status == 302
        assert response.headers["Cache-Control"] == "no-store"
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "shop.example",
        "/rust-101",
    )
    assert parse_qs(location.query) == {
        "ref": ["catalog"],
        "utm_source": ["cohort"],
        "utm_medium": ["discord"],
        "utm_campaign": ["recommendation"],
        "cohort_token": [token],
    }
    [impression_id] = await rows(
        cohort, select(s.interactions.c.id).where(s.interactions.c.kind == "impression")
    )
    assert await clicks(cohort) == [(token, "web", impression_id.id)]


async def test_link_previews_and_head_requests_are_not_clicks(
    cohort: Cohort, client: Client
) -> None:
    """Chat apps fetch posted links for previews; they are redirected but not counted."""
    token = await impression_token(cohort, None)
    preview = {"User-Agent": "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"}
    response = await client.get(f"/r/{token}", headers=preview, allow_redirects=False)
    assert response.status == 302
    response = await client.head(f"/r/{token}", allow_redirects=False)
    assert response.status == 302
    assert await clicks(cohort) == []
    await client.get(f"/r/{token}", allow_redirects=False)
    assert len(await clicks(cohort)) == 1


async def test_an_unknown_token_or_a_course_without_page_is_404(
    cohort: Cohort, client: Client
) -> None:
    """No impression, or nowhere to send the member: a short plain 404 and no click."""
    token = await impression_token(cohort, None, course="no-page")
    for path in ("/r/AAAAAAAAAAAA", f"/r/{token}"):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 404
        assert response.content_type == "text/plain"
        assert len(await response.text()) < 200
    assert await clicks(cohort) == []


@pytest.mark.parametrize(
    "token", ["a" * 65, "abc.def", "abc%2Fdef", "abc%00", "ab+cd", "%E2%9C%93"]
)
async def test_a_malformed_token_is_404_without_touching_the_database(
    client: Client, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """Anything but URL-safe base64 of at most 64 characters never reaches a query."""

    async def no_query(*args: Any) -> None:
        raise AssertionError("the database was queried")

    monkeypatch.setattr(web_app, "impression", no_query)
    response = await client.get(f"/r/{token}", allow_redirects=False)
    assert response.status == 404


# -- health ------------------------------------------------------------------------------


async def test_healthz_reports_the_pipeline_counters(cohort: Cohort, client: Client) -> None:
    """/healthz: status ok plus every PipelineStats field."""
    assert (await post(client, order()))[0] == 202
    response = await client.get("/healthz")
    assert response.status == 200
    payload = await response.json()
    assert payload.pop("status") == "ok"
    assert set(payload) == {f.name for f in fields(PipelineStats)}


# -- the server --------------------------------------------------------------------------


async def test_web_server_starts_serves_and_stops(cohort: Cohort) -> None:
    """WebServer on a free port: running, answers /healthz on loopback, then stops."""
    server = WebServer(cohort, host="127.0.0.1", port=0)
    assert not server.running
    await server.start()
    try:
        assert server.running
        assert server.port != 0
        async with ClientSession() as session, session.get(f"{server.url}/healthz") as response:
            assert response.status == 200
    finally:
        await server.stop()
    assert not server.running
    await server.stop()  # twice is fine


async def test_a_taken_port_is_a_clear_error(cohort: Cohort) -> None:
    """A port in use fails start() with a ConfigError naming the address and the setting."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = WebServer(cohort, host="127.0.0.1", port=port)
        with pytest.raises(
            ConfigError, match=rf"127\.0\.0\.1:{port} is already in use.*\[web\] port"
        ):
            await server.start()
        assert not server.running
        await server.stop()


async def test_serve_runs_the_web_server_like_an_adapter(cohort: Cohort) -> None:
    """serve() starts WebServer next to (or instead of) the bots and flushes at stop."""
    server = WebServer(cohort, host="127.0.0.1", port=0)
    stop = asyncio.Event()
    running = asyncio.create_task(serve(cohort, {"web": server}, stop, health_every=0.05))
    deadline = asyncio.get_running_loop().time() + 30
    while not server.running:
        assert not running.done(), running.exception()
        assert asyncio.get_running_loop().time() < deadline, "the web server never started"
        await asyncio.sleep(0.01)
    raw = json.dumps(order("o-serve")).encode()
    headers = {"Content-Type": "application/json", "X-Cohort-Signature": signature(raw)}
    async with (
        ClientSession() as session,
        session.post(f"{server.url}/hooks/purchase", data=raw, headers=headers) as response,
    ):
        assert response.status == 202
    stop.set()
    await running
    assert not server.running
    [row] = await purchases(cohort)
    assert row.dedupe_key == "purchase:webhook:o-serve"


# -- `cohort web` ------------------------------------------------------------------------


def web_cli() -> typer.Typer:
    """`web` as its own command (main.py registers it as `cohort web`)."""
    app = typer.Typer()
    app.command()(web)

    @app.callback()
    def root() -> None:
        """Root."""

    return app


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_cohort_web_on_a_taken_port_exits_with_one_line(tmp_path: Path) -> None:
    """`cohort web` on a port in use: exit 1 and an error line naming the port."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(web_cli(), ["web", "--host", "127.0.0.1", "--port", str(port)])
    assert result.exit_code == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ")
    assert f"127.0.0.1:{port} is already in use" in last


@pytest.mark.slow
def test_cohort_web_serves_until_sigterm_and_flushes(tmp_path: Path) -> None:
    """A purchase accepted by `cohort web` is written when SIGTERM stops it (batch not due yet)."""
    port = free_port()
    (tmp_path / "config.toml").write_text(
        '[database]\nurl = "sqlite+aiosqlite:///cohort.db"\n'
        f'[web]\nhost = "127.0.0.1"\nport = {port}\nwebhook_secret = "{SECRET}"\n'
        "[ingest]\nbatch_seconds = 30\n",
        encoding="utf-8",
    )
    (tmp_path / "courses.toml").write_text(
        '[[courses]]\nid = "rust-101"\ntitle = "Rust"\n', encoding="utf-8"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("COHORT_")}
    setup = subprocess.run(
        [sys.executable, "-m", "bot", "-c", "config.toml", "courses", "import", "courses.toml"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert setup.returncode == 0, setup.stderr
    script = (
        "import typer; from bot.cli.web_cmd import web; app = typer.Typer(); "
        "app.command()(web); app.callback()(lambda: None); app()"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "web"],
        cwd=tmp_path,
        env={**env, "COHORT_CONFIG": "config.toml"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert response.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert process.poll() is None, process.communicate()[1]
                assert time.monotonic() < deadline, "cohort web never answered"
                time.sleep(0.1)
        raw = json.dumps(order("o-cli")).encode()
        request = urllib.request.Request(
            f"{base}/hooks/purchase",
            data=raw,
            headers={"Content-Type": "application/json", "X-Cohort-Signature": signature(raw)},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    import sqlite3

    with sqlite3.connect(tmp_path / "cohort.db") as db:
        stored = db.execute(
            "SELECT dedupe_key FROM interactions WHERE kind = 'purchase'"
        ).fetchall()
    assert stored == [("purchase:webhook:o-cli",)]
