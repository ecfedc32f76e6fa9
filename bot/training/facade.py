"""`TrainedModel`: the one door services and the CLI use to ask the trained model.

A trained `Bundle` holds a blend of rankers, a TF-IDF encoder, the catalog and the
per-community models (segments, influence). Services and the CLI never reach into
it: they ask this facade for picks (with reasons), who would want a course, what a
channel's talk points to, what the model knows about a member, and to forget
members. How the ranking is made (which components, how reasons are produced)
can then change inside `recsys` and `bot.training` without touching them.

Picks go through `recsys.policy.Recommender` (business rules and reasons); scores
come from the blend's public `score`. The few learned attributes the facade needs
(which members and courses the ranker knows, who owns what) are read here and
nowhere else in the application.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import RecommendSettings
from bot.training.artifacts import forget_in_bundle, load_bundle, load_folder
from bot.training.recommender import build_recommender, content_ranker
from bot.training.train import Bundle, CommunityModels
from recsys.graph import UnknownMember
from recsys.policy import CourseInfo, Pick, Reason, Recommender


class CourseNotInModel(LookupError):
    """The course was added to the catalog after the model was trained."""

    def __init__(self, course: str) -> None:
        super().__init__(course)
        self.course = course


def locale_languages(locale: str) -> list[str]:
    """The languages a member with `locale` reads: English plus the locale's language."""
    return sorted({"en", locale.split("-")[0].split("_")[0].lower()})


