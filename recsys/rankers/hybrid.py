"""The learned ranker: a two-tower TensorFlow/Keras model over ids, history and features.

Member tower: the member's id embedding, the mean embedding of the courses they
chose, and their profile features (activity and topic components), through a dense
layer. Course tower: the course's id embedding plus a projection of its text
features. Score: the dot product plus a per-course bias. It is trained on positive
interactions (purchases, enrolments, clicks, "interested" presses, weighted) with a
softmax over the whole catalog when it is small enough, else over sampled
negatives with a log-q correction.

Cold start: members with no interactions use a shared out-of-vocabulary id (trained
by randomly hiding ids during training), so their history and profile features
carry them; courses nobody chose yet are carried by their text features.

TensorFlow is imported only inside `fit`. The fitted weights are copied out of the
Keras model into numpy arrays, so scoring, saving (`np.savez`) and erasing a
member's embedding row need no TensorFlow at all.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from recsys.data import Dataset, FloatArray, IntArray
from recsys.quiet_tensorflow import import_tensorflow
from recsys.rankers.base import Ranker

log = logging.getLogger(__name__)


def _standardize(values: FloatArray | None, n: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    if values is None or values.shape[1] == 0:
        return np.zeros((n, 0), np.float32), np.zeros(0, np.float32), np.ones(0, np.float32)
    values = np.asarray(values, dtype=np.float32)
    mean = values.mean(axis=0)
    std = values.std(axis=0)
    std[std == 0] = 1.0
    return (
        ((values - mean) / std).astype(np.float32),
        mean.astype(np.float32),
        std.astype(np.float32),
    )


def _histories(
    owned: sp.csr_matrix, length: int, rng: np.random.Generator
) -> npt.NDArray[np.int32]:
    """Each member's chosen courses as course index + 1, padded with 0 (sampled if longer)."""
    histories = np.zeros((owned.shape[0], length), dtype=np.int32)
    indptr, indices = owned.indptr, owned.indices
    counts = np.diff(indptr)
    short = np.flatnonzero((counts > 0) & (counts <= length))
    for member in short:
        chosen = indices[indptr[member] : indptr[member + 1]]
        histories[member, : len(chosen)] = chosen + 1
    for member in np.flatnonzero(counts > length):
        chosen = indices[indptr[member] : indptr[member + 1]]
        histories[member] = rng.choice(chosen, length, replace=False) + 1
    return histories


