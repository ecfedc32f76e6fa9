"""`/mydata`, `/forgetme` and retention: a member's copy of their data, its erasure.

- Export: every stored row about the person (all linked identities) plus the
  model's view of them (segment, influence scores, course scores, languages,
  whether they are in the holdout group), as one JSON document.
- Erasure: asked twice (a confirm button valid for `CONFIRM_TTL`), then every saved
  model version is rewritten without the person (first: a failed rewrite can be
  retried, since the rows that name their model keys are still there), their rows
  go, their traces in other rows are scrubbed, and the erasure is remembered as a
  keyed hash (see `bot.store.erasure`). The CLI (`cohort privacy forget`) does the
  same for the operator.
- Retention: message text older than `[privacy] retention_days` is purged after its
  terms join the channel aggregates (`bot.store.retention`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bot.core.services.context import ServiceContext
from bot.core.services.recommend import in_holdout
from bot.domain.actors import Actor
from bot.domain.refs import MemberRef
from bot.domain.replies import Button, ButtonStyle, File, Paragraph, Reply
from bot.store.audit import write_audit
from bot.store.erasure import ErasureCounts, erase_person
from bot.store.export import person_export
from bot.store.members import MemberInfo, find_member, person_members
from bot.store.retention import PurgeCounts, purge_other, purge_texts
from bot.training.artifacts import forget_members

log = logging.getLogger(__name__)

EXPORT_FORMAT = "cohort.export/1"
CONFIRM_TTL = timedelta(minutes=10)


@dataclass
class ForgetReport:
    """What erasing a person did."""

    identities: int
    rows: ErasureCounts
    model_versions: list[str] = field(default_factory=list)
    wal_checkpointed: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (no identities: only how many)."""
        rows = asdict(self.rows)
        rows.pop("identities")
        return {
            "identities": self.identities,
            "rows": rows,
            "model_versions": self.model_versions,
            "wal_checkpointed": self.wal_checkpointed,
        }