class TrainedModel:
    """One trained version, as services and the CLI see it."""

    def __init__(self, bundle: Bundle, settings: RecommendSettings) -> None:
        self._bundle = bundle
        self._settings = settings
        self._recommender: Recommender | None = None
        self._catalog = {course.id: course for course in bundle.courses}

    @classmethod
    def load(cls, root: Path, settings: RecommendSettings) -> TrainedModel:
        """The current version under `root` (raises `NoModel` before the first training)."""
        return cls(load_bundle(root), settings)

    @classmethod
    def read(cls, folder: Path, settings: RecommendSettings) -> TrainedModel:
        """The version saved in `folder`, ready to answer (its rules and reasons built).

        Everything slow happens here, so a caller can run it off the event loop.
        """
        return cls(load_folder(folder), settings).prepared()

    def prepared(self) -> TrainedModel:
        """Build what answering needs now rather than on the first question; returns self."""
        self._policy()
        return self

    # -- what the model is ---------------------------------------------------------------

    @property
    def bundle(self) -> Bundle:
        """The underlying bundle (for saving and training code, not for services)."""
        return self._bundle

    @property
    def version(self) -> str:
        """The trained version's name."""
        return self._bundle.version

    # -- members and courses -------------------------------------------------------------

    def knows(self, member_key: str) -> bool:
        """Whether the ranker was trained on this member (a model key: a member row id)."""
        return member_key in self._bundle.ranker.members_

    def member_keys(self) -> list[str]:
        """Every member the ranker was trained on, in model order."""
        return list(self._bundle.ranker.members_.ids)

    def member_key(self, member_ids: Iterable[int]) -> str | None:
        """A person's key: their lowest identity the model knows (None: not trained on).

        Linked identities are trained as one member (see `bot.training.inputs`).
        """
        for member_id in sorted(member_ids):
            if self.knows(str(member_id)):
                return str(member_id)
        return None

    def languages(self, member_key: str) -> list[str] | None:
        """The languages the member reads, as training saw them (None: no filter)."""
        return self._bundle.member_languages.get(member_key)

    def knows_course(self, course: str) -> bool:
        """Whether the course existed when the model was trained."""
        return course in self._bundle.ranker.courses_.index

    def courses(self) -> list[CourseInfo]:
        """The catalog the model was trained with."""
        return list(self._bundle.courses)

    def course(self, course: str) -> CourseInfo | None:
        """One course of the trained catalog."""
        return self._catalog.get(course)

    # -- picks ---------------------------------------------------------------------------

    def recommend(
        self,
        member_keys: Sequence[str],
        k: int,
        *,
        day: str = "",
        exclude: Mapping[str, Collection[str]] | None = None,
        locales: Mapping[str, str] | None = None,
        filter_languages: bool = True,
    ) -> list[list[Pick]]:
        """Each member's picks, business rules applied, best first, each with its reason.

        `day` seeds exploration (the same list all day); `exclude` adds courses never to
        show per member (owned on a linked identity, "not for me"). With
        `filter_languages`, courses are limited to the languages the member reads: as
        training saw them, else from their `locales` entry.
        """
        languages: dict[str, list[str]] | None = None
        if filter_languages:
            languages = {}
            for key in member_keys:
                known = self.languages(key)
                locale = (locales or {}).get(key)
                if known is not None:
                    languages[key] = known
                elif locale:
                    languages[key] = locale_languages(locale)
        return self._policy().recommend(
            list(member_keys), k, languages=languages, day=day, exclude_courses=exclude
        )

    def explain(self, member_key: str, course: str, *, day: str = "") -> Reason | None:
        """Why `course` would be picked for the member (None: not among their candidates)."""
        picks = self.recommend([member_key], len(self._catalog) or 1, day=day)[0]
        return next((pick.reason for pick in picks if pick.course == course), None)

    def top_members(self, course: str, n: int, *, among: Collection[str]) -> list[str]:
        """The `n` members (keys, from `among`) most likely to want `course`, best first.

        Members who own the course are left out. Raises `CourseNotInModel` for a course
        the model has never seen.
        """
        ranker = self._bundle.ranker
        column = ranker.courses_.index.get(course)
        if column is None:
            raise CourseNotInModel(course)
        wanted = set(among)
        keys = [key for key in ranker.members_.ids if key in wanted]
        if not keys or n <= 0:
            return []
        scores = ranker.score(keys)[:, column]
        owned = ranker.owned_[ranker.members_.rows(keys)][:, column].toarray().ravel() > 0
        scores[owned] = -np.inf
        order = np.argsort(-scores, kind="stable")
        return [keys[i] for i in order[:n] if np.isfinite(scores[i])]

    def channel_picks(self, document: str, k: int, *, among: Collection[str]) -> list[str] | None:
        """Courses (from `among`) for what a channel talks about, best first.

        `document` is the channel's aggregate text. None when the model cannot read
        text (no topic component) or the channel has said nothing: the caller falls
        back to popularity.
        """
        content = content_ranker(self._bundle.ranker)
        if content is None or not document.strip():
            return None
        profile = self._bundle.encoder.transform([document])
        scores = content.score_profiles(profile)[0]
        names = content.courses_.ids
        order = [int(i) for i in np.argsort(-scores, kind="stable")]
        return [names[i] for i in order if names[i] in among][:k]

    # -- communities ---------------------------------------------------------------------

    @property
    def communities(self) -> Mapping[str, CommunityModels]:
        """Segments, rule segments and influence per community key (`platform:id`)."""
        return self._bundle.communities

    def community(self, key: str) -> CommunityModels | None:
        """One community's models (None: not in the training)."""
        return self._bundle.communities.get(key)

    def community_view(self, member_key: str) -> dict[str, dict[str, Any]]:
        """What each community's models hold about a member (for their data export).

        Per community where the member appears: their segment, rule segments and
        influence summary.
        """
        out: dict[str, dict[str, Any]] = {}
        for key, models in self._bundle.communities.items():
            info: dict[str, Any] = {}
            if models.segments is not None:
                segment_id = models.segments.assignments().get(member_key)
                if segment_id is not None:
                    segment = next(
                        (x for x in models.segments.describe() if x.id == segment_id), None
                    )
                    info["segment"] = asdict(segment) if segment else {"id": segment_id}
            info["rule_segments"] = sorted(
                name for name, members in models.rules.items() if member_key in members
            )
            if models.influence is not None:
                with suppress(UnknownMember):
                    info["influence"] = dict(models.influence.summary(member_key))
            if info.get("segment") or info["rule_segments"] or info.get("influence"):
                out[key] = info
        return out

    # -- erasure -------------------------------------------------------------------------

    def forget(self, member_keys: Sequence[str]) -> None:
        """Remove members from this in-memory model (ranker, languages, communities).

        What was derived from them (the rules' course similarity) is rebuilt on the
        next question. Saved versions are rewritten by `artifacts.forget_members`.
        """
        forget_in_bundle(self._bundle, member_keys)
        self._recommender = None

    # -- internals -----------------------------------------------------------------------

    def _policy(self) -> Recommender:
        if self._recommender is None:
            self._recommender = build_recommender(self._bundle, self._settings)
        return self._recommender
