"""Topic profiles: members, channels and courses in one text space.

A `TextEncoder` turns documents into L2-normalised row vectors; `TfidfEncoder`
(scikit-learn TF-IDF over `recsys.text.tokenize`, which keeps `c++`, `node.js`,
`k8s` and segments Chinese into words with jieba) is the default. Anything with
the same three methods can replace it, e.g. a sentence-embedding model, without
touching callers: they only use `fit`, `transform` and `terms`.

`TopicSpace` fits the encoder on member and course documents together, so a
member's profile and a course's description are directly comparable, and explains
a match by the terms that contribute most to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, Self, TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.text import tokenize

log = logging.getLogger(__name__)

Matrix: TypeAlias = sp.csr_matrix | npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """Documents in, L2-normalised vectors out."""

    def fit(self, documents: Sequence[str]) -> Self:
        """Learn the vocabulary (or load the model); return self."""
        ...

    def transform(self, documents: Sequence[str]) -> Matrix:
        """One L2-normalised row per document (sparse or dense)."""
        ...

    def terms(self) -> list[str] | None:
        """The name of each column, if columns are terms (None for dense embeddings)."""
        ...


def _identity(tokens: list[str]) -> list[str]:
    return tokens


class TfidfEncoder:
    """TF-IDF with Cohort's programming-aware tokenizer (sublinear tf, L2 norm).

    When `min_df`/`max_df` prune every term (a catalog of "Course 1" ... "Course 3000"
    with no description shares all its words), the vocabulary is learnt again with no
    pruning; when the documents hold no term at all, the vocabulary is empty and every
    document encodes to a row of zero columns (callers then have no text signal).
    """

    vectorizer_: Any
    terms_: list[str]

    def __init__(self, *, min_df: int = 2, max_df: float = 0.5, max_features: int = 50_000) -> None:
        self.min_df = min_df
        self.max_df = max_df
        self.max_features = max_features

    def fit(self, documents: Sequence[str]) -> Self:
        """Learn vocabulary and idf from `documents`."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        tokens = [tokenize(doc) for doc in documents]
        min_df = self.min_df if len(documents) >= 10 * self.min_df else 1
        max_df = self.max_df if len(documents) >= 20 else 1.0
        self.vectorizer_ = None
        self.terms_ = []
        if not any(tokens):
            log.warning("no terms in %d documents: topics carry no text signal", len(tokens))
            return self
        for attempt in ((min_df, max_df), (1, 1.0)):
            vectorizer = TfidfVectorizer(
                analyzer=_identity,
                min_df=attempt[0],
                max_df=attempt[1],
                max_features=self.max_features,
                sublinear_tf=True,
                dtype=np.float32,
            )
            try:
                vectorizer.fit(tokens)
            except ValueError as error:  # "After pruning, no terms remain" and kin
                log.warning(
                    "TF-IDF with min_df=%s, max_df=%s kept no term (%s); retrying without pruning",
                    attempt[0],
                    attempt[1],
                    error,
                )
                continue
            self.vectorizer_ = vectorizer
            self.terms_ = list(vectorizer.get_feature_names_out())
            break
        return self

    def transform(self, documents: Sequence[str]) -> sp.csr_matrix:
        """Sparse TF-IDF rows (L2-normalised); zero columns when the vocabulary is empty."""
        if self.vectorizer_ is None or not documents:  # sklearn refuses zero documents
            return sp.csr_matrix((len(documents), len(self.terms_)), dtype=np.float32)
        return self.vectorizer_.transform([tokenize(doc) for doc in documents]).tocsr()

    def terms(self) -> list[str] | None:
        """The vocabulary, one term per column."""
        return self.terms_

    def state(self) -> dict[str, Any]:
        """What is needed to rebuild the fitted encoder (for artifacts, no pickle)."""
        idf = (
            np.zeros(0, np.float32)
            if self.vectorizer_ is None
            else self.vectorizer_.idf_.astype(np.float32)
        )
        return {
            "terms": self.terms_,
            "idf": idf,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "max_features": self.max_features,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> TfidfEncoder:
        """Rebuild a fitted encoder from `state()`."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        encoder = cls(
            min_df=int(state["min_df"]),
            max_df=float(state["max_df"]),
            max_features=int(state["max_features"]),
        )
        terms = [str(t) for t in state["terms"]]
        encoder.terms_ = terms
        encoder.vectorizer_ = None
        if not terms:
            return encoder
        vectorizer = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, dtype=np.float32)
        vectorizer.vocabulary_ = {term: i for i, term in enumerate(terms)}
        vectorizer.idf_ = np.asarray(state["idf"], dtype=np.float32)
        encoder.vectorizer_ = vectorizer
        return encoder


def course_document(title: str, description: str, tags: Sequence[str]) -> str:
    """A course as text: tags count twice (they are the operator's own keywords)."""
    tag_text = " ".join(tags)
    return f"{title}. {description} {tag_text} {tag_text}"


@dataclass
class TopicSpace:
    """Members, courses (and channels) encoded by one fitted encoder."""

    encoder: TextEncoder

    def fit(self, member_documents: Sequence[str], course_documents: Sequence[str]) -> Self:
        """Fit the encoder on member and course documents together."""
        self.encoder.fit([*member_documents, *course_documents])
        return self

    def encode(self, documents: Sequence[str]) -> Matrix:
        """Encode documents into the shared space."""
        return self.encoder.transform(documents)

    def explain(self, member_vector: Matrix, course_vector: Matrix, top: int = 2) -> list[str]:
        """The terms that contribute most to a member-course similarity (may be empty)."""
        terms = self.encoder.terms()
        if terms is None:
            return []
        product = _row(member_vector) * _row(course_vector)
        if not np.any(product > 0):
            return []
        best = np.argsort(-product)[:top]
        return [terms[i] for i in best if product[i] > 0]


def _row(vector: Matrix) -> npt.NDArray[np.float32]:
    if isinstance(vector, np.ndarray):
        return np.asarray(vector, dtype=np.float32).ravel()
    return np.asarray(vector.toarray(), dtype=np.float32).ravel()


def documents_by_member(texts: Sequence[str], authors: npt.NDArray[np.int32], n: int) -> list[str]:
    """Concatenate each member's messages into one document per member."""
    parts: list[list[str]] = [[] for _ in range(n)]
    for text, author in zip(texts, authors, strict=True):
        if text:
            parts[author].append(text)
    return ["\n".join(p) for p in parts]
