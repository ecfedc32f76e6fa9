"""Discord slash commands and buttons, from a gateway INTERACTION_CREATE to Discord's API.

A real Cohort on SQLite with the demo catalog, real services and `Commands`, a real
`DiscordAdapter` whose client logs in and syncs its command tree, and real discord.py
interactions built from gateway payloads by `ConnectionState.parse_interaction_create`.
Only Discord's side is fake (`tests.fakes.discord`): what the tests check is
what discord.py sent over the wire, and what the member would see.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import discord
import pytest
from babel.messages.catalog import Catalog
from sqlalchemy import select

from bot.adapters.discord import DiscordAdapter, DiscordTransport
from bot.adapters.discord.buttons import TEMPLATE, CohortButton
from bot.adapters.discord.commands import (
    OPTIONAL_ON_DISCORD,
    CommandTranslator,
    DiscordCommands,
    actor_for,
)
from bot.adapters.discord.transport import outgoing
from bot.app import Cohort
from bot.core.commands import COMMANDS, ArgValue, Commands
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.replies import Button, Paragraph, Reply
from bot.i18n import Translator, translator
from bot.store import schema as s
from tests.core.services.conftest import load_catalog
from tests.fakes import discord_payloads as p
from tests.fakes.discord import (
    ADMINISTRATOR,
    CHANNEL_MESSAGE,
    DEFERRED_CHANNEL_MESSAGE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    GOOD_TOKEN,
    MANAGE_GUILD,
    MEMBER_PERMISSIONS,
    UPDATE_MESSAGE,
    FakeDiscord,
    custom_ids,
    http_error,
    is_ephemeral,
    settle,
)
from tests.fakes.sink import RecordingSink
from tests.helpers import consent, message, rows, write

GUILD = str(p.GUILD)
APOLOGY = "Something went wrong; please try again later."


@pytest.fixture
async def cohort(sqlite_cohort: Cohort) -> Cohort:
    """Cohort with the demo catalog, having seen a message in the test guild."""
    await load_catalog(sqlite_cohort)
    await write(
        sqlite_cohort,
        message(
            community=GUILD,
            channel=str(p.GENERAL),
            channel_name="general",
            member=str(p.CAROL),
            text="rust tokio",
        ),
    )
    return sqlite_cohort


@pytest.fixture
def commands(cohort: Cohort) -> Commands:
    """The real command router over the real services."""
    return Commands(Services.build(cohort))


@pytest.fixture
async def adapter(
    net: FakeDiscord, cohort: Cohort, commands: Commands
) -> AsyncIterator[DiscordAdapter]:
    """A started adapter serving commands, its cache holding the test guild."""
    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=commands)
    await adapter.start()
    try:
        adapter.client._connection.parse_guild_create(p.guild_create())
        await settle()
        yield adapter
    finally:
        await adapter.stop()


@pytest.fixture
def runs(
    adapter: DiscordAdapter, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[Actor, str, Reply]]:
    """Every `Commands.run` the adapter made: (actor, command, reply)."""
    seen: list[tuple[Actor, str, Reply]] = []
    real = commands.run

    async def run(actor: Actor, name: str, args: Any = None) -> Reply:
        reply = await real(actor, name, args)
        seen.append((actor, name, reply))
        return reply

    monkeypatch.setattr(commands, "run", run)
    return seen


@pytest.fixture
def slow_presses(
    adapter: DiscordAdapter, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every button press takes longer than the adapter waits before deferring."""
    assert adapter.commands is not None
    adapter.commands.ack_within = 0.01
    real = commands.press

    async def press(actor: Actor, action: str, interaction: str | None = None) -> Reply:
        await asyncio.sleep(0.1)
        return await real(actor, action, interaction)

    monkeypatch.setattr(commands, "press", press)


