"""The trained bundle, as the running bot sees it: loaded once, reloaded when retrained.

`cohort train` switches the `current` pointer atomically; `Models.get()` notices the
new version on its next call and loads it (no TensorFlow needed), so the bot picks
up a retrain without a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path

from bot.config import RecommendSettings
from bot.training.artifacts import NoModel, current_folder, load_bundle
from bot.training.recommender import build_recommender
from bot.training.train import Bundle
from recsys.policy import Recommender

log = logging.getLogger(__name__)


class Models:
    """Lazy access to the current bundle and its `Recommender`."""

    def __init__(self, root: Path, settings: RecommendSettings) -> None:
        self.root = root
        self._settings = settings
        self._folder: Path | None = None
        self._bundle: Bundle | None = None
        self._recommender: Recommender | None = None

    def get(self) -> Bundle | None:
        """The current bundle, or None before the first `cohort train`."""
        try:
            folder = current_folder(self.root)
        except NoModel:
            return None
        if folder != self._folder:
            try:
                bundle = load_bundle(self.root)
            except (OSError, ValueError) as exc:
                log.error("cannot load model %s: %s", folder, exc)
                return self._bundle
            self._folder, self._bundle, self._recommender = folder, bundle, None
            log.info("loaded model %s", bundle.version)
        return self._bundle

    def recommender(self) -> Recommender | None:
        """The bundle's recommender (built once per bundle)."""
        bundle = self.get()
        if bundle is None:
            return None
        if self._recommender is None:
            self._recommender = build_recommender(bundle, self._settings)
        return self._recommender

    def forget_loaded(self) -> None:
        """Drop the loaded bundle (after erasure rewrote it on disk)."""
        self._folder = self._bundle = None
        self._recommender = None
