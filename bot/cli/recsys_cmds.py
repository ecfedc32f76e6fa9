"""`cohort train`, `recommend`, `segments`, `influencers`, `evaluate`.

Training reads the store and writes a model bundle (see bot/training/artifacts.py);
the other commands read the bundle. TensorFlow is imported only while training a
Keras model (the self-attention sequence model, the hybrid), never to recommend.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli import runtime

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.training.facade import TrainedModel
    from bot.training.inputs import TrainingInputs
    from bot.training.train import CommunityModels
    from recsys.policy import Pick

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _inputs(config: Settings) -> TrainingInputs:
    async def go() -> TrainingInputs:
        from bot.training.inputs import load_inputs

        async with runtime.opened(config) as cohort:
            return await load_inputs(cohort.store, cohort.gate)

    return runtime.run(go())


def _erased_meanwhile(config: Settings, keys: Sequence[str]) -> list[str]:
    """Model keys of members erased while training ran (not to be saved)."""

    async def go() -> list[str]:
        from bot.store.training import existing_members

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            present = await existing_members(conn, [int(key) for key in keys])
        return [key for key in keys if int(key) not in present]

    return runtime.run(go())


def _model(config: Settings) -> TrainedModel:
    from bot.training.artifacts import NoModel
    from bot.training.facade import TrainedModel

    try:
        return TrainedModel.load(config.artifacts_path, config.recommend)
    except NoModel as exc:
        raise runtime.fail(str(exc)) from None


def _ranking(config: Settings) -> Any:
    from recsys.model import RankingConfig

    return RankingConfig(
        item_dropout=config.recsys.item_dropout,
        item_l2=config.recsys.item_l2,
        item_tune=config.recsys.item_tune,
        attention=config.recsys.attention,
        attention_epochs=config.recsys.attention_epochs,
        hybrid=config.recsys.hybrid,
        hybrid_epochs=config.recsys.hybrid_epochs,
        validation_members=config.recsys.validation_members,
        seed=config.recsys.seed,
    )


def train(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Train profiles, segments, influence and the course ranker on what the store holds."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    from bot.errors import CohortError
    from bot.training.artifacts import NoModel, forget_in_bundle, load_bundle, save_bundle
    from bot.training.facade import TrainedModel
    from bot.training.train import train as run_training

    config = runtime.settings(ctx)
    inputs = _inputs(config)
    try:
        previous = load_bundle(config.artifacts_path)
    except (NoModel, FileNotFoundError, ValueError):
        previous = None
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=runtime.err,
        transient=True,
        disable=as_json or not runtime.err.is_terminal,
    ) as progress:
        task = progress.add_task("training", total=None)
        try:
            bundle = run_training(
                inputs,
                ranking=_ranking(config),
                previous=previous,
                progress=lambda step: progress.update(task, description=f"training: {step}"),
            )
        except CohortError as exc:
            raise runtime.fail(str(exc)) from None
        gone = _erased_meanwhile(config, TrainedModel(bundle, config.recommend).member_keys())
        if gone:
            forget_in_bundle(bundle, gone)
        path = save_bundle(bundle, config.artifacts_path)
    report = {**bundle.report, "version": bundle.version, "path": str(path)}
    report["communities"] = {
        key: {
            "segments": len(models.segments.describe()) if models.segments else 0,
            "rules": {name: len(members) for name, members in models.rules.items()},
        }
        for key, models in bundle.communities.items()
    }
    if as_json:
        runtime.print_json(report)
        return
    _print_training(report)


def _print_training(report: dict[str, Any]) -> None:
    """What `cohort train` learned, for a person: figures, component weights, communities."""
    from bot.cli.tables import add_row, table
    from bot.i18n import rule_segment_name, translator

    def say(text: str) -> None:
        runtime.out.print(text, markup=False, soft_wrap=True)

    say(f"trained model {report['version']}, saved in {report['path']}")
    say(
        f"  from {report['members']:,} members, {report['courses']} courses, "
        f"{report['interactions']:,} interactions and {report['messages']:,} messages"
    )
    validation = report.get("validation") or {}
    alone = validation.get("alone") or {}
    weights = table(
        "component",
        "weight",
        *(["NDCG@10 alone"] if alone else []),
        ids=("component",),
        numbers=("weight", "NDCG@10 alone"),
        title="ranker components",
    )
    for name, weight in sorted(report["blend_weights"].items(), key=lambda item: -item[1]):
        shown_alone = [f"{alone[name]:.4f}" if name in alone else ""] if alone else []
        add_row(weights, name, f"{weight:.2f}", *shown_alone)
    runtime.out.print(weights)
    if validation.get("note"):
        say(f"validation: {validation['note']}")
    elif validation.get("members") and validation.get("ndcg") is not None:
        source = validation.get("source", "purchases")
        say(
            f"validation: NDCG@10 {validation['ndcg']:.4f} on {validation['members']:,} "
            f"held-out members (target: {source})"
        )
    if report["communities"]:
        english = translator(None)
        rules = sorted({rule for s in report["communities"].values() for rule in s["rules"]})
        names = [rule_segment_name(english, rule) for rule in rules]
        per_community = table(
            "community",
            "segments",
            *names,
            ids=("community",),
            numbers=("segments",),
            right=tuple(names),
            title="segments per community (members in each rule segment)",
        )
        for key, summary in report["communities"].items():
            add_row(
                per_community,
                key,
                str(summary["segments"]),
                *(str(summary["rules"].get(rule, 0)) for rule in rules),
            )
        runtime.out.print(per_community)
    seconds = report.get("seconds") or {}
    if seconds:
        say("took " + ", ".join(f"{step} {value:.1f} s" for step, value in seconds.items()))


class Format(StrEnum):
    """Output formats of `cohort recommend`."""

    table = "table"
    json = "json"
    jsonl = "jsonl"


def recommend(
    ctx: typer.Context,
    member: Annotated[
        str | None, typer.Argument(help="platform:id, e.g. discord:1234", show_default=False)
    ] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, max=50, help="How many picks.")] = None,
    all_members: Annotated[bool, typer.Option("--all", help="Every member (streams).")] = False,
    output: Annotated[Format, typer.Option("--format", help="table, json or jsonl.")] = (
        Format.table
    ),
    as_json: JsonOption = False,
) -> None:
    """Course picks for one member, or for everyone with --all (one JSON line each)."""
    from bot.domain.refs import parse_member_ref
    from bot.errors import MemberRefInvalid

    config = runtime.settings(ctx)
    if as_json:
        output = Format.json
    if member is None and not all_members:
        raise runtime.fail("give a member id (platform:id, e.g. discord:1234) or --all", 2)
    if member is not None and all_members:
        raise runtime.fail("give either a member id or --all, not both", 2)
    count = k or config.recommend.k
    model = _model(config)
    day = datetime.now(UTC).date().isoformat()
    if all_members:
        _recommend_all(config, model, count, day, output)
        return
    assert member is not None
    try:
        ref = parse_member_ref(member)
    except MemberRefInvalid as exc:
        raise runtime.fail(str(exc), 2) from None

    async def lookup() -> Any:
        from bot.store.members import find_member

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return await find_member(conn, ref.platform, ref.id)

    known = runtime.run(lookup())
    if known is None:
        raise runtime.fail(
            f"{ref} is not a stored member (members are stored only after they consent)"
        )
    key = str(known.id)
    trained = model.knows(key)
    [picks] = model.recommend([key], count, day=day)
    titles = {course.id: course.title for course in model.courses()}
    rows = [{"course": p.course, "score": p.score, "why": p.why} for p in picks]
    if output is not Format.table:
        line = {"member": str(ref), "courses": rows}
        if not trained:
            line["note"] = "member not in the trained model yet: picks for new members"
        runtime.print_json(line) if output is Format.json else print(json.dumps(line))
        return
    name = f" ({known.display_name})" if known.display_name else ""
    _print_picks(f"picks for {ref}{name}", [("", picks)], titles)
    if not trained:
        runtime.out.print(
            "note: this member joined after the last training; these are picks for new "
            "members (run `cohort train`)",
            markup=False,
        )


def _print_picks(
    title: str, picks: Sequence[tuple[str, Sequence[Pick]]], titles: dict[str, str]
) -> None:
    """Picks as a table; with a member column when `picks` holds several members."""
    from bot.cli.tables import add_row, table

    several = any(member for member, _ in picks)
    # With a member column there is no room for the title: the course id says it.
    headers = (
        ("member", "#", "course", "score", "why")
        if several
        else ("#", "course", "title", "score", "why")
    )
    shown = table(*headers, ids=("member", "course"), numbers=("#", "score"), title=title)
    for member, member_picks in picks:
        for position, pick in enumerate(member_picks, 1):
            if several:
                cells = (member if position == 1 else "", str(position), pick.course)
            else:
                cells = (str(position), pick.course, titles.get(pick.course, ""))
            add_row(shown, *cells, f"{pick.score:.2f}", pick.why)
        if several and member_picks:
            shown.add_section()
    runtime.out.print(shown)


def _recommend_all(config: Settings, model: TrainedModel, k: int, day: str, output: Format) -> None:
    keys = model.member_keys()

    async def refs() -> dict[int, Any]:
        from bot.store.members import members_by_ids

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return await members_by_ids(conn, (int(key) for key in keys))

    known = runtime.run(refs())
    keys = [key for key in keys if int(key) in known]  # erased since training: skipped
    everything: list[dict[str, Any]] = []
    if output is Format.table:
        titles = {course.id: course.title for course in model.courses()}
        everyone = [
            (known[int(key)].ref, member_picks)
            for key, member_picks in zip(keys, model.recommend(keys, k, day=day), strict=True)
        ]
        _print_picks(f"picks for {len(everyone):,} members", everyone, titles)
        return
    for start in range(0, len(keys), 1000):
        chunk = keys[start : start + 1000]
        picks = model.recommend(chunk, k, day=day)
        for key, member_picks in zip(chunk, picks, strict=True):
            line = {
                "member": known[int(key)].ref,
                "courses": [
                    {"course": p.course, "score": p.score, "why": p.why} for p in member_picks
                ],
            }
            if output is Format.json:
                everything.append(line)
            else:
                sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    if output is Format.json:
        runtime.print_json(everything)
    sys.stdout.flush()


def _communities(model: TrainedModel, community: str | None) -> list[CommunityModels]:
    chosen = [
        models for key, models in model.communities.items() if community is None or key == community
    ]
    if community is not None and not chosen:
        known = ", ".join(model.communities) or "none"
        raise runtime.fail(f"unknown community {community!r} (trained: {known})")
    return chosen


CommunityOption = Annotated[
    str | None,
    typer.Option("--community", help="platform:id of one community (default: all)."),
]


def _community_locales(config: Settings) -> dict[str, str | None]:
    """Each stored community's language setting, by `platform:id`."""

    async def go() -> dict[str, str | None]:
        from bot.store.communities import all_communities

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return {place.ref: place.locale for place in await all_communities(conn)}

    return runtime.run(go())


