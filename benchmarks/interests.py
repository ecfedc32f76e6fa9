"""Does what members say predict what they want? Interest ranking on real Q&A communities.

Reads a Stack Exchange site dump (`Posts.xml`, `Comments.xml`, `Tags.xml`; see
`../shared/datasets/README.md`, `stackexchange/`) and turns it into what an operator
of a chat community has:

- **chat**: every question (title, body and, as a forum post shows them, its tags
  written as `#tag` at the end), answer (a reply to its question) and comment (a
  reply to its post) is a `message` event in Cohort's JSONL format (docs/events.md),
  from one member (`discord:u<Id>`) in one channel; a post's positive score becomes a
  `reactions` snapshot; every member who posts consented to profiling just before
  their first message (the community runs Cohort in opt-in mode);
- **catalog**: every tag is a course (id and title the tag name, description its wiki
  excerpt, tags the tag itself).

For each split point T (60/70/80/90 % of message times) it imports the events before
T into a fresh SQLite store and runs exactly what an operator runs, in process through
the CLI (`cohort import events`, `cohort courses import`, `cohort train`), then asks
the trained model for every member's picks the way `cohort recommend --all` does
(`build_recommender(bundle).recommend(...)`, business rules included).

What a member "turned out to want" is the set of tags of the questions they asked or
answered after T. Members count at a split point when they posted before T and have
at least one such tag. Two variants:

- `all`: truth = those tags; every ranking ranks every tag;
- `new`: truth minus the tags the member asked or answered about before T, and those
  tags removed from every ranking (Cohort's through the recommender's
  `exclude_courses`, as a "not for me" would).

Baselines in the same run: **popularity** (how many questions before T carry the tag)
and **own history** (the member's most used tags before T, most first, then
popularity; `all` only, since in `new` it reduces to popularity). HR@5, HR@10 and
NDCG@10 (a hit is any truth tag; NDCG normalised by the ideal for the member's number
of truth tags). Units are (split point, member) pairs, pooled over the split points;
95 % intervals of Cohort − baseline come from a paired bootstrap over those units.

Usage:
    .venv/bin/python benchmarks/interests.py ../shared/datasets/stackexchange/ai
    .venv/bin/python benchmarks/interests.py SITE [SITE ...] [--splits 0.6 0.7 0.8 0.9]
        [--json]
"""

from __future__ import annotations

import argparse
import html
import json
import logging
import math
import os
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from bootstrap import mean_interval, ratio_interval  # noqa: E402

K = 10
_TAGS = re.compile(r"<([^<>]+)>")
_HTML = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Post:
    """One chat message made from a question, answer or comment."""

    id: str
    member: str
    ts: datetime
    text: str
    reply_to: str | None
    question: str | None  # the question this message is about (itself for a question)
    role: str  # question, answer, comment
    score: int = 0


@dataclass
class Site:
    """A dump as chat: messages in time order, the tags of each question, the catalog."""

    name: str
    posts: list[Post]
    question_tags: dict[str, list[str]]
    catalog: list[dict[str, Any]]
    tag_order: list[str] = field(default_factory=list)


def _rows(path: Path) -> Iterable[dict[str, str]]:
    for _, element in ET.iterparse(path, events=("end",)):
        if element.tag == "row":
            yield dict(element.attrib)
            element.clear()


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=UTC)


def _plain(body: str) -> str:
    return re.sub(r"\s+", " ", html.unescape(_HTML.sub(" ", html.unescape(body)))).strip()