async def interact(adapter: DiscordAdapter, payload: dict[str, Any]) -> str:
    """Dispatch INTERACTION_CREATE through discord.py's parser; returns its token."""
    adapter.client._connection.parse_interaction_create(payload)  # type: ignore[arg-type]
    await settle()
    return str(payload["token"])


def text(messages: list[dict[str, Any]]) -> str:
    """What the member reads in these messages."""
    return "\n".join(m["content"] for m in messages)


# --- the command tree -------------------------------------------------------------------


async def test_tree_holds_every_command_with_typed_options(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """After login the tree is synced once: every command, its options typed and described."""
    assert net.routes()[:3] == [
        "GET /users/@me",
        "GET /oauth2/applications/@me",
        "PUT /applications/{application_id}/commands",
    ]
    assert len(net.requests("PUT /applications/{application_id}/commands")) == 1
    synced = {c["name"]: c for c in net.synced or []}
    assert list(synced) == [spec.name for spec in COMMANDS]
    for spec in COMMANDS:
        sent = synced[spec.name]
        assert sent["description"] == spec.description
        options = {o["name"]: o for o in sent.get("options", [])}
        assert set(options) == {o.name for o in spec.options}
        for option in spec.options:
            assert options[option.name]["description"] == option.description
            optional_here = (spec.name, option.name) in OPTIONAL_ON_DISCORD
            assert options[option.name]["required"] == (option.required and not optional_here)
            assert options[option.name]["type"] == (4 if option.kind is int else 3)
    assert synced["courses"]["options"][0]["min_value"] == 1
    assert synced["promote"]["options"][0]["name"] == "course"
    for spec in COMMANDS:
        for option in synced[spec.name].get("options", []):
            suggested = any(o.suggest for o in spec.options if o.name == option["name"])
            assert option.get("autocomplete", False) == suggested
    assert [o["autocomplete"] for o in synced["promote"]["options"]] == [True, True]


async def test_promote_course_autocomplete_offers_matching_courses_to_moderators(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """Typing "rust" in /promote course lists the Rust courses, title and id, by their id."""
    payload = net.autocomplete(
        "promote",
        {"course": "rust", "audience": ""},
        "course",
        user=p.BOB,
        permissions=MEMBER_PERMISSIONS | MANAGE_GUILD,
    )
    token = await interact(adapter, payload)
    assert net.choices[token] == [
        {"name": "Rust from Zero (rust-101)", "value": "rust-101"},
        {"name": "Async Rust with Tokio (rust-async)", "value": "rust-async"},
    ]
    assert net.shown(token) == []  # suggestions are not messages
    assert await rows(cohort, select(s.audit_log.c.id)) == []  # keystrokes are not audited


async def test_promote_audience_autocomplete_lists_channels_and_typed_top_n(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """The audience option offers opted-in, top:N as typed, and the guild's channels by name."""
    moderator = MEMBER_PERMISSIONS | MANAGE_GUILD
    token = await interact(
        adapter,
        net.autocomplete(
            "promote", {"course": "rust-101", "audience": ""}, "audience", permissions=moderator
        ),
    )
    values = [choice["value"] for choice in net.choices[token]]
    assert values == ["opted-in", "top:10", "top:50", "top:100", f"channel:{p.GENERAL}"]
    assert net.choices[token][-1]["name"] == "#general"
    token = await interact(
        adapter,
        net.autocomplete(
            "promote",
            {"course": "rust-101", "audience": "top:25"},
            "audience",
            permissions=moderator,
        ),
    )
    assert net.choices[token] == [
        {"name": "Top 25 members by predicted interest", "value": "top:25"}
    ]


async def test_promote_autocomplete_offers_nothing_to_members(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """Someone without Manage Server sees no courses or channels suggested (and no error)."""
    token = await interact(
        adapter, net.autocomplete("promote", {"course": "", "audience": ""}, "course", user=p.BOB)
    )
    assert net.choices[token] == []


async def test_moderator_commands_are_guild_only_for_manage_server(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """/promote and /insights: hidden without Manage Server, not offered in DMs; others open."""
    synced = {c["name"]: c for c in net.synced or []}
    for spec in COMMANDS:
        sent = synced[spec.name]
        if spec.moderator:
            assert int(sent["default_member_permissions"]) == MANAGE_GUILD
        else:
            assert sent["default_member_permissions"] is None
        if spec.moderator or spec.community_only:
            assert sent["dm_permission"] is False and sent["contexts"] == [0]
        else:
            assert sent["dm_permission"] is True


async def test_sync_sends_chinese_descriptions_from_the_catalog(
    net: FakeDiscord, cohort: Cohort, commands: Commands
) -> None:
    """Descriptions the catalog translates are synced as zh-CN localizations; names never."""
    catalog = Catalog(locale="zh_Hans", domain="cohort")
    catalog.add("Course picks for you", "为你挑选的课程")
    catalog.add("Page", "页码")
    catalog.add("help", "帮助")  # a command name: must never be localized
    catalog.add("page", "页")  # an option name, likewise
    zh = Translator.from_catalog("zh_Hans", catalog)

    def lookup(locale: str) -> Translator:
        return zh if locale.startswith("zh") else translator(locale)

    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=commands)
    assert adapter.commands is not None
    adapter.commands.translator = CommandTranslator(lookup)
    await adapter.start()
    await adapter.stop()
    synced = {c["name"]: c for c in net.synced or []}
    # zh-TW falls back to Simplified Chinese, as every reply to a zh-TW member does.
    assert synced["recommend"]["description_localizations"] == {
        "zh-CN": "为你挑选的课程",
        "zh-TW": "为你挑选的课程",
    }
    page = synced["courses"]["options"][0]
    assert page["description_localizations"] == {"zh-CN": "页码", "zh-TW": "页码"}
    assert synced["help"]["description_localizations"] == {}  # not in this catalog
    assert all(not c["name_localizations"] for c in synced.values())
    assert not page.get("name_localizations")


async def test_real_catalog_localizes_exactly_what_it_translates(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """With the shipped catalog a zh-CN description is present iff it is translated."""
    t = translator("zh-CN")
    synced = {c["name"]: c for c in net.synced or []}
    for spec in COMMANDS:
        chinese = t(spec.description)
        expected = {} if chinese == spec.description else {"zh-CN": chinese, "zh-TW": chinese}
        assert synced[spec.name]["description_localizations"] == expected


async def test_sync_failure_is_logged_and_the_bot_still_starts(
    net: FakeDiscord, cohort: Cohort, commands: Commands, caplog: pytest.LogCaptureFixture
) -> None:
    """Discord refusing the command sync is logged; start() goes on to the gateway."""
    net.refuse(
        "PUT /applications/{application_id}/commands",
        http_error(500, 0, "500: Internal Server Error"),
    )
    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=commands)
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.commands"):
        await adapter.start()
    try:
        assert adapter.running
        assert "could not sync" in caplog.text
    finally:
        await adapter.stop()


async def test_successful_sync_logs_the_count(
    net: FakeDiscord, cohort: Cohort, commands: Commands, caplog: pytest.LogCaptureFixture
) -> None:
    """A sync logs how many commands Discord now has."""
    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=commands)
    with caplog.at_level(logging.INFO, logger="bot.adapters.discord.commands"):
        await adapter.start()
    await adapter.stop()
    assert f"synced {len(COMMANDS)} Discord application commands" in caplog.text


# --- slash commands ---------------------------------------------------------------------


async def test_recommend_defers_then_follows_up_with_the_reply_buttons(
    adapter: DiscordAdapter, net: FakeDiscord, runs: list[tuple[Actor, str, Reply]]
) -> None:
    """/recommend: an ephemeral thinking deferral, then the picks with the reply's buttons."""
    token = await interact(adapter, net.slash("recommend", user=p.BOB))
    assert net.callbacks() == [{"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}]
    (actor, name, reply) = runs[0]
    assert name == "recommend"
    assert actor == Actor(
        platform="discord",
        member=str(p.BOB),
        name="bob",
        community=GUILD,
        channel=str(p.GENERAL),
        locale="en-US",
        roles=(),
        is_admin=False,
    )
    shown = net.shown(token)
    assert shown and all(is_ephemeral(m) for m in shown)
    assert "Picks for this channel" in text(shown)
    actions = [b.action for b in reply.all_buttons() if b.action is not None]
    assert actions == [f"optin:{GUILD}"]
    assert [cid for m in shown for cid in custom_ids(m)] == actions
    for call in net.followups():
        assert call.body["allowed_mentions"] == {"parse": []}


async def test_recommend_for_a_consenting_member_has_feedback_buttons(
    adapter: DiscordAdapter,
    net: FakeDiscord,
    cohort: Cohort,
    runs: list[tuple[Actor, str, Reply]],
) -> None:
    """An opted-in member's picks carry the reply's Interested/Not for me actions as custom ids."""
    await write(
        cohort,
        consent(str(p.ALICE), True, True, community=GUILD),
        message(community=GUILD, channel=str(p.GENERAL), member=str(p.ALICE)),
    )
    token = await interact(adapter, net.slash("recommend"))
    reply = runs[0][2]
    actions = [b.action for b in reply.all_buttons() if b.action is not None]
    assert actions and {a.split(":")[0] for a in actions} == {"in", "no"}
    assert [cid for m in net.shown(token) for cid in custom_ids(m)] == actions
    assert "Your course picks" in text(net.shown(token))


async def test_zh_cn_member_reads_chinese(adapter: DiscordAdapter, net: FakeDiscord) -> None:
    """A member whose Discord speaks zh-CN gets the reply in Simplified Chinese."""
    token = await interact(adapter, net.slash("recommend", user=p.BOB, locale="zh-CN"))
    t = translator("zh-CN")
    assert t("Picks for this channel") != "Picks for this channel"
    shown = text(net.shown(token))
    assert t("Picks for this channel") in shown and "Picks for this channel" not in shown


async def test_courses_page_option_arrives_as_an_integer(
    adapter: DiscordAdapter, net: FakeDiscord, runs: list[tuple[Actor, str, Reply]]
) -> None:
    """/courses page:2 shows the second page."""
    token = await interact(adapter, net.slash("courses", {"page": 2}))
    assert "Page 2 of " in text(net.shown(token))


async def test_non_moderator_promote_is_refused_and_audited(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """A member without Manage Server running /promote is refused; the audit log says denied."""
    token = await interact(
        adapter, net.slash("promote", {"course": "rust-101", "audience": "opted-in"}, user=p.BOB)
    )
    shown = net.shown(token)
    assert text(shown) == "Only moderators and admins can do this."
    assert all(is_ephemeral(m) for m in shown) and not custom_ids(shown[0])
    audit = await rows(cohort, select(s.audit_log.c.action, s.audit_log.c.outcome))
    assert audit == [("promote", "denied")]


@pytest.mark.parametrize("permissions", [MANAGE_GUILD, ADMINISTRATOR])
async def test_manage_server_or_admin_gets_the_promotion_preview(
    adapter: DiscordAdapter,
    net: FakeDiscord,
    cohort: Cohort,
    runs: list[tuple[Actor, str, Reply]],
    permissions: int,
) -> None:
    """Manage Server or Administrator in the payload makes a moderator: preview, Confirm/Cancel."""
    payload = net.slash(
        "promote",
        {"course": "rust-101", "audience": "opted-in"},
        user=p.BOB,
        permissions=MEMBER_PERMISSIONS | permissions,
    )
    token = await interact(adapter, payload)
    assert runs[0][0].is_admin
    shown = net.shown(token)
    assert "Preview:" in text(shown)
    buttons = [cid for m in shown for cid in custom_ids(m)]
    assert len(buttons) == 2 and buttons[0].startswith("pr:") and buttons[1] == "pr:cancel"
    audit = await rows(cohort, select(s.audit_log.c.action, s.audit_log.c.outcome))
    assert audit == [("promote.preview", "ok")]


async def test_guild_owner_and_role_names_reach_the_actor(
    adapter: DiscordAdapter, net: FakeDiscord, runs: list[tuple[Actor, str, Reply]]
) -> None:
    """The guild owner is an admin; a member's role names (not @everyone) are reported."""
    guild = adapter.client.get_guild(p.GUILD)
    assert guild is not None
    moderators = p.snowflake(-10_000, 2)
    adapter.client._connection.parse_guild_role_create(
        {
            "guild_id": GUILD,
            "role": {
                **p.guild_create()["roles"][0],
                "id": str(moderators),
                "name": "Moderator",
                "permissions": "0",
                "position": 1,
            },
        }
    )
    await interact(adapter, net.slash("help"))  # ALICE owns the guild
    await interact(adapter, net.slash("help", user=p.BOB, roles=[moderators]))
    owner, member = runs[0][0], runs[1][0]
    assert owner.is_admin and owner.name == "ally"
    assert member.roles == ("Moderator",) and not member.is_admin


async def test_command_in_a_dm_has_no_community(
    adapter: DiscordAdapter, net: FakeDiscord, runs: list[tuple[Actor, str, Reply]]
) -> None:
    """In a DM the actor has no community: /help leaves out the moderator commands."""
    token = await interact(adapter, net.slash("help", user=p.BOB, dm=True))
    actor = runs[0][0]
    assert actor.community is None and actor.channel == str(p.DM_CHANNEL)
    assert not actor.is_admin and actor.roles == ()
    shown = text(net.shown(token))
    assert "/recommend" in shown and "/promote" not in shown


async def test_mydata_sends_a_json_file(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """/mydata answers privately with the export uploaded as cohort-data.json."""
    await write(
        cohort,
        consent(str(p.ALICE), True, True, community=GUILD),
        message(community=GUILD, channel=str(p.GENERAL), member=str(p.ALICE), text="hi rust"),
    )
    token = await interact(adapter, net.slash("mydata"))
    (shown,) = net.shown(token)
    assert is_ephemeral(shown)
    assert "Here is everything Cohort holds about you" in shown["content"]
    assert [a["filename"] for a in shown["attachments"]] == ["cohort-data.json"]
    ((name, data),) = shown["_files"]
    export = json.loads(data)
    assert name == "cohort-data.json" and "messages" in export


async def test_a_public_reply_is_seen_by_everyone(
    adapter: DiscordAdapter, net: FakeDiscord, commands: Commands, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reply that is not private ends up in a non-ephemeral message, not the private deferral."""

    async def public(actor: Actor, page: int = 1) -> Reply:
        return Reply((Paragraph.of("for everyone"),))

    monkeypatch.setattr(commands.services.courses, "browse", public)
    token = await interact(adapter, net.slash("courses"))
    visible = [m for m in net.shown(token) if not is_ephemeral(m)]
    assert [m["content"] for m in visible] == ["for everyone"]
    private = [m for m in net.shown(token) if is_ephemeral(m)]
    assert [m["content"] for m in private] == ["Posted in the channel."]


# --- buttons ----------------------------------------------------------------------------


async def test_optin_button_records_consent(
    adapter: DiscordAdapter, net: FakeDiscord, cohort: Cohort
) -> None:
    """Pressing `optin:<guild>` grants consent: the gate and the memberships row say so."""
    token = await interact(adapter, net.slash("recommend", user=p.BOB))
    (offer,) = [m for m in net.shown(token) if custom_ids(m)]
    assert not cohort.gate.identifies("discord", GUILD, str(p.BOB))
    pressed = await interact(adapter, net.press(f"optin:{GUILD}", offer, user=p.BOB))
    assert net.callbacks()[-1]["type"] == CHANNEL_MESSAGE
    (answer,) = net.shown(pressed)
    assert is_ephemeral(answer) and "You're in" in answer["content"]
    assert cohort.gate.identifies("discord", GUILD, str(p.BOB))
    assert cohort.gate.may_dm("discord", GUILD, str(p.BOB))
    stored = await rows(
        cohort,
        select(s.memberships.c.consent_profiling, s.memberships.c.consent_dm)
        .join(s.members, s.members.c.id == s.memberships.c.member_id)
        .where(s.members.c.platform_id == str(p.BOB)),
    )
    assert stored == [(True, True)]


async def test_page_button_edits_the_message_it_is_on(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """`pg:courses:2` on the bot's /courses message turns that message into page 2."""
    token = await interact(adapter, net.slash("courses"))
    (page_one,) = net.shown(token)
    assert custom_ids(page_one) == ["pg:courses:2"]
    before = len(net.messages)
    await interact(adapter, net.press("pg:courses:2", page_one))
    callback = net.callbacks()[-1]
    assert callback["type"] == UPDATE_MESSAGE
    assert len(net.messages) == before  # no new message
    edited = net.messages[int(page_one["id"])]
    assert "Page 2 of " in edited["content"] and is_ephemeral(edited)
    assert custom_ids(edited) == ["pg:courses:1", "pg:courses:3"]
    assert edited["attachments"] == []


async def test_slow_page_button_is_deferred_then_edited(
    adapter: DiscordAdapter, net: FakeDiscord, slow_presses: None
) -> None:
    """A press that takes too long is acknowledged first, then the original message is edited."""
    token = await interact(adapter, net.slash("courses"))
    (page_one,) = net.shown(token)
    await interact(adapter, net.press("pg:courses:2", page_one))
    assert net.callbacks()[-1] == {"type": DEFERRED_UPDATE_MESSAGE}
    assert net.routes()[-1] == "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
    assert "Page 2 of " in net.messages[int(page_one["id"])]["content"]


async def test_page_button_on_a_public_message_answers_privately(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """A private page never replaces a message everyone sees: it comes as an ephemeral reply."""
    public = p.message(net.snowflake(), author=p.ME, content="Courses")
    public["components"] = [
        {
            "type": 1,
            "components": [{"type": 2, "style": 2, "label": "Next", "custom_id": "pg:courses:2"}],
        }
    ]
    pressed = await interact(adapter, net.press("pg:courses:2", public))
    assert net.callbacks()[-1]["type"] == CHANNEL_MESSAGE
    (answer,) = net.shown(pressed)
    assert is_ephemeral(answer) and "Page 2 of " in answer["content"]


async def test_page_button_on_a_message_not_sent_by_the_bot_is_never_edited(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """Only the bot's own messages are edited in place; any other gets a new ephemeral reply."""
    foreign = p.message(net.snowflake(), author=p.HELPER_BOT, content="their page")
    foreign["flags"] = EPHEMERAL
    pressed = await interact(adapter, net.press("pg:courses:2", foreign))
    assert net.callbacks()[-1]["type"] == CHANNEL_MESSAGE
    (answer,) = net.shown(pressed)
    assert is_ephemeral(answer) and "Page 2 of " in answer["content"]


async def test_slow_button_is_deferred_then_followed_up(
    adapter: DiscordAdapter, net: FakeDiscord, slow_presses: None
) -> None:
    """A non-page press that takes too long gets an ephemeral thinking deferral, then the answer."""
    pressed = await interact(
        adapter, net.press("zz:unknown", p.message(net.snowflake(), author=p.ME))
    )
    assert net.callbacks()[-1] == {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}
    (answer,) = net.shown(pressed)
    assert is_ephemeral(answer) and answer["content"] == "That button has expired."


async def test_buttons_from_before_a_restart_still_work(
    net: FakeDiscord, cohort: Cohort, commands: Commands
) -> None:
    """A press on a message the running process never sent is still answered by custom_id."""
    adapter = DiscordAdapter(cohort.pipeline, GOOD_TOKEN, commands=commands)
    await adapter.start()
    try:
        adapter.client._connection.parse_guild_create(p.guild_create())
        old = p.message(p.snowflake(-5), author=p.ME, content="old picks")
        old["components"] = [
            {
                "type": 1,
                "components": [
                    {"type": 2, "style": 1, "label": "Opt in", "custom_id": f"optin:{GUILD}"}
                ],
            }
        ]
        pressed = await interact(adapter, net.press(f"optin:{GUILD}", old, user=p.BOB))
    finally:
        await adapter.stop()
    assert "You're in" in text(net.shown(pressed))
    assert cohort.gate.identifies("discord", GUILD, str(p.BOB))


async def test_a_press_is_matched_by_discord_py_to_cohorts_dynamic_button(
    adapter: DiscordAdapter, net: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discord.py routes a pressed custom_id to the registered CohortButton, which answers it."""
    view_store = adapter.client._connection._view_store
    assert view_store._dynamic_items == {TEMPLATE: CohortButton}
    pressed: list[tuple[str, str | None]] = []
    real = CohortButton.callback

    async def spy(self: CohortButton, interaction: discord.Interaction[Any]) -> None:
        pressed.append((self.action, self.item.label))
        await real(self, interaction)

    monkeypatch.setattr(CohortButton, "callback", spy)
    token = await interact(adapter, net.slash("courses"))
    (page_one,) = net.shown(token)
    [[button]] = [row["components"] for row in page_one["components"]]
    await interact(adapter, net.press("pg:courses:2", page_one))
    # The button discord.py rebuilt from the raw payload's message components.
    assert pressed == [("pg:courses:2", button["label"])]
    assert "Page 2 of " in net.messages[int(page_one["id"])]["content"]


async def test_every_action_id_cohort_puts_on_buttons_is_a_dynamic_button() -> None:
    """Old and new action ids all match the template, so buttons on old messages keep working."""
    actions = ["in:tok", "no:tok", f"optin:{GUILD}", "pg:courses:2", "pr:12", "pr:cancel"]
    actions += ["fg:1700000000", "fg:cancel", "rp:", "zz:unknown"]
    reply = Reply(
        (Paragraph.of("buttons"),), buttons=(tuple(Button(a, action=a) for a in actions),)
    )
    messages = outgoing(reply)
    items = [item for m in messages if m.view is not None for item in m.view.children]
    assert [item.custom_id for item in items if isinstance(item, CohortButton)] == actions
    assert all(TEMPLATE.fullmatch(action) for action in actions)


async def test_sent_views_are_not_kept_in_discord_py_view_store(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """Buttons are answered by custom_id, so no view of a sent reply stays in memory."""
    await interact(adapter, net.slash("courses"))
    await interact(adapter, net.slash("recommend", user=p.BOB))
    assert adapter.client._connection._view_store.persistent_views == []
    assert not adapter.client._connection._view_store._views


# --- failures ---------------------------------------------------------------------------


async def test_command_failure_is_logged_and_apologised_for(
    adapter: DiscordAdapter,
    net: FakeDiscord,
    commands: Commands,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error in the command layer is logged with its traceback; the member gets an apology."""

    async def broken(actor: Actor, name: str, args: dict[str, ArgValue] | None = None) -> Reply:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(commands, "run", broken)
    with caplog.at_level(logging.ERROR):
        token = await interact(adapter, net.slash("recommend"))
    failures = [r for r in caplog.records if r.name == "bot.adapters.discord.commands"]
    assert len(failures) == 1 and failures[0].exc_info is not None
    assert "database on fire" in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("discord")]
    (shown,) = net.shown(token)
    assert is_ephemeral(shown) and shown["content"] == APOLOGY


async def test_button_failure_is_apologised_for_ephemerally(
    adapter: DiscordAdapter,
    net: FakeDiscord,
    commands: Commands,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A press whose handling raises is logged and answered with an ephemeral apology."""

    async def broken(actor: Actor, action: str, interaction: str | None = None) -> Reply:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands, "press", broken)
    with caplog.at_level(logging.ERROR):
        pressed = await interact(
            adapter, net.press("in:x", p.message(net.snowflake(), author=p.ME))
        )
    assert "Discord button in failed" in caplog.text
    assert net.callbacks()[-1] == {
        "type": CHANNEL_MESSAGE,
        # Mentions are inert in everything the client sends, apologies included.
        "data": {
            "content": APOLOGY,
            "flags": EPHEMERAL,
            "tts": False,
            "allowed_mentions": {"parse": []},
        },
    }
    assert [m["content"] for m in net.shown(pressed)] == [APOLOGY]


async def test_stale_command_is_apologised_for(
    adapter: DiscordAdapter, net: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    """A command Discord still lists but the bot no longer has: logged, apology, no crash."""
    with caplog.at_level(logging.ERROR, logger="bot.adapters.discord.commands"):
        token = await interact(adapter, net.slash("leaderboard"))
    assert "Discord command /(unknown) failed" in caplog.text
    assert [m["content"] for m in net.shown(token)] == [APOLOGY]


async def test_failed_followup_after_deferral_still_apologises(
    adapter: DiscordAdapter, net: FakeDiscord
) -> None:
    """If sending the reply fails, the member is not left with an endless "thinking"."""
    net.refuse(
        "POST /webhooks/{webhook_id}/{webhook_token}", http_error(400, 50035, "Invalid Form Body")
    )
    token = await interact(adapter, net.slash("help"))
    assert [m["content"] for m in net.shown(token)] == [APOLOGY]


# --- wiring -----------------------------------------------------------------------------


def test_adapter_without_commands_only_listens(net: FakeDiscord) -> None:
    """Without `commands` there is no command tree and interactions are ignored."""
    adapter = DiscordAdapter(RecordingSink(), GOOD_TOKEN)
    assert adapter.commands is None
    assert adapter.client._connection._command_tree is None
    assert adapter.client.interactions is None


def test_transport_sends_through_the_adapter_client(adapter: DiscordAdapter) -> None:
    """`transport()` gives a DiscordTransport bound to the adapter's own client."""
    transport = adapter.transport()
    assert isinstance(transport, DiscordTransport) and transport.client is adapter.client


def test_actor_for_reads_the_interaction(adapter: DiscordAdapter, net: FakeDiscord) -> None:
    """actor_for maps user, guild, channel, locale and permissions as documented."""
    payload = net.slash("help", user=p.BOB, locale="zh-TW", permissions=MANAGE_GUILD)
    interaction = discord.Interaction(data=payload, state=adapter.client._connection)  # type: ignore[arg-type]
    assert actor_for(interaction) == Actor(
        "discord", str(p.BOB), "bob", GUILD, str(p.GENERAL), "zh-TW", (), True
    )


def test_every_spec_command_is_in_the_tree(adapter: DiscordAdapter) -> None:
    """The tree holds exactly COMMANDS, each with its option names in order of requiredness."""
    assert isinstance(adapter.commands, DiscordCommands)
    tree = adapter.commands.tree
    assert sorted(c.name for c in tree.get_commands()) == sorted(s.name for s in COMMANDS)
    for spec in COMMANDS:
        command = tree.get_command(spec.name)
        assert isinstance(command, discord.app_commands.Command)
        assert {p.name for p in command.parameters} == {o.name for o in spec.options}