def segments(
    ctx: typer.Context, community: CommunityOption = None, as_json: JsonOption = False
) -> None:
    """Member segments per community: clusters with names, and rule segments.

    Names and descriptions are in the community's language (`cohort digest schedule
    --locale`), as members and moderators there see them.
    """
    from bot.i18n import rule_segment_name, segment_description, segment_name, translator

    config = runtime.settings(ctx)
    model = _model(config)
    chosen = _communities(model, community)
    locales = _community_locales(config)
    data: list[dict[str, Any]] = []
    for models in chosen:
        described = models.segments.describe() if models.segments else []
        t = translator(locales.get(models.key))
        data.append(
            {
                "community": models.key,
                "name": models.name,
                "locale": t.locale,
                "segments": [
                    {
                        "id": s.id,
                        "name": segment_name(t, s),
                        "size": s.size,
                        "description": segment_description(t, s),
                        "top_terms": list(s.top_terms),
                    }
                    for s in described
                ],
                "rules": {name: len(members) for name, members in models.rules.items()},
            }
        )
    if as_json:
        runtime.print_json(data)
        return
    from bot.cli.tables import add_row
    from bot.cli.tables import table as new_table

    for entry in data:
        table = new_table(
            "id",
            "segment",
            "members",
            "description",
            ids=("id",),
            numbers=("members",),
            title=f"{entry['name'] or entry['community']} ({entry['community']})",
        )
        for segment in entry["segments"]:
            add_row(
                table,
                str(segment["id"]),
                segment["name"],
                str(segment["size"]),
                segment["description"],
            )
        rule_t = translator(entry["locale"])
        for rule, size in entry["rules"].items():
            add_row(table, "rule", rule_segment_name(rule_t, rule), str(size), "")
        runtime.out.print(table)