def load_site(folder: Path) -> Site:
    """Read a Stack Exchange dump folder into chat messages and a catalog."""
    posts: list[Post] = []
    question_tags: dict[str, list[str]] = {}
    excerpts: dict[str, str] = {}
    parent_of: dict[str, str] = {}
    raw = list(_rows(folder / "Posts.xml"))
    for row in raw:
        if row.get("PostTypeId") == "4":
            excerpts[row["Id"]] = _plain(row.get("Body", ""))
    for row in raw:
        kind = row.get("PostTypeId")
        if kind not in ("1", "2") or "OwnerUserId" not in row:
            if kind == "1":
                question_tags[f"q{row['Id']}"] = _TAGS.findall(html.unescape(row.get("Tags", "")))
            continue
        member = f"u{row['OwnerUserId']}"
        if kind == "1":
            key = f"q{row['Id']}"
            tags = _TAGS.findall(html.unescape(row.get("Tags", "")))
            question_tags[key] = tags
            text = f"{html.unescape(row.get('Title', ''))}\n{_plain(row.get('Body', ''))}"
            text += "\n" + " ".join(f"#{tag}" for tag in tags)
            posts.append(
                Post(
                    key,
                    member,
                    _time(row["CreationDate"]),
                    text,
                    None,
                    key,
                    "question",
                    int(row.get("Score", 0)),
                )
            )
        else:
            key = f"a{row['Id']}"
            question = f"q{row['ParentId']}"
            parent_of[key] = question
            posts.append(
                Post(
                    key,
                    member,
                    _time(row["CreationDate"]),
                    _plain(row.get("Body", "")),
                    question,
                    question,
                    "answer",
                    int(row.get("Score", 0)),
                )
            )
    by_id = {post.id: post for post in posts}
    for row in _rows(folder / "Comments.xml"):
        if "UserId" not in row:
            continue
        post_id = row["PostId"]
        target = f"q{post_id}" if f"q{post_id}" in question_tags else f"a{post_id}"
        if target not in by_id:
            continue
        question = target if target.startswith("q") else parent_of.get(target)
        posts.append(
            Post(
                f"c{row['Id']}",
                f"u{row['UserId']}",
                _time(row["CreationDate"]),
                _plain(row.get("Text", "")),
                target,
                question,
                "comment",
                int(row.get("Score", 0)),
            )
        )
    posts.sort(key=lambda post: (post.ts, post.id))
    catalog = []
    for row in _rows(folder / "Tags.xml"):
        name = row["TagName"]
        course: dict[str, Any] = {"id": name, "title": name, "tags": [name]}
        excerpt = excerpts.get(row.get("ExcerptPostId", ""), "")
        if excerpt:
            course["description"] = excerpt
        catalog.append(course)
    return Site(folder.name, posts, question_tags, catalog, [c["id"] for c in catalog])


# -- what an operator imports -------------------------------------------------------------


def write_events(site: Site, cutoff: datetime, path: Path) -> int:
    """Cohort JSONL events for the chat before `cutoff`; returns the number of lines."""
    before = [post for post in site.posts if post.ts < cutoff]
    first: dict[str, datetime] = {}
    for post in before:
        first.setdefault(post.member, post.ts)
    base = {"platform": "discord", "community": site.name, "community_name": site.name}
    lines = []
    for member, ts in first.items():
        lines.append(
            {
                **base,
                "type": "consent",
                "member": member,
                "profiling": True,
                "dm": False,
                "ts": (ts - timedelta(seconds=1)).isoformat(),
            }
        )
    known = {post.id for post in before}
    for post in before:
        event = {
            **base,
            "type": "message",
            "channel": "questions",
            "id": post.id,
            "member": post.member,
            "ts": post.ts.isoformat(),
            "text": post.text,
        }
        if post.reply_to and post.reply_to in known:
            event["reply_to"] = post.reply_to
        lines.append(event)
        if post.score > 0:
            lines.append(
                {
                    **base,
                    "type": "reactions",
                    "channel": "questions",
                    "message": post.id,
                    "emoji": "👍",
                    "count": post.score,
                    "ts": post.ts.isoformat(),
                }
            )
    lines.sort(key=lambda line: (line["ts"], line["type"] != "consent"))
    path.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
    return len(lines)


def engaged_tags(site: Site, posts: Iterable[Post]) -> dict[str, Counter[str]]:
    """Per member, how often they asked or answered about each tag."""
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for post in posts:
        if post.role in ("question", "answer") and post.question:
            out[post.member].update(site.question_tags.get(post.question, ()))
    return out


# -- running Cohort as an operator does ---------------------------------------------------


