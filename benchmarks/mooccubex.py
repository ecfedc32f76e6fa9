"""Ranking quality on real enrolments: MOOCCubeX (97,722 members, 1.09 M enrolments).

Reads `../shared/datasets/mooccubex/` (see its README; the corrected file): `train.txt`
(member then courses, in time order) and `test.txt` (each member's next course).
Every model is fitted on train and ranks ALL courses for ALL members, training
courses removed; HR@10 and NDCG@10 count the held-out course in the top 10.

Time order: the file has no dates, so the loader gives each member's enrolments a
synthetic clock, timestamps 1, 2, 3, ... in line order, stored as the events'
purchase times (`Dataset.events`) exactly as imported purchases' times are. Cohort's
ranker uses the order only through those timestamps (recency-weighted item-item
rows, the next-item model); popularity and ALS ignore it.

Models, each in its own process (so fit time, scoring time and peak RSS are its
own): popularity, implicit ALS (128 factors, 15 iterations, reg 0.05, alpha 2)
and Cohort's ranker exactly as `cohort train` builds it (`recsys.model.default_ranker`,
its blend weights tuned on a validation split carved from train, never on test),
evaluated with `recsys.evaluate.evaluate` as `cohort evaluate` does.

`--attention 1 2` also runs Cohort with the Keras self-attention model, once per
number of passes given, and compares each with Cohort without it.

Usage:
    .venv/bin/python benchmarks/mooccubex.py [--data DIR] [--attention EPOCHS ...]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_DATA = ROOT.parent / "shared" / "datasets" / "mooccubex"


def load(folder: Path) -> tuple[Any, dict[int, Any]]:
    """The training Dataset and the held-out course row per member row."""
    import numpy as np

    from recsys.data import Dataset, IdMap

    members: list[str] = []
    courses: list[str] = []
    clock: list[float] = []
    # The file has no dates, only each member's enrolments in time order: a synthetic
    # clock gives the k-th enrolment on a line timestamp k, so Cohort sees the order
    # through the purchase times it stores (only the order within a member matters).
    for line in (folder / "train.txt").read_text().splitlines():
        parts = line.split()
        members.extend([parts[0]] * (len(parts) - 1))
        courses.extend(parts[1:])
        clock.extend(range(1, len(parts)))
    tests = [line.split() for line in (folder / "test.txt").read_text().splitlines() if line]
    member_map = IdMap.of([*members, *(t[0] for t in tests)])
    course_map = IdMap.of([*courses, *(t[1] for t in tests)])
    data = Dataset.from_events(
        members, courses, timestamps=clock, members=member_map, courses=course_map
    )
    held = {
        int(member_map.index[m]): np.asarray([course_map.index[c]], dtype=np.int64)
        for m, c in tests
    }
    return data, held


def per_member_ndcg(ranker: Any, data: Any, held: dict[int, Any]) -> Any:
    """Each evaluated member's NDCG@10 (member rows in sorted order), for intervals."""
    import numpy as np

    from recsys.rankers.base import exclude
    from recsys.rankers.blend import ndcg_relevant

    rows = np.asarray(sorted(held), np.int64)
    owned = data.owned()
    out = np.zeros(len(rows), np.float32)
    for start in range(0, len(rows), 4096):
        chunk = rows[start : start + 4096]
        scores = ranker.score_rows(chunk)
        exclude(scores, owned, chunk)
        out[start : start + len(chunk)] = ndcg_relevant(scores, [held[int(r)] for r in chunk], 10)
    return out


