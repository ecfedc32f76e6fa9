"""Every command and button, platform-neutral: adapters call `run`, `press` and `start`.

An adapter registers the commands of `COMMANDS` (names, option names, English
descriptions to translate), parses a slash command or `/command args` into
`(name, {option: value})` and hands it to `Commands.run`; a button press goes to
`Commands.press` with the button's action string; Telegram's `/start <payload>`
(deep links such as `optin_<community>`) goes to `Commands.start`. Each returns a
neutral `Reply` to render. Permissions are checked in the services, never only in
the platform's UI; an unexpected error is logged and answered with a short apology.

Button actions (`prefix:argument`, at most 64 bytes):

- `in:<token>` / `no:<token>` — "Interested" / "Not for me" on a pick
- `optin:<community>` — opt in (profiling and DMs) in a community
- `pg:<view>:<page>` — pagination (`pg:courses:2`)
- `pr:<draft>` / `pr:cancel` — confirm or cancel a promotion preview
- `fg:<issued>` / `fg:cancel` — confirm or cancel erasure (`issued`: unix time)
- `rp:` — the full HTML report, under `/insights` (moderators)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from bot.core.services.consent import UnknownCommunity
from bot.core.services.suite import Services
from bot.domain.actors import Actor
from bot.domain.replies import Paragraph, Reply, Suggestion
from bot.errors import CohortError
from bot.store.members import find_member, mark_reachable

log = logging.getLogger(__name__)

ArgValue = str | int | None


def N_(message: str) -> str:
    """Mark `message` for translation without translating it here."""
    return message


@dataclass(frozen=True, slots=True)
class Option:
    """A command option: name, English description (a msgid), whether required, type.

    `suggest`: `Commands.suggest` offers values while it is typed (Discord autocomplete).
    """

    name: str
    description: str
    required: bool = False
    kind: type = str
    suggest: bool = False


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """A command as platforms register it.

    `moderator`: for moderators and admins (adapters may hide it from others; the
    service checks again). `community_only`: meaningless in a private chat.
    """

    name: str
    description: str
    options: tuple[Option, ...] = ()
    moderator: bool = False
    community_only: bool = False


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("recommend", N_("Course picks for you")),
    CommandSpec(
        "courses", N_("Browse the course catalog"), (Option("page", N_("Page"), kind=int),)
    ),
    CommandSpec(
        "promote",
        N_("Promote a course (moderators)"),
        (
            Option("course", N_("Course id"), required=True, suggest=True),
            Option(
                "audience",
                N_("channel:<id>, segment:<name>, top:<N> or opted-in"),
                required=True,
                suggest=True,
            ),
        ),
        moderator=True,
        community_only=True,
    ),
    CommandSpec(
        "insights",
        N_("How the community is doing (moderators)"),
        moderator=True,
        community_only=True,
    ),
    CommandSpec(
        "digest",
        N_("Preview the digest, or send it now (moderators)"),
        (Option("action", N_("preview or now"), required=True, suggest=True),),
        moderator=True,
        community_only=True,
    ),
    CommandSpec(
        "optin",
        N_("Get personal course picks and messages from Cohort"),
        (Option("community", N_("Community id (in a private chat)")),),
    ),
    CommandSpec(
        "optout",
        N_("Stop Cohort from profiling you or messaging you"),
        (Option("community", N_("Community id (in a private chat)")),),
    ),
    CommandSpec("mydata", N_("Get a copy of everything Cohort holds about you")),
    CommandSpec("forgetme", N_("Erase everything Cohort holds about you")),
    CommandSpec(
        "link",
        N_("Link your Discord and Telegram accounts"),
        (Option("code", N_("The code shown on your other account")),),
    ),
    CommandSpec("unlink", N_("Unlink your Discord and Telegram accounts")),
    CommandSpec("help", N_("What Cohort can do")),
)
BY_NAME = {spec.name: spec for spec in COMMANDS}
START_OPTIN = "optin_"


class Commands:
    """Routes commands, button presses and deep links to the services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._handlers: dict[str, Callable[[Actor, Mapping[str, ArgValue]], Awaitable[Reply]]] = {
            "recommend": lambda actor, _: services.recommend.recommend(actor),
            "courses": lambda actor, args: services.courses.browse(actor, _int(args.get("page"))),
            "promote": lambda actor, args: services.promote.preview(
                actor, str(args.get("course") or ""), str(args.get("audience") or "")
            ),
            "insights": lambda actor, _: services.insights.summary(actor),
            "digest": lambda actor, args: services.digest.moderate(
                actor, str(args.get("action") or "")
            ),
            "optin": lambda actor, args: services.consent.opt_in(
                actor, _str(args.get("community"))
            ),
            "optout": lambda actor, args: services.consent.opt_out(
                actor, _str(args.get("community"))
            ),
            "mydata": lambda actor, _: services.privacy.export(actor),
            "forgetme": lambda actor, _: services.privacy.forget_prompt(actor),
            "link": lambda actor, args: services.links.link(actor, _str(args.get("code"))),
            "unlink": lambda actor, _: services.links.unlink(actor),
            "help": lambda actor, _: self.help(actor),
        }
        # Commands with options marked `suggest`, answered while the option is typed.
        self._suggesters: dict[str, Callable[[Actor, str, str], Awaitable[list[Suggestion]]]] = {
            "promote": lambda actor, option, typed: services.promote.suggest(actor, option, typed),
            "digest": lambda actor, option, typed: services.digest.suggest(actor, option, typed),
        }

    async def run(
        self, actor: Actor, name: str, args: Mapping[str, ArgValue] | None = None
    ) -> Reply:
        """Run the command `name` for `actor` with its options."""
        handler = self._handlers.get(name)
        if handler is None:
            return await self.help(actor)
        await self._wrote_to_us(actor)
        return await self._guarded(actor, name, handler(actor, args or {}))

    async def press(self, actor: Actor, action: str, interaction: str | None = None) -> Reply:
        """Handle a button press (`action` as put on the button by a service)."""
        prefix, _, argument = action.partition(":")
        services = self.services
        work: Awaitable[Reply] | None = None
        if prefix in ("in", "no") and argument:
            work = services.feedback.pick(actor, prefix, argument, interaction)
        elif prefix == "optin" and argument:
            work = services.consent.opt_in(actor, argument)
        elif prefix == "pg":
            view, _, page = argument.partition(":")
            if view == "courses":
                work = services.courses.browse(actor, _int(page))
        elif prefix == "pr" and argument:
            work = services.promote.confirm(actor, argument)
        elif prefix == "fg" and argument:
            work = services.privacy.forget_confirmed(actor, argument)
        elif prefix == "rp":
            work = services.insights.full_report(actor)
        if work is None:
            t = services.context.t(actor)
            return Reply((Paragraph.of(t("That button has expired.")),), private=True)
        return await self._guarded(actor, f"button {prefix}", work)

    async def suggest(
        self, actor: Actor, command: str, option: str, typed: str
    ) -> list[Suggestion]:
        """Values for `option` of `command` matching `typed` so far (none on any failure)."""
        spec = BY_NAME.get(command)
        suggester = self._suggesters.get(command)
        if spec is None or suggester is None:
            return []
        if not any(o.name == option and o.suggest for o in spec.options):
            return []
        try:
            return await suggester(actor, option, typed)
        except Exception:
            log.exception("suggestions for /%s %s failed", command, option)
            return []

    async def start(self, actor: Actor, payload: str | None) -> Reply:
        """Telegram's `/start [payload]`: deep-link opt-in, else a welcome."""
        await self._wrote_to_us(actor)
        if payload and payload.startswith(START_OPTIN):
            community = payload.removeprefix(START_OPTIN)
            return await self._guarded(
                actor, "start optin", self.services.consent.opt_in(actor, community)
            )
        if payload in BY_NAME and not BY_NAME[payload].moderator:
            return await self.run(actor, payload)
        return await self.help(actor)

    async def help(self, actor: Actor) -> Reply:
        """What the actor can do, one line per command."""
        t = self.services.context.t(actor)
        lines = [
            Paragraph.of(f"/{spec.name} — {t(spec.description)}")
            for spec in COMMANDS
            if not spec.moderator or actor.community is not None
        ]
        return Reply(tuple(lines), title=t("What Cohort can do"), private=True)

    async def _guarded(self, actor: Actor, what: str, work: Awaitable[Reply]) -> Reply:
        t = self.services.context.t(actor)
        try:
            return await work
        except UnknownCommunity:
            return Reply((Paragraph.of(t("Cohort does not know that community.")),), private=True)
        except CohortError as exc:
            log.warning("%s by %s refused: %s", what, actor.platform, exc)
            return Reply((Paragraph.of(str(exc)),), private=True)
        except Exception:
            log.exception("%s failed", what)
            return Reply(
                (Paragraph.of(t("Something went wrong; please try again later.")),), private=True
            )

    async def _wrote_to_us(self, actor: Actor) -> None:
        """A member writing to the bot in private can receive DMs again."""
        if actor.community is not None:
            return
        try:
            async with self.services.context.store.write() as conn:
                member = await find_member(conn, actor.platform, actor.member)
                if member is not None and member.dm_unreachable_at is not None:
                    await mark_reachable(conn, member.id)
        except Exception:
            log.exception("could not mark a member reachable")


def _int(value: ArgValue) -> int:
    try:
        return int(value) if value is not None else 1
    except ValueError:
        return 1


def _str(value: ArgValue) -> str | None:
    return None if value in (None, "") else str(value)
