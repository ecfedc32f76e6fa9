"""Generate the demo's two communities and write them as the real tools export them.

A Discord server (DiscordChatExporter JSON, one file per channel) and a Telegram group
(a Telegram Desktop `result.json`), plus what exports do not carry: consent decisions
(Cohort JSONL), the shop's past purchases (CSV) and the course catalog (TOML).
"""

from __future__ import annotations

import csv
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path

from bot.demo import synthetic
from bot.demo.folder import Manifest

log = logging.getLogger(__name__)

CATALOG = Path(__file__).parent / "data" / "courses.toml"


@dataclass(frozen=True, slots=True)
class DemoCommunities:
    """The generated Discord server and Telegram group (with their hidden interests)."""

    discord: synthetic.Community
    telegram: synthetic.Community

    @property
    def both(self) -> tuple[synthetic.Community, synthetic.Community]:
        """Discord first, then Telegram."""
        return self.discord, self.telegram

    def members(self) -> dict[tuple[str, str], synthetic.Member]:
        """Every member by (platform, platform id)."""
        return {(c.platform, m.id): m for c in self.both for m in c.members}


@dataclass(frozen=True, slots=True)
class DemoFiles:
    """The files written, in the order an operator imports them."""

    catalog: Path
    consents: Path
    discord: list[Path]
    telegram: Path
    purchases: Path
    consent_decisions: int


def generate(manifest: Manifest) -> DemoCommunities:
    """The two communities described by `manifest` (the same every time)."""
    start = manifest.start_time
    return DemoCommunities(
        discord=synthetic.generate(
            "discord", members=manifest.members, days=manifest.days, seed=manifest.seed, start=start
        ),
        telegram=synthetic.generate(
            "telegram",
            members=manifest.members,
            days=manifest.days,
            seed=manifest.seed + 1,
            start=start,
        ),
    )


def write_files(folder: Path, communities: DemoCommunities) -> DemoFiles:
    """Write the exports, consent decisions, purchases and catalog into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    discord, telegram = communities.both
    catalog = folder / "courses.toml"
    shutil.copyfile(CATALOG, catalog)
    consents = folder / "consents.jsonl"
    decisions = synthetic.write_jsonl(
        consents,
        iter([*synthetic.consent_events(discord), *synthetic.consent_events(telegram)]),
    )
    exports = synthetic.write_discord_exports(folder / "discord", discord)
    result_json = synthetic.write_telegram_export(folder / "result.json", telegram)
    purchases = folder / "purchases.csv"
    synthetic.write_purchases_csv(purchases, discord)
    with purchases.open("a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        for p in telegram.purchases:
            writer.writerow(
                [f"telegram:{p.member}", p.course, p.ts.isoformat(), p.amount, p.currency, p.order]
            )
    return DemoFiles(catalog, consents, exports, result_json, purchases, decisions)