def run_model(name: str, folder: str, attention_epochs: float | None = None) -> dict[str, Any]:
    """Fit and evaluate one model (runs in a fresh process)."""
    from recsys.data import Split
    from recsys.evaluate import evaluate

    started = time.perf_counter()
    data, held = load(Path(folder))
    load_seconds = time.perf_counter() - started
    if name == "popularity":
        from recsys.rankers.popularity import PopularityRanker

        ranker: Any = PopularityRanker()
    elif name == "als":
        from recsys.rankers.als import ALSRanker

        ranker = ALSRanker(factors=128, iterations=15, regularization=0.05, alpha=2.0)
    else:
        from recsys.model import RankingConfig, default_ranker

        ranker = default_ranker(
            RankingConfig(attention=True, attention_epochs=attention_epochs)
            if attention_epochs is not None
            else None
        )
    result = evaluate(ranker, Split(train=data, held_out=held), k=10).as_dict()
    started = time.perf_counter()
    ranker.recommend(list(data.members.ids), k=10)  # what `cohort recommend --all` runs
    result["recommend_all_seconds"] = round(time.perf_counter() - started, 2)
    result["label"] = name
    result["load_seconds"] = round(load_seconds, 2)
    result["per_member"] = per_member_ndcg(ranker, data, held).tolist()
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    weights = getattr(ranker, "weights_", None)
    if name.startswith("cohort") and weights is not None:
        result["blend_weights"] = {
            c.name: round(float(w), 3) for c, w in zip(ranker.components_, weights, strict=True)
        }
        result["validation"] = ranker.validation_
        item = next(c for c in ranker.components_ if c.name == "itemitem")
        result["itemitem_chosen"] = {"dropout": item.dropout_, "l2": item.l2_, "decay": item.decay_}
        result["itemitem_tuning"] = ranker.validation_.get("tuning", {}).get("itemitem", {})
        sequence = next((c for c in ranker.components_ if c.name == "sequence"), None)
        if sequence is not None:
            result["sequence_chosen"] = {
                "decay": sequence.decay_,
                "l2": sequence.l2_,
                "transitions": sequence.pairs_,  # 0: no timestamps, it learned nothing
            }
            result["sequence_tuning"] = ranker.validation_.get("tuning", {}).get("sequence", {})
        # Each fitted component alone on the same test (no refit): what it contributes.
        result["components_on_test"] = {
            c.name: round(evaluate(c, Split(train=data, held_out=held), k=10, fit=False).ndcg, 4)
            for c in ranker.components_
        }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--json", action="store_true", help="print raw results as JSON")
    parser.add_argument(
        "--attention",
        type=float,
        nargs="+",
        metavar="EPOCHS",
        default=[],
        help="also run Cohort with the Keras self-attention model ([recsys] attention), "
        "once per number of passes given ([recsys] attention_epochs)",
    )
    args = parser.parse_args()
    if not (args.data / "train.txt").exists():
        sys.exit(f"error: {args.data}/train.txt not found (see ../shared/datasets/README.md)")
    context = multiprocessing.get_context("spawn")
    results = []
    runs: list[tuple[str, float | None]] = [("popularity", None), ("als", None), ("cohort", None)]
    runs += [(f"cohort+attention×{epochs:g}", epochs) for epochs in args.attention]
    for name, epochs in runs:
        pool = context.Pool(1)
        try:
            results.append(pool.apply(run_model, (name, str(args.data), epochs)))
        finally:
            pool.close()
            pool.join()
        print(f"{name}: done", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps([{**r, "per_member": None} for r in results], indent=2))
        return
    als = next(r for r in results if r["label"] == "als")
    print(f"MOOCCubeX: {results[0]['members']:,} members evaluated, top 10 of all courses")
    print()
    print(
        "| model | HR@10 | NDCG@10 | NDCG vs ALS | fit s | recommend all s | evaluate s "
        "| peak RSS MB |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['label']} | {r['hr']:.4f} | {r['ndcg']:.4f} | {r['ndcg'] / als['ndcg']:.2f}× "
            f"| {r['fit_seconds']:.1f} | {r['recommend_all_seconds']:.1f} "
            f"| {r['score_seconds']:.1f} | {r['peak_rss_mb']:,} |"
        )
    cohort = next(r for r in results if r["label"] == "cohort")
    print()
    print(f"Cohort blend weights: {cohort.get('blend_weights')}")
    print(f"Cohort validation: {cohort.get('validation')}")
    print(f"Cohort components alone on test (NDCG@10): {cohort.get('components_on_test')}")
    print(
        f"Item-item chose {cohort.get('itemitem_chosen')} on validation "
        f"(validation NDCG@10 by dropout/l2/decay: {cohort.get('itemitem_tuning')})"
    )
    print(
        f"Next-item chose {cohort.get('sequence_chosen')} on validation "
        f"(validation NDCG@10 by decay/l2: {cohort.get('sequence_tuning')})"
    )
    ratio = cohort["ndcg"] / als["ndcg"]
    import numpy as np
    from bootstrap import ratio_interval

    low, high = ratio_interval(np.asarray(cohort["per_member"]), np.asarray(als["per_member"]))
    print(
        f"Cohort / ALS NDCG@10, 95 % paired bootstrap over members: {ratio:.3f}x "
        f"[{low:.3f}, {high:.3f}] (ties counted against the held-out course)"
    )
    checks = [
        ("NDCG@10 >= 1.50 x ALS", ratio >= 1.50, f"{ratio:.3f}x"),
        ("training <= 120 s", cohort["fit_seconds"] <= 120, f"{cohort['fit_seconds']:.1f} s"),
        (
            "scoring all members <= 30 s",
            cohort["recommend_all_seconds"] <= 30,
            f"{cohort['recommend_all_seconds']:.1f} s",
        ),
        ("peak RSS <= 4 GB", cohort["peak_rss_mb"] <= 4096, f"{cohort['peak_rss_mb']:,} MB"),
    ]
    for label, ok, value in checks:
        print(f"target {label}: {value} ({'met' if ok else 'MISSED'})")
    for attention in (r for r in results if r["label"].startswith("cohort+attention")):
        low, high = ratio_interval(
            np.asarray(attention["per_member"]), np.asarray(cohort["per_member"])
        )
        print()
        print(f"{attention['label']}: blend weights {attention.get('blend_weights')}")
        print(f"  components alone on test (NDCG@10): {attention.get('components_on_test')}")
        print(
            f"  NDCG@10 {attention['ndcg']:.4f} against {cohort['ndcg']:.4f} without: "
            f"{attention['ndcg'] / cohort['ndcg']:.3f}x [{low:.3f}, {high:.3f}], "
            f"{attention['ndcg'] / als['ndcg']:.3f}x ALS; training "
            f"{attention['fit_seconds']:.1f} s against {cohort['fit_seconds']:.1f} s; "
            f"peak RSS {attention['peak_rss_mb']:,} MB"
        )


if __name__ == "__main__":
    main()
