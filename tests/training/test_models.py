"""`Models`: the trained model loaded off the event loop, swapped in, dropped on erasure.

A `Reader` stands in for reading a version from disk: it builds the tiny model and,
for the versions a test gates, blocks its worker thread until the test releases it.
Only the `current` pointer is real (the loader reads it to decide what to load).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from pathlib import Path

import pytest

from bot.config import RecommendSettings
from bot.training.facade import TrainedModel
from bot.training.models import Models
from tests.training.conftest import PLAIN, renamed, tiny_model

V1, V2, V3 = "20261101T000000000000Z", "20261102T000000000000Z", "20261103T000000000000Z"
STUCK = 30.0  # seconds a gated load waits before giving up (only if the test is broken)


class Reader:
    """Builds versions on demand; gated versions wait for `release(version)`."""

    def __init__(self, gated: Iterable[str] = (), fail: Iterable[str] = ()) -> None:
        self.base = tiny_model()
        self.gates = {version: threading.Event() for version in gated}
        self.started = {version: threading.Event() for version in gated}
        self.fail = set(fail)
        self.calls: list[str] = []
        self.on_loop: list[bool] = []
        self.timed_out: list[str] = []

    def __call__(self, folder: Path, settings: RecommendSettings) -> TrainedModel:
        version = folder.name
        self.calls.append(version)
        try:
            asyncio.get_running_loop()
            self.on_loop.append(True)
        except RuntimeError:
            self.on_loop.append(False)
        if version in self.gates:
            self.started[version].set()
            if not self.gates[version].wait(STUCK):
                self.timed_out.append(version)
        if version in self.fail:
            raise OSError(f"cannot read {version}")
        return renamed(self.base, version)

    def release(self, version: str) -> None:
        """Let the gated load of `version` finish."""
        self.gates[version].set()

    async def wait_started(self, version: str) -> None:
        """Until the worker thread has begun reading `version` (without blocking the loop)."""
        await asyncio.to_thread(self.started[version].wait, STUCK)


def point(root: Path, version: str) -> None:
    """Move `current` to `version`, as `cohort train` or an erasure does."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "current").write_text(version, "utf-8")


async def settle() -> None:
    """Until every model load in flight has finished (and applied or discarded its result)."""
    loads = [t for t in asyncio.all_tasks() if t.get_name().startswith("load model")]
    await asyncio.gather(*loads)


def models(root: Path, reader: Reader) -> Models:
    """A loader over `root` that reads through `reader`."""
    return Models(root, PLAIN, reader=reader)


async def test_nothing_trained_is_none(tmp_path: Path) -> None:
    """Before the first `cohort train` there is no model, on either path."""
    loader = models(tmp_path, Reader())
    assert await loader.current() is None and loader.get() is None


async def test_the_loop_keeps_running_while_a_slow_first_load_runs(tmp_path: Path) -> None:
    """The load runs in a worker thread: a heartbeat task on the loop ticks while it runs.

    The load only finishes once the heartbeat has ticked three times, so a load that
    blocked the loop could never finish (it would give up after STUCK seconds).
    """
    point(tmp_path, V1)
    reader = Reader(gated=[V1])
    loader = models(tmp_path, reader)
    ticks = 0

    async def heartbeat() -> None:
        nonlocal ticks
        await reader.wait_started(V1)
        while ticks < 3:
            await asyncio.sleep(0.001)
            ticks += 1
        reader.release(V1)

    beating = asyncio.create_task(heartbeat())
    model = await loader.current()
    await beating
    assert model is not None and model.version == V1
    assert reader.timed_out == [] and ticks == 3
    assert reader.on_loop == [False]  # read in a worker thread, not on the loop


async def test_concurrent_first_callers_share_one_load(tmp_path: Path) -> None:
    """Many requests arriving before the first load share it: the version is read once."""
    point(tmp_path, V1)
    reader = Reader(gated=[V1])
    loader = models(tmp_path, reader)
    waiting = [asyncio.create_task(loader.current()) for _ in range(5)]
    await reader.wait_started(V1)
    reader.release(V1)
    results = await asyncio.gather(*waiting)
    assert reader.calls == [V1]
    assert all(result is results[0] and result is not None for result in results)


async def test_the_previous_version_answers_while_a_retrain_loads(tmp_path: Path) -> None:
    """After a retrain the old version keeps answering until the new one is swapped in."""
    point(tmp_path, V1)
    reader = Reader(gated=[V2])
    loader = models(tmp_path, reader)
    first = await loader.current()
    assert first is not None and first.version == V1
    point(tmp_path, V2)
    assert await loader.current() is first  # V2 is loading in the background
    await reader.wait_started(V2)
    assert await loader.current() is first  # still loading: still V1, no second load
    reader.release(V2)
    second = await loader.refresh()
    assert second is not None and second.version == V2
    assert await loader.current() is second and loader.get() is second.bundle
    assert reader.calls == [V1, V2] and reader.timed_out == []