class Metric(StrEnum):
    """What `cohort influencers` ranks by."""

    influence = "influence"
    bridges = "bridges"
    helpers = "helpers"
    rising = "rising"


def influencers(
    ctx: typer.Context,
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="How many.")] = 10,
    by: Annotated[Metric, typer.Option("--by", help="Ranking metric.")] = Metric.influence,
    community: CommunityOption = None,
    as_json: JsonOption = False,
) -> None:
    """The members a community leans on: influence, bridges, helpers, rising."""
    config = runtime.settings(ctx)
    chosen = _communities(_model(config), community)
    wanted: set[int] = set()
    for models in chosen:
        if models.influence is not None:
            wanted.update(int(member) for member, _ in models.influence.top(by.value, top))

    async def refs() -> dict[int, Any]:
        from bot.store.members import members_by_ids

        async with runtime.opened(config) as cohort, cohort.store.read() as conn:
            return await members_by_ids(conn, wanted)

    known = runtime.run(refs())
    data: list[dict[str, Any]] = []
    for models in chosen:
        rows: list[dict[str, Any]] = []
        if models.influence is not None:
            for member, _ in models.influence.top(by.value, top):
                who = known.get(int(member))
                if who is None:
                    continue  # erased since training
                summary = models.influence.summary(member)
                rows.append(
                    {
                        "member": who.ref,
                        "name": who.display_name,
                        **{
                            metric.value: round(float(summary[metric.value]), 5)
                            for metric in Metric
                        },
                        "community": summary["community"],
                    }
                )
        data.append({"community": models.key, "name": models.name, "by": by.value, "top": rows})
    if as_json:
        runtime.print_json(data)
        return
    from bot.cli.tables import add_row
    from bot.cli.tables import table as new_table

    for entry in data:
        # The name goes under the id: side by side they leave a long id no room at 80 columns.
        table = new_table(
            "#",
            "member",
            "influence",
            "bridges",
            "helpers",
            "rising",
            ids=("member",),
            numbers=("#", "influence", "bridges", "helpers", "rising"),
            title=f"{entry['name'] or entry['community']}: top {top} by {by.value}",
        )
        for position, row in enumerate(entry["top"], 1):
            add_row(
                table,
                str(position),
                row["member"] + (f"\n{row['name']}" if row["name"] else ""),
                f"{row['influence']:.4f}",
                f"{row['bridges']:.4f}",
                f"{row['helpers']:.1f}",
                f"{row['rising']:+.4f}",
            )
        runtime.out.print(table)


