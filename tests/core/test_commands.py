"""The command router: every command and button reaches its service, errors become replies."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import select

from bot.core.commands import BY_NAME, COMMANDS, Commands
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.store import schema as s
from tests.core.services.conftest import load_catalog
from tests.helpers import consent, count, message, rows, write

MEMBER = Actor("discord", "u1", "alice", "g1", "c1", "en")
STRANGER = Actor("discord", "u9", "bob", "g1", "c1", "en")


@pytest.fixture
async def commands(services: Services) -> Commands:
    """The router over services with the catalog and one consenting member in g1."""
    await load_catalog(services.context.cohort)
    await write(services.context.cohort, consent("u1", True, True), message(member="u1"))
    return Commands(services)


def test_specs_name_every_handled_command(services: Services) -> None:
    """Every registered command has a handler and unique, lower-case option names."""
    router = Commands(services)
    assert set(BY_NAME) == {spec.name for spec in COMMANDS}
    for spec in COMMANDS:
        assert spec.name in router._handlers
        assert spec.name.islower() and len(spec.description) <= 100
        names = [option.name for option in spec.options]
        assert len(names) == len(set(names))


async def test_help_lists_member_commands_and_hides_moderator_ones_in_private(
    commands: Commands,
) -> None:
    """/help in a community shows everything; in a private chat not /promote or /insights."""
    in_group = (await commands.run(MEMBER, "help")).plain()
    assert "/promote" in in_group and "/recommend" in in_group
    private = Actor("discord", "u1", "alice", None, None, "en")
    text = (await commands.run(private, "help")).plain()
    assert "/promote" not in text and "/insights" not in text and "/mydata" in text


async def test_unknown_command_answers_help(commands: Commands) -> None:
    """A command Cohort does not know gets the help text, not an error."""
    assert (await commands.run(MEMBER, "nope")).title == "What Cohort can do"


async def test_courses_pages_through_buttons(commands: Commands) -> None:
    """/courses page 2 and the `pg:courses:3` button show the right pages; the last has no next."""
    second = await commands.run(MEMBER, "courses", {"page": 2})
    pages = int(second.plain().rsplit("Page 2 of ", 1)[1].split()[0])
    assert pages >= 3
    actions = [b.action for b in second.all_buttons()]
    assert actions == ["pg:courses:1", "pg:courses:3"]
    third = await commands.press(MEMBER, "pg:courses:3")
    assert f"Page 3 of {pages}" in third.plain()
    last = await commands.press(MEMBER, f"pg:courses:{pages}")
    assert [b.action for b in last.all_buttons()] == [f"pg:courses:{pages - 1}"]
    clamped = await commands.run(MEMBER, "courses", {"page": "x"})
    assert f"Page 1 of {pages}" in clamped.plain()


async def test_optin_button_and_optout_change_the_gate(commands: Commands) -> None:
    """The opt-in button grants profiling and DMs; /optout withdraws both at once."""
    gate = commands.services.context.cohort.gate
    await commands.press(STRANGER, "optin:g1")
    assert gate.identifies("discord", "g1", "u9") and gate.may_dm("discord", "g1", "u9")
    reply = await commands.run(STRANGER, "optout")
    assert "no longer profiles you" in reply.plain()
    assert not gate.identifies("discord", "g1", "u9") and not gate.may_dm("discord", "g1", "u9")
    stored = await rows(
        commands.services.context.cohort,
        select(s.memberships.c.consent_profiling, s.memberships.c.consent_dm)
        .join(s.members, s.members.c.id == s.memberships.c.member_id)
        .where(s.members.c.platform_id == "u9"),
    )
    assert stored == [(False, False)]


async def test_optin_in_a_private_chat_needs_a_known_community(commands: Commands) -> None:
    """/optin outside a community names it; an unknown one is refused clearly."""
    private = Actor("discord", "u9", "bob", None, None, "en")
    assert "inside the community" in (await commands.run(private, "optin")).plain()
    refused = await commands.run(private, "optin", {"community": "g404"})
    assert refused.plain() == "Cohort does not know that community."
    granted = await commands.run(private, "optin", {"community": "g1"})
    assert "You're in" in granted.plain()


async def test_feedback_buttons_are_recorded_once_per_press(commands: Commands) -> None:
    """ "Interested" on a pick becomes one `interest` interaction tied to the impression."""
    cohort = commands.services.context.cohort
    reply = await commands.run(MEMBER, "recommend")
    action = next(b.action for b in reply.all_buttons() if b.action and b.action[:3] == "in:")
    answer = await commands.press(MEMBER, action, "interaction-1")
    assert "Thanks" in answer.plain()
    await commands.press(MEMBER, action, "interaction-1")  # the platform redelivered it
    await cohort.pipeline.flush()
    kinds = await rows(
        cohort,
        select(s.interactions.c.kind, s.interactions.c.token, s.interactions.c.member_id).where(
            s.interactions.c.kind == "interest"
        ),
    )
    assert len(kinds) == 1 and kinds[0][1] == action.removeprefix("in:") and kinds[0][2]


async def test_expired_and_unknown_buttons_answer_politely(commands: Commands) -> None:
    """A token Cohort never issued, or an unknown action, says the button expired."""
    assert (await commands.press(MEMBER, "in:doesnotexist")).plain() == "That button has expired."
    assert (await commands.press(MEMBER, "zz:1")).plain() == "That button has expired."


async def test_moderator_commands_are_refused_and_audited(commands: Commands) -> None:
    """A member without a moderator role gets a refusal and an audit row; no preview."""
    cohort = commands.services.context.cohort
    reply = await commands.run(MEMBER, "insights")
    assert reply.plain() == "Only moderators and admins can do this."
    reply = await commands.run(MEMBER, "promote", {"course": "rust-101", "audience": "opted-in"})
    assert reply.plain() == "Only moderators and admins can do this."
    audit = await rows(
        cohort, select(s.audit_log.c.action, s.audit_log.c.outcome).order_by(s.audit_log.c.id)
    )
    assert audit == [("insights", "denied"), ("promote", "denied")]
    moderator = Actor("discord", "u5", "mod", "g1", "c1", "en", roles=("moderator",))
    insights = await commands.run(moderator, "insights")
    assert insights.title == "Insights: g1" and "members" in insights.plain()


async def test_forgetme_needs_a_fresh_confirmation(commands: Commands) -> None:
    """/forgetme asks first; an old confirm button expires; cancel erases nothing."""
    cohort = commands.services.context.cohort
    clock = commands.services.context.clock
    prompt = await commands.run(MEMBER, "forgetme")
    confirm, cancel = (b.action for b in prompt.all_buttons())
    assert cancel == "fg:cancel"
    assert (await commands.press(MEMBER, "fg:cancel")).plain() == "Nothing was erased."
    clock.advance(minutes=11)  # type: ignore[attr-defined]
    assert (await commands.press(MEMBER, confirm or "")).plain() == "That button has expired."
    assert await count(cohort, s.members, s.members.c.platform_id == "u1") == 1
    fresh = await commands.run(MEMBER, "forgetme")
    done = await commands.press(MEMBER, fresh.all_buttons()[0].action or "")
    assert done.plain().startswith("Done")
    assert await count(cohort, s.members, s.members.c.platform_id == "u1") == 0


async def test_mydata_attaches_a_json_file(commands: Commands) -> None:
    """/mydata answers privately with the export as a JSON file."""
    reply = await commands.run(MEMBER, "mydata")
    assert reply.private and reply.file is not None
    assert reply.file.filename == "cohort-data.json" and b'"messages"' in reply.file.data
    nobody = await commands.run(STRANGER, "mydata")
    assert nobody.file is None and "no data" in nobody.plain()


async def test_start_deep_link_opts_in_to_the_named_group(services: Services) -> None:
    """Telegram `/start optin_<chat>` in a private chat grants consent in that chat."""
    cohort = services.context.cohort
    await write(cohort, message(platform="telegram", community="-1001", channel="-1001"))
    router = Commands(services)
    private = Actor("telegram", "42", "Tg", None, None, "en")
    reply = await router.start(private, "optin_-1001")
    assert "You're in" in reply.plain()
    assert cohort.gate.may_dm("telegram", "-1001", "42")
    assert (await router.start(private, None)).title == "What Cohort can do"


async def test_writing_in_private_makes_a_member_reachable_again(commands: Commands) -> None:
    """A member marked unreachable who writes to the bot privately can get DMs again."""
    cohort = commands.services.context.cohort
    async with cohort.store.write() as conn:
        await conn.execute(
            s.members.update()
            .where(s.members.c.platform_id == "u1")
            .values(dm_unreachable_at=commands.services.context.clock() - timedelta(days=1))
        )
    await commands.run(Actor("discord", "u1", "alice", None, None, "en"), "help")
    stored = await rows(
        cohort,
        select(s.members.c.dm_unreachable_at).where(s.members.c.platform_id == "u1"),
    )
    assert stored == [(None,)]


async def test_a_failing_service_is_logged_and_answered(
    commands: Commands, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error never reaches the adapter: it is logged and apologised for."""

    async def broken(*_: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands.services.recommend, "recommend", broken)
    with caplog.at_level(logging.ERROR):
        reply = await commands.run(MEMBER, "recommend")
    assert reply.plain() == "Something went wrong; please try again later."
    assert "boom" in caplog.text


async def test_replies_follow_the_actor_locale(commands: Commands) -> None:
    """A zh-CN member gets Simplified Chinese."""
    chinese = Actor("discord", "u1", "alice", "g1", "c1", "zh-CN")
    reply = await commands.run(chinese, "help")
    assert reply.title != "What Cohort can do" and reply.title


async def test_suggest_routes_only_options_marked_for_suggestions(
    commands: Commands, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/promote course` is suggested to a moderator; other options get nothing; a failure none."""
    moderator = Actor("discord", "m1", "mod", "g1", "c1", "en", is_admin=True)
    found = await commands.suggest(moderator, "promote", "course", "rust-1")
    assert [s.value for s in found] == ["rust-101"]
    assert await commands.suggest(moderator, "courses", "page", "") == []
    assert await commands.suggest(moderator, "nope", "course", "") == []
    suggested = {(c.name, o.name) for c in COMMANDS for o in c.options if o.suggest}
    assert suggested == {("promote", "course"), ("promote", "audience"), ("digest", "action")}

    async def boom(*_: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr(commands.services.promote, "suggest", boom)
    with caplog.at_level(logging.ERROR):
        assert await commands.suggest(moderator, "promote", "course", "") == []
    assert "boom" in caplog.text
