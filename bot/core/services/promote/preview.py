"""What a moderator sees before confirming: the audience, what blocks whom, expected clicks."""

from __future__ import annotations

from bot.core.services.promote.plan import Plan
from bot.domain.replies import Button, ButtonStyle, Paragraph, Reply
from bot.i18n import Translator


def preview_reply(plan: Plan, draft: int, t: Translator) -> Reply:
    """The preview of `plan` with Confirm (of audit row `draft`) and Cancel buttons."""
    counts = plan.counts()
    lines = [
        Paragraph.of(
            t(
                "Preview: {audience} members in the audience, {blocked} blocked, "
                "about {clicks} clicks expected.",
                audience=counts["audience"],
                blocked=counts["audience"] - counts["deliverable"] - counts["deferred"],
                clicks=round(plan.predicted_clicks, 1),
            )
        )
    ]
    blocked = {key: n for key, n in counts.items() if key.startswith("blocked_")}
    for key, n in blocked.items():
        if not n:
            continue
        if key == "blocked_capped":
            lines.append(Paragraph.of(t("Blocked by frequency caps: {n}", n=n)))
        elif key == "blocked_cooldown":
            lines.append(Paragraph.of(t("Blocked: promoted to them recently: {n}", n=n)))
        elif key == "blocked_no_consent":
            lines.append(Paragraph.of(t("Blocked: no consent for DMs: {n}", n=n)))
        elif key == "blocked_unreachable":
            lines.append(Paragraph.of(t("Blocked: DMs closed: {n}", n=n)))
    if counts["deferred"]:
        lines.append(Paragraph.of(t("Blocked by quiet hours: {n}", n=counts["deferred"])))
    buttons = (
        Button(t("Confirm and send"), action=f"pr:{draft}", style=ButtonStyle.PRIMARY),
        Button(t("Cancel"), action="pr:cancel"),
    )
    return Reply(tuple(lines), title=plan.course["title"], buttons=(buttons,), private=True)
