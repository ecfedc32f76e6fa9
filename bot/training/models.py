"""The trained model, as the running bot sees it: loaded off the event loop, swapped in.

`cohort train` (and an erasure) switches the `current` pointer atomically. Async
callers ask `await Models.current()`: when the pointer has moved, the new version
is read in a worker thread (`asyncio.to_thread`) while the previous one keeps
answering, and is swapped in when it is ready. Only the very first load (nothing
to answer with yet) is awaited; even then the loop keeps running.

Erasure: `forget_loaded()` drops the loaded version at once, and any load already
in flight is discarded when it finishes (its result may hold the erased member),
so an erased member is never answered from a stale version.

`refresh()` waits for the version on disk (a warm-up job may call it).
`get()` and `current_blocking()` load synchronously, for the CLI and scripts that
have no event loop to protect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.config import RecommendSettings
from bot.training.artifacts import NoModel, current_folder
from bot.training.facade import TrainedModel
from bot.training.train import Bundle

log = logging.getLogger(__name__)

Reader = Callable[[Path, RecommendSettings], TrainedModel]


@dataclass(frozen=True)
class _Load:
    """One load in flight: which folder, started in which erasure generation."""

    folder: Path
    generation: int
    task: asyncio.Task[bool]


class Models:
    """The current trained version (`TrainedModel`), reloaded when the pointer moves."""

    def __init__(
        self, root: Path, settings: RecommendSettings, *, reader: Reader = TrainedModel.read
    ) -> None:
        self.root = root
        self._settings = settings
        self._read = reader  # tests pass a slow one
        self._folder: Path | None = None
        self._model: TrainedModel | None = None
        self._generation = 0  # bumped by every erasure: older loads are discarded
        self._loading: _Load | None = None

    # -- async path (services) -----------------------------------------------------------

    async def current(self) -> TrainedModel | None:
        """The model to answer with now, or None before the first `cohort train`.

        A newer version on disk is loaded in a thread; meanwhile the previous one
        answers, unless the new version is an erasure's rewrite (then the previous
        one is dropped first). With nothing loaded (first use, right after an
        erasure) the load is awaited.
        """
        return await self._current(wait=False)

    async def refresh(self) -> TrainedModel | None:
        """Like `current()`, but waits until the version on disk now is loaded.

        For a job that warms the model up after a retrain. If the load fails, the
        previous version stays (the failure is logged).
        """
        return await self._current(wait=True)

    async def _current(self, *, wait: bool) -> TrainedModel | None:
        while True:
            folder = self._pointer()
            if folder is None:
                return None
            if folder == self._folder:
                return self._model
            if self._folder is not None and _erased_between(self._folder, folder):
                # Another process erased members: never answer from the old version.
                self.forget_loaded()
            generation = self._generation
            load = self._start(folder)
            if self._model is not None and not wait:
                return self._model  # the previous version, until the new one is in
            loaded = await asyncio.shield(load.task)
            if not loaded and self._generation == generation:
                return self._model  # the load failed (logged): keep what we had
            # Swapped in, or superseded (an erasure, a newer version): look again.

    def _start(self, folder: Path) -> _Load:
        """The load of `folder` in flight in this generation, started if needed."""
        loop = asyncio.get_running_loop()
        load = self._loading
        if (
            load is not None
            and load.folder == folder
            and load.generation == self._generation
            and not load.task.done()
            and load.task.get_loop() is loop
        ):
            return load
        generation = self._generation
        task = loop.create_task(self._load(folder, generation), name=f"load model {folder.name}")
        self._loading = _Load(folder, generation, task)
        return self._loading

    async def _load(self, folder: Path, generation: int) -> bool:
        """Read `folder` in a thread and swap it in if still wanted; False if it failed."""
        try:
            model = await asyncio.to_thread(self._read, folder, self._settings)
        except Exception:
            log.exception("cannot load model %s", folder)
            return False
        finally:
            latest = self._loading is not None and self._loading.task is asyncio.current_task()
            if latest:
                self._loading = None
        if generation != self._generation:
            log.info("discarded model %s: members were erased while it loaded", folder.name)
        elif not latest or self._pointer() != folder:
            log.info("discarded model %s: a newer version is current", folder.name)
        elif folder != self._folder:  # else a synchronous load got there first
            self._folder, self._model = folder, model
            log.info("loaded model %s", model.version)
        return True

    # -- sync path (CLI) -----------------------------------------------------------------

    def current_blocking(self) -> TrainedModel | None:
        """Like `current()`, but loads a newer version here and now (blocks the caller)."""
        folder = self._pointer()
        if folder is None:
            return None
        if folder != self._folder:
            try:
                model = self._read(folder, self._settings)
            except (OSError, ValueError) as exc:
                log.error("cannot load model %s: %s", folder, exc)
                return self._model
            self._folder, self._model = folder, model
            log.info("loaded model %s", model.version)
        return self._model

    def get(self) -> Bundle | None:
        """The current bundle, loaded synchronously; None before the first `cohort train`."""
        model = self.current_blocking()
        return model.bundle if model is not None else None

    # -- erasure -------------------------------------------------------------------------

    def forget_loaded(self) -> None:
        """Drop the loaded version now (after erasure rewrote it on disk).

        A load in flight is left to finish in its thread, but its result is discarded.
        """
        self._generation += 1
        self._folder = self._model = None
        self._loading = None

    def _pointer(self) -> Path | None:
        try:
            return current_folder(self.root)
        except NoModel:
            return None


def _erased_between(old: Path, new: Path) -> bool:
    """Whether moving from version `old` to `new` includes an erasure.

    `artifacts.forget_members` rewrites versions as `<version>-e<stamp>`: a change
    in that suffix means members were erased in between (a plain retrain keeps it
    empty). Erring towards True only costs an awaited load.
    """
    return _erasure_stamp(old.name) != _erasure_stamp(new.name)


def _erasure_stamp(version: str) -> str:
    return version.partition("-e")[2]
