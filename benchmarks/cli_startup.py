"""How long `cohort --help` and every command's `--help` take, as a user runs them.

Runs each command `--repeat` times in a fresh process (the console script in the
active virtualenv) and prints median and worst wall time. Target: under 1 s each.

Usage:
    .venv/bin/python benchmarks/cli_startup.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = [
    [],
    ["run"],
    ["replay"],
    ["stats"],
    ["demo"],
    ["db"],
    ["db", "upgrade"],
    ["db", "current"],
    ["import"],
    ["import", "discord-export"],
    ["import", "telegram-export"],
    ["import", "events"],
    ["import", "purchases"],
    ["courses"],
    ["courses", "import"],
    ["courses", "list"],
]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    cohort = Path(sys.executable).with_name("cohort")
    worst_overall = 0.0
    print("| command | median s | worst s |")
    print("|---|---:|---:|")
    for command in COMMANDS:
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([str(cohort), *command, "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        worst_overall = max(worst_overall, max(times))
        label = " ".join(["cohort", *command, "--help"])
        print(f"| `{label}` | {statistics.median(times):.2f} | {max(times):.2f} |")
    print(
        f"\nworst of all: {worst_overall:.2f} s (< 1 s: {'met' if worst_overall < 1 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