class SplitKind(StrEnum):
    """How `cohort evaluate` holds data out."""

    temporal = "temporal"
    loo = "loo"
    chat = "chat"


# Fewer evaluated members than this and the figures are mostly noise.
MEANINGFUL_MEMBERS = 30
# A top-k list covering this share of the catalog or more hits often by chance alone.
MEANINGFUL_SHARE = 0.2


def _evaluation_warnings(members: int, courses: int, k: int) -> list[str]:
    """Why the figures of an evaluation mean little (empty when they can be trusted)."""
    warnings = []
    if members < MEANINGFUL_MEMBERS:
        warnings.append(
            f"only {members} members evaluated: differences between rankers mostly reflect chance."
        )
    if courses and min(k, courses) / courses >= MEANINGFUL_SHARE:
        warnings.append(
            f"the top {k} covers {min(k, courses) / courses:.0%} of a {courses}-course catalog: "
            f"a random list would often hit too, so HR@{k} says little (compare the rankers "
            "with popularity, not with 1)."
        )
    return warnings


def evaluate(
    ctx: typer.Context,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="Cut-off of the top list.")] = 10,
    split: Annotated[
        SplitKind,
        typer.Option(
            "--split",
            help="temporal (purchases; later chat when there are too few), loo or chat.",
        ),
    ] = SplitKind.temporal,
    as_json: JsonOption = False,
) -> None:
    """Offline evaluation of every ranker on the store's data (HR, NDCG, Recall@k, ...).

    Purchases are the target when there are enough; otherwise (or with `--split chat`)
    what members talked about after a cut-off, ranked from what they said before it.
    """
    import numpy as np

    from bot.training.train import build_dataset
    from recsys.data import leave_one_out, temporal_split
    from recsys.engagement import chat_split
    from recsys.evaluate import evaluate as measure
    from recsys.model import default_ranker
    from recsys.rankers import (
        AttentionRanker,
        ChatRanker,
        ContentRanker,
        HybridRanker,
        ItemItemRanker,
        PopularityRanker,
    )
    from recsys.rankers.als import ALSRanker, implicit_available
    from recsys.topics import TfidfEncoder

    config = runtime.settings(ctx)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=runtime.err,
        transient=True,
        disable=as_json or not runtime.err.is_terminal,
    ) as progress:
        task = progress.add_task("evaluate: reading the store", total=None)
        inputs = _inputs(config)
        if not inputs.courses:
            raise runtime.fail("the catalog is empty: import courses first (cohort courses import)")
        data = build_dataset(inputs, inputs.activity(), TfidfEncoder())
        assert data.events is not None
        times = data.events[3]
        if split is SplitKind.temporal and len(times) < 10:
            split = SplitKind.chat  # too few purchases: later chat is the target
        if split is SplitKind.chat:
            held = chat_split(data)
            if not held.held_out:
                raise runtime.fail(
                    "nothing to evaluate: no member talked about a course's topics both before "
                    "and after the cut-off (and fewer than 10 purchases)"
                )
            assert held.train.chat is not None
            cutoff = float(held.train.chat.ts.max(initial=0.0))
            described = (
                f"later chat after {datetime.fromtimestamp(cutoff, UTC):%Y-%m-%d %H:%M}: "
                "courses whose topics members talked about next"
            )
        elif split is SplitKind.temporal:
            cutoff = float(np.quantile(times, 0.8))
            held = temporal_split(data, cutoff)
            described = f"temporal split at {datetime.fromtimestamp(cutoff, UTC):%Y-%m-%d %H:%M}"
        else:
            held = leave_one_out(data, seed=config.recsys.seed)
            described = "leave-one-out (latest interaction per member)"
        if not held.held_out:
            raise runtime.fail("no member has interactions to hold out: nothing to evaluate")
        warnings = _evaluation_warnings(len(held.held_out), data.n_courses, k)
        ranking = _ranking(config)
        rankers: list[Any] = [
            PopularityRanker(),
            ContentRanker(),
            ChatRanker(seed=ranking.seed),
            ItemItemRanker(
                dropout=ranking.item_dropout, l2=ranking.item_l2, tune=ranking.item_tune
            ),
            *(
                [AttentionRanker(epochs=ranking.attention_epochs, seed=ranking.seed)]
                if ranking.attention
                else []
            ),
            *(
                [HybridRanker(epochs=ranking.hybrid_epochs, seed=ranking.seed)]
                if ranking.hybrid
                else []
            ),
            default_ranker(ranking),
        ]
        if implicit_available():
            rankers.append(ALSRanker(factors=min(64, max(8, data.n_courses // 2))))
        progress.update(task, total=len(rankers), completed=0)
        results = []
        for ranker in rankers:
            progress.update(task, description=f"evaluate: fitting {ranker.name}")
            results.append(measure(ranker, held, k, course_vectors=data.course_topics).as_dict())
            progress.advance(task)
    if as_json:
        warning = " ".join(warnings) or None
        runtime.print_json({"split": described, "k": k, "warning": warning, "results": results})
        return
    from bot.cli.tables import add_row
    from bot.cli.tables import table as new_table

    for line in warnings:
        runtime.err.print(f"warning: {line}", markup=False)
    numbers = (f"HR@{k}", f"NDCG@{k}", f"Recall@{k}", "coverage", "diversity", "fit s")
    table = new_table(
        "ranker",
        *numbers,
        ids=("ranker",),
        numbers=numbers,
        title=f"{described}; {results[0]['members']} members evaluated",
    )
    for r in results:
        add_row(
            table,
            str(r["ranker"]),
            f"{r['hr']:.4f}",
            f"{r['ndcg']:.4f}",
            f"{r['recall']:.4f}",
            f"{r['coverage']:.2f}",
            "" if r["diversity"] is None else f"{r['diversity']:.2f}",
            f"{r['fit_seconds']:.1f}",
        )
    runtime.out.print(table)