class PrivacyService:
    """Export and erasure of a person's data; retention."""

    def __init__(self, context: ServiceContext) -> None:
        self.context = context

    # -- export --------------------------------------------------------------------------

    async def export_data(self, ref: MemberRef) -> dict[str, Any] | None:
        """Everything held about the person behind `ref` (None: nothing is stored)."""
        async with self.context.store.read() as conn:
            member = await find_member(conn, ref.platform, ref.id)
            if member is None:
                return None
            identities = await person_members(conn, member.id)
            data = await person_export(conn, [m.id for m in identities])
        data["model"] = await self._model_view(identities)
        return {
            "format": EXPORT_FORMAT,
            "generated_at": self.context.clock().isoformat(),
            "subject": str(ref),
            **data,
        }

    async def _model_view(self, identities: list[MemberInfo]) -> dict[str, Any]:
        """What the trained models hold about each identity."""
        model = await self.context.models.current()
        settings = self.context.cohort.settings.recommend
        holdout_key = (
            f"p{identities[0].person_id}"
            if identities and identities[0].person_id is not None
            else f"m{identities[0].id}"
        )
        view: dict[str, Any] = {
            "holdout_group": in_holdout(holdout_key, settings.holdout),
            "version": model.version if model else None,
            "identities": [],
        }
        if model is None:
            return view
        for member in identities:
            key = str(member.id)
            entry: dict[str, Any] = {
                "identity": member.ref,
                "languages": model.languages(key),
                "communities": model.community_view(key),
                "course_scores": [],
            }
            if model.knows(key):
                [picks] = model.recommend([key], settings.k, filter_languages=False)
                entry["course_scores"] = [
                    {"course": p.course, "score": round(p.score, 4), "reason": p.reason.kind}
                    for p in picks
                ]
            view["identities"].append(entry)
        return view

    async def export(self, actor: Actor) -> Reply:
        """`/mydata`: the export as a JSON file, privately."""
        t = self.context.t(actor)
        data = await self.export_data(actor.ref)
        if data is None:
            return Reply(
                (Paragraph.of(t("Cohort holds no data about you.")),),
                private=True,
            )
        body = json.dumps(data, ensure_ascii=False, indent=2, default=str).encode()
        return Reply(
            (Paragraph.of(t("Here is everything Cohort holds about you.")),),
            file=File(body, "cohort-data.json"),
            private=True,
        )

    # -- erasure -------------------------------------------------------------------------

    async def forget_prompt(self, actor: Actor) -> Reply:
        """`/forgetme`: ask for confirmation first."""
        t = self.context.t(actor)
        issued = int(self.context.clock().timestamp())
        return Reply(
            (
                Paragraph.of(
                    t(
                        "This erases everything Cohort holds about you, on every linked "
                        "account, and removes you from its models. It cannot be undone."
                    )
                ),
            ),
            buttons=(
                (
                    Button(t("Erase my data"), action=f"fg:{issued}", style=ButtonStyle.DANGER),
                    Button(t("Cancel"), action="fg:cancel"),
                ),
            ),
            private=True,
        )

    async def forget_confirmed(self, actor: Actor, issued: str) -> Reply:
        """The confirm button of `forget_prompt`."""
        t = self.context.t(actor)
        if issued == "cancel":
            return Reply((Paragraph.of(t("Nothing was erased.")),), private=True)
        now = self.context.clock()
        if not issued.isdigit() or now - datetime.fromtimestamp(int(issued), now.tzinfo) > (
            CONFIRM_TTL
        ):
            return Reply((Paragraph.of(t("That button has expired.")),), private=True)
        await self.forget(actor.ref)
        return Reply(
            (Paragraph.of(t("Done: everything Cohort held about you has been erased.")),),
            private=True,
        )

    async def forget(self, ref: MemberRef) -> ForgetReport:
        """Erase the person behind `ref`: rows, traces, models; remember the erasure."""
        context = self.context
        cohort = context.cohort
        now = context.clock()
        await cohort.pipeline.flush()  # what was queued is written first, then erased
        writer = cohort.writer
        root = context.models.root  # the artifacts these services serve
        async with context.store.read() as conn:
            member = await find_member(conn, ref.platform, ref.id)
            keys = [str(m.id) for m in await person_members(conn, member.id)] if member else []
        # The models first: if rewriting them fails nothing is erased yet, and a retry
        # finds the same rows (erasing first would lose the model keys with the rows).
        versions = await asyncio.to_thread(forget_members, root, keys, now)
        context.models.forget_loaded()  # never answer from the version just rewritten
        # No gate undo is needed: a failed erasure leaves the database as it was, and
        # the gate at worst already treats the person as erased (the safe side).
        counts = await context.store.run_write(
            lambda conn: erase_person(conn, writer, ref.platform, ref.id, now)
        )
        late = sorted(set(counts.identities) - set(keys))  # linked in the meantime
        if late:
            versions = await asyncio.to_thread(forget_members, root, late, now)
            context.models.forget_loaded()
        checkpointed = await context.store.checkpoint()
        context.models.forget_loaded()
        async with context.store.write() as conn:
            await write_audit(
                conn,
                ts=now,
                action="privacy.forget",
                outcome="ok",
                details={"identities": len(counts.identities), "model_versions": len(versions)},
            )
        log.info(
            "erased %d identities: %d messages, %d reactions; %d model versions rewritten",
            len(counts.identities),
            counts.messages,
            counts.reactions,
            len(versions),
        )
        return ForgetReport(len(counts.identities), counts, versions, checkpointed)

    # -- retention -----------------------------------------------------------------------

    async def purge(self) -> PurgeCounts:
        """Purge what is older than the retention period (batch by batch)."""
        context = self.context
        now = context.clock()
        before = now - timedelta(days=context.cohort.settings.privacy.retention_days)
        writer = context.cohort.writer
        report = PurgeCounts()
        while True:
            purged = await context.store.run_write(lambda conn: purge_texts(conn, writer, before))
            report.texts += purged
            if purged == 0:
                break
        other = await context.store.run_write(lambda conn: purge_other(conn, before, now))
        report.deliveries, report.link_codes = other.deliveries, other.link_codes
        if report.texts or report.deliveries or report.link_codes:
            log.info(
                "retention: %d message texts, %d delivery texts, %d link codes purged",
                report.texts,
                report.deliveries,
                report.link_codes,
            )
        return report