def run_cohort(site: Site, cutoff: datetime, work: Path, hybrid: bool = False) -> dict[str, Any]:
    """Import, train and load the model as `cohort recommend` does."""
    from typer.testing import CliRunner

    from bot.cli.main import app

    work.mkdir(parents=True, exist_ok=True)
    config = work / "config.toml"
    config.write_text(
        f'[recsys]\nartifacts_dir = "artifacts"\nhybrid = {"true" if hybrid else "false"}\n'
    )
    events = work / "events.jsonl"
    write_events(site, cutoff, events)
    catalog = work / "courses.json"
    catalog.write_text(json.dumps(site.catalog, ensure_ascii=False))
    runner = CliRunner()
    timings = {}
    for name, args in (
        ("import", ["import", "events", str(events)]),
        ("courses", ["courses", "import", str(catalog)]),
        ("train", ["train", "--json"]),
    ):
        started = time.perf_counter()
        result = runner.invoke(app, ["--config", str(config), *args], catch_exceptions=False)
        timings[name] = round(time.perf_counter() - started, 2)
        if result.exit_code != 0:
            raise SystemExit(f"cohort {' '.join(args)} failed: {result.output}")
        if name == "train":
            report = json.loads(result.stdout)
    from bot.config import load_settings
    from bot.training.artifacts import load_bundle
    from bot.training.recommender import build_recommender

    settings = load_settings(config)
    bundle = load_bundle(settings.artifacts_path)
    recommender = build_recommender(bundle, settings.recommend)
    return {
        "bundle": bundle,
        "recommender": recommender,
        "report": report,
        "timings": timings,
        "settings": settings,
    }


def member_keys(settings: Any) -> dict[str, str]:
    """Platform id -> model key (store row id), read from the store."""
    import asyncio

    from bot.cli import runtime
    from bot.store.training import members

    async def go() -> dict[str, str]:
        async with runtime.opened(settings) as cohort, cohort.store.read() as conn:
            rows = await members(conn)
        return {row.platform_id: str(row.id) for row in rows}

    return asyncio.run(go())


# -- metrics --------------------------------------------------------------------------------


def scores(ranking: Sequence[str], truth: set[str]) -> tuple[float, float, float]:
    """HR@5, HR@10 and NDCG@10 of one ranking against one member's truth."""
    top = list(ranking[:K])
    hits = [i for i, course in enumerate(top) if course in truth]
    dcg = sum(1.0 / math.log2(i + 2) for i in hits)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(truth), K)))
    return float(any(i < 5 for i in hits)), float(bool(hits)), dcg / ideal if ideal else 0.0