async def test_erasure_during_an_in_flight_load_is_respected(tmp_path: Path) -> None:
    """A load that started before an erasure is discarded: the old data never comes back."""
    point(tmp_path, V1)
    reader = Reader(gated=[V2])
    loader = models(tmp_path, reader)
    before = await loader.current()
    assert before is not None
    point(tmp_path, V2)  # a retrain: V2 starts loading
    assert await loader.current() is before
    await reader.wait_started(V2)
    erased = f"{V2}-e20261104T000000000000Z"
    point(tmp_path, erased)  # the erasure rewrites V2 and moves `current`
    loader.forget_loaded()  # ... and drops what is loaded, at once
    reader.release(V2)  # the pre-erasure load of V2 finishes afterwards
    after = await loader.current()
    assert after is not None and after.version == erased
    await settle()  # the discarded load has finished: look again
    assert await loader.current() is after
    assert reader.calls == [V1, V2, erased]


async def test_a_load_discarded_by_erasure_never_answers_even_after_a_retrain(
    tmp_path: Path,
) -> None:
    """Erasure while V2 loads, then a retrain (V3): V2 must never answer, not even for now."""
    point(tmp_path, V1)
    reader = Reader(gated=[V2, V3])
    loader = models(tmp_path, reader)
    assert await loader.current() is not None
    point(tmp_path, V2)
    await loader.current()  # V2 starts loading; V1 answers
    await reader.wait_started(V2)
    point(tmp_path, f"{V2}-e1")  # in-process erasure: rewrite, move, drop
    loader.forget_loaded()
    point(tmp_path, V3)  # and a retrain lands right after
    reader.release(V2)
    await settle()  # the pre-erasure V2 load has finished
    waiting = asyncio.create_task(loader.current())
    await reader.wait_started(V3)
    assert not waiting.done()  # nothing to answer with but V3: it waits for it
    reader.release(V3)
    model = await waiting
    assert model is not None and model.version == V3


async def test_erasure_during_the_first_load_makes_the_waiter_load_again(
    tmp_path: Path,
) -> None:
    """A request waiting for the first load gets the post-erasure version, never the old."""
    point(tmp_path, V1)
    reader = Reader(gated=[V1])
    loader = models(tmp_path, reader)
    waiting = asyncio.create_task(loader.current())
    await reader.wait_started(V1)
    erased = f"{V1}-e20261104T000000000000Z"
    point(tmp_path, erased)
    loader.forget_loaded()
    reader.release(V1)
    model = await waiting
    assert model is not None and model.version == erased
    assert reader.calls == [V1, erased]


async def test_an_erasure_by_another_process_drops_the_old_version_at_once(
    tmp_path: Path,
) -> None:
    """When `current` moves to an erasure's rewrite, the old version stops answering."""
    point(tmp_path, V1)
    reader = Reader(gated=[f"{V1}-e1"])
    loader = models(tmp_path, reader)
    assert await loader.current() is not None
    point(tmp_path, f"{V1}-e1")  # `cohort privacy forget` ran elsewhere
    waiting = asyncio.create_task(loader.current())
    await reader.wait_started(f"{V1}-e1")
    assert not waiting.done()  # it waits for the rewrite instead of answering from V1
    reader.release(f"{V1}-e1")
    model = await waiting
    assert model is not None and model.version == f"{V1}-e1"


async def test_a_failed_load_keeps_the_previous_version(tmp_path: Path) -> None:
    """A version that cannot be read is logged; the previous one keeps answering."""
    point(tmp_path, V1)
    reader = Reader(fail=[V2, V3])
    loader = models(tmp_path, reader)
    first = await loader.current()
    point(tmp_path, V2)
    assert await loader.refresh() is first
    assert await loader.current() is first
    fresh = models(tmp_path, Reader(fail=[V2]))
    assert await fresh.current() is None  # nothing to fall back on


async def test_a_newer_version_supersedes_a_slower_older_load(tmp_path: Path) -> None:
    """An older load finishing after a newer one never replaces the newer version."""
    point(tmp_path, V1)
    reader = Reader(gated=[V2])
    loader = models(tmp_path, reader)
    assert await loader.current() is not None
    point(tmp_path, V2)
    await loader.current()
    await reader.wait_started(V2)
    point(tmp_path, V3)
    third = await loader.refresh()
    assert third is not None and third.version == V3
    reader.release(V2)
    await settle()  # the V2 load has finished
    assert await loader.current() is third


def test_the_sync_path_loads_in_place_for_the_cli(tmp_path: Path) -> None:
    """Without an event loop, `current_blocking`/`get` load here and reload on a move."""
    point(tmp_path, V1)
    reader = Reader()
    loader = models(tmp_path, reader)
    first = loader.current_blocking()
    assert first is not None and loader.get() is first.bundle
    point(tmp_path, V2)
    second = loader.current_blocking()
    assert second is not None and second.version == V2
    loader.forget_loaded()
    assert loader.current_blocking() is not second
    assert reader.on_loop == [False, False, False]


@pytest.mark.parametrize(("old", "new", "erased"), [(V1, V2, False), (V1, f"{V1}-e5", True)])
async def test_retrain_versus_erasure_pointer_moves(
    tmp_path: Path, old: str, new: str, erased: bool
) -> None:
    """A retrain keeps the old version answering; an erasure's rewrite does not."""
    point(tmp_path, old)
    reader = Reader(gated=[new])
    loader = models(tmp_path, reader)
    before = await loader.current()
    point(tmp_path, new)
    waiting = asyncio.create_task(loader.current())
    await reader.wait_started(new)
    for _ in range(3):
        await asyncio.sleep(0)
    assert waiting.done() is not erased
    reader.release(new)
    answered = await waiting
    assert (answered is before) is not erased