class HybridRanker(Ranker):
    """Two-tower Keras model: member (id + history + profile) · course (id + text)."""

    name = "hybrid"
    expensive = True

    def __init__(
        self,
        dim: int = 48,
        history: int = 24,
        epochs: int = 1,
        batch_size: int = 2048,
        learning_rate: float = 5e-3,
        id_dropout: float = 0.1,
        l2: float = 1e-6,
        negatives: str = "auto",
        sampled: int = 512,
        full_softmax_max: int = 20_000,
        min_steps: int = 300,
        max_epochs: int = 200,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.dim = dim
        self.history = history
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.id_dropout = id_dropout
        self.l2 = l2
        self.negatives = negatives
        self.sampled = sampled
        self.full_softmax_max = full_softmax_max
        self.min_steps = min_steps
        self.max_epochs = max_epochs
        self.seed = seed
        self.threads = threads

    # -- training ----------------------------------------------------------------------

    def _fit(self, data: Dataset) -> None:
        if self.negatives not in ("auto", "full", "sampled"):
            raise ValueError("negatives must be auto, full or sampled")
        started = time.perf_counter()
        tf, keras = import_tensorflow(self.threads)
        keras.utils.set_random_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        n_members, n_courses = data.n_members, data.n_courses
        member_features, self.feature_mean_, self.feature_std_ = _standardize(
            data.member_features, n_members
        )
        course_features, self.course_feature_mean_, self.course_feature_std_ = _standardize(
            data.course_features, n_courses
        )
        self.member_features_ = member_features
        full = self.negatives == "full" or (
            self.negatives == "auto" and n_courses <= self.full_softmax_max
        )
        model = self._build(
            keras, member_features.shape[1], course_features.shape[1], n_members, n_courses
        )
        histories = _histories(self.owned_, self.history, rng)
        coo = data.interactions.tocoo()
        positive = coo.data > 0
        rows = coo.row[positive].astype(np.int32)
        cols = coo.col[positive].astype(np.int32)
        weights = coo.data[positive].astype(np.float32)
        weights /= weights.mean() if len(weights) else 1.0
        course_feature_tensor = tf.constant(course_features)
        optimizer = keras.optimizers.Adam(self.learning_rate)
        variables = model.trainable_variables
        popularity = np.asarray(self.owned_.sum(axis=0)).ravel() + 1.0
        proposal = popularity**0.75 / (popularity**0.75).sum()
        log_q = np.log(proposal).astype(np.float32)

        def train_step(
            member: Any,
            course: Any,
            history: Any,
            features: Any,
            weight: Any,
            candidates: Any,
            candidate_log_q: Any,
        ) -> Any:
            history = tf.where(history == tf.expand_dims(course + 1, 1), 0, history)
            keep = tf.random.uniform(tf.shape(member)) >= self.id_dropout
            member = tf.where(keep, member + 1, 0)  # 0: the out-of-vocabulary member
            with tf.GradientTape() as tape:
                vectors = model.member_vectors(member, history, features)
                if full:
                    logits = model.course_logits(vectors, course_feature_tensor)
                    target = course
                else:
                    pool = tf.concat(
                        [
                            tf.expand_dims(course, 1),
                            tf.tile(tf.expand_dims(candidates, 0), [tf.shape(course)[0], 1]),
                        ],
                        1,
                    )
                    logits = model.pool_logits(vectors, pool, course_feature_tensor)
                    logits -= tf.concat(
                        [
                            tf.zeros_like(logits[:, :1]),
                            tf.tile(tf.expand_dims(candidate_log_q, 0), [tf.shape(course)[0], 1]),
                        ],
                        1,
                    )
                    hit = tf.concat(
                        [
                            tf.zeros_like(logits[:, :1], dtype=tf.bool),
                            tf.equal(pool[:, 1:], tf.expand_dims(course, 1)),
                        ],
                        1,
                    )
                    logits = tf.where(hit, -1e9, logits)
                    target = tf.zeros_like(course)
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(target, logits)
                loss = tf.reduce_sum(losses * weight) / tf.reduce_sum(weight)
                loss += (
                    self.l2
                    * tf.reduce_sum(tf.square(vectors))
                    / tf.cast(tf.shape(vectors)[0], tf.float32)
                )
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return loss

        step = tf.function(train_step, reduce_retracing=True)

        # Small datasets: smaller batches and more epochs, so the model still takes
        # `min_steps` gradient steps; large ones: `epochs` passes of `batch_size`.
        batch_size = max(16, min(self.batch_size, len(rows) // 8 or 16))
        batches = max(1, -(-len(rows) // batch_size))
        epochs = min(self.max_epochs, max(self.epochs, -(-self.min_steps // batches)))
        steps = 0
        for epoch in range(epochs):
            order = rng.permutation(len(rows))
            total = 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start : start + batch_size]
                member = rows[batch]
                candidates = (
                    rng.choice(n_courses, size=min(self.sampled, n_courses), p=proposal)
                    if not full
                    else np.zeros(1, np.int64)
                ).astype(np.int32)
                loss = step(
                    tf.constant(member),
                    tf.constant(cols[batch]),
                    tf.constant(histories[member]),
                    tf.constant(member_features[member]),
                    tf.constant(weights[batch]),
                    tf.constant(candidates),
                    tf.constant(log_q[candidates]),
                )
                total += float(loss)
                steps += 1
            log.debug("hybrid epoch %d/%d: loss %.4f", epoch + 1, epochs, total / batches)
        self._export(model, course_features)
        self.fit_seconds_ = time.perf_counter() - started
        log.info(
            "hybrid fitted in %.1fs (%d steps, %s softmax)",
            self.fit_seconds_,
            steps,
            "full" if full else "sampled",
        )

    def _build(
        self,
        keras: Any,
        n_member_features: int,
        n_course_features: int,
        n_members: int,
        n_courses: int,
    ) -> Any:
        dim = self.dim
        ops = keras.ops

        class TwoTower(keras.Model):  # type: ignore[misc]
            """The two towers; `member_vectors` and `course_logits` are used in training."""

            def __init__(self) -> None:
                super().__init__()
                self.member_embedding = keras.layers.Embedding(n_members + 1, dim)
                self.course_embedding = keras.layers.Embedding(n_courses + 1, dim)
                self.member_dense = keras.layers.Dense(dim)
                self.course_feature_dense = (
                    keras.layers.Dense(dim, use_bias=False) if n_course_features else None
                )
                self.course_bias = self.add_weight(
                    shape=(n_courses,), initializer="zeros", name="course_bias"
                )

            def member_vectors(self, member: Any, history: Any, features: Any) -> Any:
                embedded = self.course_embedding(history)
                mask = ops.expand_dims(ops.cast(history > 0, "float32"), -1)
                mean = ops.sum(embedded * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
                parts = [self.member_embedding(member), mean]
                if n_member_features:
                    parts.append(features)
                return self.member_dense(ops.concatenate(parts, axis=1))

            def course_vectors(self, course_features: Any) -> Any:
                vectors = self.course_embedding(ops.arange(1, n_courses + 1))
                if self.course_feature_dense is not None:
                    vectors = vectors + self.course_feature_dense(course_features)
                return vectors

            def course_logits(self, vectors: Any, course_features: Any) -> Any:
                courses = self.course_vectors(course_features)
                return ops.matmul(vectors, ops.transpose(courses)) + self.course_bias

            def pool_logits(self, vectors: Any, pool: Any, course_features: Any) -> Any:
                courses = ops.take(self.course_vectors(course_features), pool, axis=0)
                bias = ops.take(self.course_bias, pool)
                return ops.sum(ops.expand_dims(vectors, 1) * courses, axis=-1) + bias

            def call(self, inputs: Any) -> Any:
                member, history, features, course_features = inputs
                return self.course_logits(
                    self.member_vectors(member, history, features), course_features
                )

        model = TwoTower()
        # Build every weight once with a dummy batch.
        model(
            (
                np.zeros(1, np.int32),
                np.zeros((1, self.history), np.int32),
                np.zeros((1, n_member_features), np.float32),
                np.zeros((n_courses, n_course_features), np.float32),
            )
        )
        return model

    def _export(self, model: Any, course_features: FloatArray) -> None:
        """Copy the learned weights out of Keras into numpy (scoring needs no TF)."""
        self.member_embedding_ = model.member_embedding.embeddings.numpy()
        self.course_embedding_ = model.course_embedding.embeddings.numpy()
        kernel, bias = (w.numpy() for w in model.member_dense.weights)
        self.member_kernel_ = kernel
        self.member_bias_ = bias
        self.course_bias_ = model.course_bias.numpy()
        if model.course_feature_dense is not None:
            self.course_feature_kernel_ = model.course_feature_dense.kernel.numpy()
            self.course_vectors_ = (
                self.course_embedding_[1:] + course_features @ self.course_feature_kernel_
            ).astype(np.float32)
        else:
            self.course_feature_kernel_ = np.zeros((0, self.dim), np.float32)
            self.course_vectors_ = self.course_embedding_[1:].astype(np.float32)

    # -- scoring -----------------------------------------------------------------------

    def _member_vectors(
        self, ids: IntArray, owned: sp.csr_matrix, features: FloatArray
    ) -> FloatArray:
        counts = np.asarray(owned.sum(axis=1)).ravel()
        scale = np.divide(
            1.0, counts, out=np.zeros_like(counts, dtype=np.float64), where=counts > 0
        )
        history_mean = sp.diags(scale) @ owned @ self.course_embedding_[1:]
        parts = [self.member_embedding_[ids], np.asarray(history_mean, dtype=np.float32)]
        if features.shape[1]:
            parts.append(features)
        return np.asarray(np.hstack(parts) @ self.member_kernel_ + self.member_bias_, np.float32)

    def _score(self, rows: IntArray) -> FloatArray:
        owned = self.owned_[rows]
        has_history = np.diff(owned.indptr) > 0
        ids = np.where(has_history, rows + 1, 0)
        vectors = self._member_vectors(ids, owned, self.member_features_[rows])
        return np.asarray(vectors @ self.course_vectors_.T + self.course_bias_, np.float32)

    def _cold(self) -> FloatArray:
        owned = sp.csr_matrix((1, len(self.courses_)), dtype=np.float32)
        features = np.zeros((1, self.member_features_.shape[1]), np.float32)
        vector = self._member_vectors(np.zeros(1, np.int64), owned, features)
        return np.asarray((vector @ self.course_vectors_.T + self.course_bias_)[0], np.float32)

    # -- erasure and artifacts ---------------------------------------------------------

    def _forget_rows(self, keep: IntArray) -> None:
        self.member_embedding_ = np.concatenate(
            [self.member_embedding_[:1], self.member_embedding_[keep + 1]]
        )
        self.member_features_ = self.member_features_[keep]

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "member_embedding": self.member_embedding_,
            "course_embedding": self.course_embedding_,
            "member_kernel": self.member_kernel_,
            "member_bias": self.member_bias_,
            "course_bias": self.course_bias_,
            "course_feature_kernel": self.course_feature_kernel_,
            "course_vectors": self.course_vectors_,
            "member_features": self.member_features_,
            "feature_mean": self.feature_mean_,
            "feature_std": self.feature_std_,
            "course_feature_mean": self.course_feature_mean_,
            "course_feature_std": self.course_feature_std_,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.member_embedding_ = arrays["member_embedding"]
        self.course_embedding_ = arrays["course_embedding"]
        self.member_kernel_ = arrays["member_kernel"]
        self.member_bias_ = arrays["member_bias"]
        self.course_bias_ = arrays["course_bias"]
        self.course_feature_kernel_ = arrays["course_feature_kernel"]
        self.course_vectors_ = arrays["course_vectors"]
        self.member_features_ = arrays["member_features"]
        self.feature_mean_ = arrays["feature_mean"]
        self.feature_std_ = arrays["feature_std"]
        self.course_feature_mean_ = arrays["course_feature_mean"]
        self.course_feature_std_ = arrays["course_feature_std"]