def evaluate_site(
    folder: Path, splits: Sequence[float], work: Path, hybrid: bool = False
) -> dict[str, Any]:
    """Every split point of one site: per-unit metrics for Cohort and the baselines."""
    site = load_site(folder)
    times = np.asarray([post.ts.timestamp() for post in site.posts])
    units: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        "all": defaultdict(list),
        "new": defaultdict(list),
    }
    details = []
    ranks: dict[str, list[int]] = {"picked": [], "used": []}
    for split in splits:
        cutoff = datetime.fromtimestamp(float(np.quantile(times, split)), UTC)
        before = [post for post in site.posts if post.ts < cutoff]
        after = [post for post in site.posts if post.ts >= cutoff]
        used = engaged_tags(site, before)
        later = engaged_tags(site, after)
        talkers = {post.member for post in before}
        popularity = Counter(
            tag
            for post in before
            if post.role == "question"
            for tag in site.question_tags.get(post.id, ())
        )
        tag_rank = {tag: i for i, tag in enumerate(site.tag_order)}
        popular = sorted(site.tag_order, key=lambda t: (-popularity[t], tag_rank[t]))
        evaluated = sorted(m for m in talkers if later.get(m))
        started = time.perf_counter()
        run = run_cohort(site, cutoff, work / f"{site.name}-{int(split * 100)}", hybrid)
        popularity_rank = {tag: i + 1 for i, tag in enumerate(popular)}
        keys = member_keys(run["settings"])
        bundle, recommender = run["bundle"], run["recommender"]
        day = cutoff.date().isoformat()
        model_keys = [keys[m] for m in evaluated]
        picks_all = recommender.recommend(model_keys, K, languages=bundle.member_languages, day=day)
        picks_new = recommender.recommend(
            model_keys,
            K,
            languages=bundle.member_languages,
            day=day,
            exclude_courses={keys[m]: set(used.get(m, ())) for m in evaluated},
        )
        for member, p_all, p_new in zip(evaluated, picks_all, picks_new, strict=True):
            truth = set(later[member])
            own = sorted(
                site.tag_order,
                key=lambda t, m=member: (-used.get(m, Counter())[t], -popularity[t], tag_rank[t]),
            )
            cohort_all = [p.course for p in p_all]
            units["all"]["cohort"].append(scores(cohort_all, truth))
            ranks["picked"].extend(popularity_rank[c] for c in cohort_all)
            ranks["used"].extend(popularity_rank[c] for c in truth if c in popularity_rank)
            units["all"]["popularity"].append(scores(popular, truth))
            units["all"]["own history"].append(scores(own, truth))
            mine = set(used.get(member, ()))
            fresh = truth - mine
            if fresh:
                units["new"]["cohort"].append(scores([p.course for p in p_new], fresh))
                units["new"]["popularity"].append(
                    scores([t for t in popular if t not in mine], fresh)
                )
        details.append(
            {
                "split": split,
                "cutoff": cutoff.isoformat(),
                "members": len(evaluated),
                "seconds": round(time.perf_counter() - started, 1),
                "timings": run["timings"],
                "blend_weights": run["report"].get("blend_weights"),
                "validation": run["report"].get("validation"),
                "picks_example": [(p.course, p.why) for p in picks_all[0]] if picks_all else [],
            }
        )
        print(
            f"{site.name} T={split:.0%}: {len(evaluated)} members, "
            f"{details[-1]['seconds']} s, weights {details[-1]['blend_weights']}",
            file=sys.stderr,
            flush=True,
        )
    return {"site": site.name, "units": units, "details": details, "ranks": ranks}


def summarise(
    label: str, units: dict[str, dict[str, list[tuple[float, float, float]]]], seed: int = 0
) -> list[str]:
    """Markdown tables (all, new) with paired bootstrap intervals against each baseline."""
    lines = []
    for variant in ("all", "new"):
        rows = {name: np.asarray(values) for name, values in units[variant].items()}
        if "cohort" not in rows or not len(rows["cohort"]):
            continue
        n = len(rows["cohort"])
        lines.append(f"**{label}, `{variant}`** ({n} member × split units)")
        lines.append("")
        lines.append(
            "| ranker | HR@5 | HR@10 | NDCG@10 | Cohort ÷ it (NDCG@10) | Cohort − it, 95 % CI |"
        )
        lines.append("|---|---:|---:|---:|---:|---|")
        cohort = rows["cohort"][:, 2]
        for name, values in rows.items():
            hr5, hr10, ndcg = values.mean(axis=0)
            if name == "cohort":
                lines.append(f"| {name} | {hr5:.3f} | {hr10:.3f} | {ndcg:.3f} | | |")
                continue
            low, high = mean_interval(cohort - values[:, 2], seed=seed)
            rlow, rhigh = ratio_interval(cohort, values[:, 2], seed=seed)
            ratio = cohort.mean() / ndcg if ndcg else float("nan")
            lines.append(
                f"| {name} | {hr5:.3f} | {hr10:.3f} | {ndcg:.3f} | {ratio:.3f}× "
                f"({rlow:.2f}–{rhigh:.2f}) | {cohort.mean() - ndcg:+.3f} "
                f"[{low:+.3f}, {high:+.3f}] |"
            )
        lines.append("")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("sites", type=Path, nargs="+", help="Stack Exchange dump folders")
    parser.add_argument("--splits", type=float, nargs="+", default=[0.6, 0.7, 0.8, 0.9])
    parser.add_argument("--json", action="store_true", help="also print raw details as JSON")
    parser.add_argument(
        "--hybrid", action="store_true", help="train the Keras hybrid too ([recsys] hybrid)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for folder in args.sites:
        if not (folder / "Posts.xml").exists():
            sys.exit(f"error: {folder}/Posts.xml not found (see ../shared/datasets/README.md)")
    pooled: dict[str, dict[str, list[tuple[float, float, float]]]] = {
        "all": defaultdict(list),
        "new": defaultdict(list),
    }
    results = []
    with tempfile.TemporaryDirectory(prefix="cohort-interests-") as tmp:
        for folder in args.sites:
            result = evaluate_site(folder, args.splits, Path(tmp), args.hybrid)
            results.append(result)
            for variant, rows in result["units"].items():
                for name, values in rows.items():
                    pooled[variant][name].extend(values)
    splits = ", ".join(f"{s:.0%}" for s in args.splits)
    print(f"Split points T at {splits} of message times; top {K} of every tag.\n")
    for result in results:
        print("\n".join(summarise(result["site"], result["units"])))
    if len(results) > 1:
        print("\n".join(summarise("pooled over " + " + ".join(r["site"] for r in results), pooled)))
    for result in results:
        for detail in result["details"]:
            print(
                f"{result['site']} T={detail['split']:.0%}: {detail['members']} members, "
                f"train {detail['timings'].get('train')} s, "
                f"weights {detail['blend_weights']}"
            )
    for result in results:
        picked, used = result["ranks"]["picked"], result["ranks"]["used"]
        print(
            f"{result['site']}: median popularity rank of Cohort's picks "
            f"{np.median(picked):.0f}, of the tags members went on to use {np.median(used):.0f}"
        )
    for result in results:
        example = result["details"][-1]["picks_example"][:3]
        print(f"{result['site']} example reasons: " + "; ".join(f"{c}: {w}" for c, w in example))
    print()
    for line in targets(results, pooled):
        print(line)
    if args.json:
        print(
            json.dumps(
                [{**r, "units": None, "ranks": None} for r in results], indent=2, default=str
            )
        )


def _ratio(
    units: dict[str, dict[str, list[tuple[float, float, float]]]], variant: str, baseline: str
) -> tuple[float, tuple[float, float]]:
    cohort = np.asarray(units[variant]["cohort"])[:, 2]
    other = np.asarray(units[variant][baseline])[:, 2]
    interval = mean_interval(cohort - other)
    return float(cohort.mean() / other.mean()), interval


def targets(
    results: list[dict[str, Any]], pooled: dict[str, dict[str, list[tuple[float, float, float]]]]
) -> list[str]:
    """The issue's targets, each with the measured value and met / MISSED."""
    lines = []

    def better(units: dict[str, dict[str, list[tuple[float, float, float]]]]) -> str:
        means = {
            b: np.mean(np.asarray(units["all"][b])[:, 2]) for b in ("popularity", "own history")
        }
        return max(means, key=lambda b: means[b])

    ratio, (low, high) = _ratio(pooled, "all", better(pooled))
    ok = ratio >= 1.03
    lines.append(
        f"target pooled `all` >= 1.03 x the better baseline ({better(pooled)}): {ratio:.3f}x, "
        f"difference 95 % CI [{low:+.3f}, {high:+.3f}] ({'met' if ok else 'MISSED'})"
    )
    ratio, (low, high) = _ratio(pooled, "new", "popularity")
    ok = ratio >= 1.10 and low > 0
    lines.append(
        f"target pooled `new` >= 1.10 x popularity, CI above 0: {ratio:.3f}x, "
        f"[{low:+.3f}, {high:+.3f}] ({'met' if ok else 'MISSED'})"
    )
    for result in results:
        units = result["units"]
        worst = min(_ratio(units, "all", better(units))[0], _ratio(units, "new", "popularity")[0])
        ok = worst >= 0.97
        lines.append(
            f"target {result['site']} never below 0.97 x the better baseline: worst "
            f"{worst:.3f}x ({'met' if ok else 'MISSED'})"
        )
    return lines


if __name__ == "__main__":
    main()
