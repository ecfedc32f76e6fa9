"""Next course from the order of enrolments: a small causal self-attention model (SASRec-style).

Each member's enrolments, ordered by their timestamps (`Dataset.events`, as the
next-item model reads them), are cut into windows of at most `length` + 1 courses,
from the latest back. The model reads a window's courses (course embedding plus
position embedding), one pre-norm transformer block lets each position attend to
the ones before it, and at every position the output, compared with every course's
embedding (tied weights), is trained with a softmax over the whole catalog to
predict the course that came next. A member's scores are the output at their latest
course.

TensorFlow/Keras is imported only inside `fit`, and only when there are at least
`min_transitions` (course → next course) pairs to learn from; below that the model
learns nothing (every known member scores 0, so a blend gives it no weight) and
training stays fast. After training, the weights are copied into numpy, and the
same forward pass runs in numpy (`encode`): scoring, `adopt`, saving and erasure
need no TensorFlow, and a test checks that both passes agree. A blend keeps this
model from its validation fit (it is `expensive`) and `adopt`s the full data, so
the enrolments validation held out are in each member's latest window.

Erasure drops the member's order and state. The shared weights (course and position
embeddings, the block) are learned from everybody, as the Keras hybrid's course
tower is; they are rebuilt without the member at the next training.
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
from recsys.rankers.sequence import steps_back, timeline

log = logging.getLogger(__name__)

EPSILON = 1e-6  # layer normalisation
MASKED = -1e9  # attention logit of a position a query may not see
WEIGHT_NAMES = (
    "course",
    "position",
    "norm1_gamma",
    "norm1_beta",
    "query_kernel",
    "query_bias",
    "key_kernel",
    "key_bias",
    "value_kernel",
    "value_bias",
    "output_kernel",
    "output_bias",
    "norm2_gamma",
    "norm2_beta",
    "hidden_kernel",
    "hidden_bias",
    "back_kernel",
    "back_bias",
    "final_gamma",
    "final_beta",
)


def training_windows(
    order: sp.csr_matrix, length: int
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.int32]]:
    """(inputs, next courses), each `length` wide, courses as index + 1, left-padded with 0.

    `order` is `timeline`'s (positions of each member's courses). A member's courses
    are cut from the latest back into windows of `length` + 1 courses that overlap by
    one, so every course after the first is a target exactly once. Window k of a member
    holds the courses k·length to k·length + length steps before the latest.
    """
    rows, back = steps_back(order)
    back = back.astype(np.int64)
    courses = order.indices.astype(np.int32) + 1
    count = np.diff(order.indptr)
    windows = np.where(count >= 2, (count - 2) // length + 1, 0)
    first = np.concatenate([[0], np.cumsum(windows)[:-1]]).astype(np.int64)
    inputs = np.zeros((int(windows.sum()), length), np.int32)
    targets = np.zeros_like(inputs)
    # As a target: window back // length, only when a course came before it.
    target = back <= count[rows] - 2
    window = first[rows[target]] + back[target] // length
    targets[window, length - 1 - back[target] % length] = courses[target]
    # As an input (every course but the latest): the window whose next course follows it.
    source = back >= 1
    window = first[rows[source]] + (back[source] - 1) // length
    inputs[window, length - 1 - (back[source] - 1) % length] = courses[source]
    return inputs, targets


def latest_windows(order: sp.csr_matrix, length: int) -> npt.NDArray[np.int32]:
    """Each member's latest `length` courses (index + 1), left-padded with 0."""
    rows, back = steps_back(order)
    recent = back < length
    out = np.zeros((order.shape[0], length), np.int32)
    slot = (length - 1 - back[recent]).astype(np.int64)
    out[rows[recent], slot] = order.indices[recent] + 1
    return out


def _layer_norm(x: FloatArray, gamma: FloatArray, beta: FloatArray) -> FloatArray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = x.var(axis=-1, keepdims=True)
    return np.asarray((x - mean) / np.sqrt(variance + EPSILON) * gamma + beta, np.float32)


def encode(
    weights: dict[str, FloatArray], windows: npt.NDArray[np.int32], batch: int = 4096
) -> FloatArray:
    """The model's output at the last position of each window, in numpy (no TensorFlow).

    Mirrors the Keras model's `call` (`_build`) in inference mode (no dropout).
    """
    w = weights
    dim = w["course"].shape[1]
    length = windows.shape[1]
    allowed = np.tril(np.ones((length, length), bool))
    out = np.zeros((len(windows), dim), np.float32)
    for start in range(0, len(windows), batch):
        ids = windows[start : start + batch]
        valid = ids > 0
        h = w["course"][ids] * np.float32(np.sqrt(dim)) + w["position"][None]
        h *= valid[..., None]
        x = _layer_norm(h, w["norm1_gamma"], w["norm1_beta"])
        query = x @ w["query_kernel"] + w["query_bias"]
        key = x @ w["key_kernel"] + w["key_bias"]
        value = x @ w["value_kernel"] + w["value_bias"]
        logits = query @ key.transpose(0, 2, 1) / np.float32(np.sqrt(dim))
        visible = allowed[None] & valid[:, None, :]
        logits = np.where(visible, logits, np.float32(MASKED))
        logits -= logits.max(axis=-1, keepdims=True)
        attention = np.exp(logits)
        attention /= attention.sum(axis=-1, keepdims=True)
        h = h + (attention @ value) @ w["output_kernel"] + w["output_bias"]
        x = _layer_norm(h, w["norm2_gamma"], w["norm2_beta"])
        hidden = np.maximum(x @ w["hidden_kernel"] + w["hidden_bias"], 0)
        h = h + hidden @ w["back_kernel"] + w["back_bias"]
        h *= valid[..., None]
        last = _layer_norm(h[:, -1], w["final_gamma"], w["final_beta"])
        out[start : start + len(ids)] = last
    return out


def _build(keras: Any, n_courses: int, dim: int, length: int, dropout: float) -> Any:
    """The Keras model: `call(windows)` gives every position's output vector."""
    ops = keras.ops

    class SelfAttention(keras.Model):  # type: ignore[misc]
        """Course + position embeddings, one pre-norm causal self-attention block."""

        def __init__(self) -> None:
            super().__init__()
            self.course = keras.layers.Embedding(n_courses + 1, dim)
            self.position = self.add_weight(
                shape=(length, dim), initializer="random_normal", name="position"
            )
            self.norm1 = keras.layers.LayerNormalization(epsilon=EPSILON)
            self.query = keras.layers.Dense(dim)
            self.key = keras.layers.Dense(dim)
            self.value = keras.layers.Dense(dim)
            self.output_dense = keras.layers.Dense(dim)
            self.norm2 = keras.layers.LayerNormalization(epsilon=EPSILON)
            self.hidden = keras.layers.Dense(dim, activation="relu")
            self.back = keras.layers.Dense(dim)
            self.final = keras.layers.LayerNormalization(epsilon=EPSILON)
            self.drop = keras.layers.Dropout(dropout)

        def call(self, ids: Any, training: bool = False) -> Any:
            valid = ops.cast(ids > 0, "float32")[..., None]
            h = self.course(ids) * np.float32(np.sqrt(dim)) + self.position[None]
            h = self.drop(h, training=training) * valid
            x = self.norm1(h)
            logits = ops.matmul(self.query(x), ops.transpose(self.key(x), (0, 2, 1)))
            logits = logits / np.float32(np.sqrt(dim))
            allowed = np.tril(np.ones((length, length), bool))[None]
            visible = ops.logical_and(allowed, (ids > 0)[:, None, :])
            logits = ops.where(visible, logits, MASKED)
            attention = self.drop(ops.softmax(logits, axis=-1), training=training)
            h = h + self.drop(
                self.output_dense(ops.matmul(attention, self.value(x))), training=training
            )
            x = self.norm2(h)
            hidden = self.drop(self.hidden(x), training=training)
            h = h + self.drop(self.back(hidden), training=training)
            return self.final(h * valid)

        def logits(self, vectors: Any) -> Any:
            return ops.matmul(vectors, ops.transpose(self.course.embeddings[1:]))

    model = SelfAttention()
    model(np.zeros((1, length), np.int32))
    return model


def _export(model: Any) -> dict[str, FloatArray]:
    """The learned weights as numpy arrays, under `WEIGHT_NAMES`."""

    def arrays(layer: Any) -> list[FloatArray]:
        return [np.asarray(v.numpy(), np.float32) for v in layer.weights]

    out: dict[str, FloatArray] = {
        "course": np.asarray(model.course.embeddings.numpy(), np.float32),
        "position": np.asarray(model.position.numpy(), np.float32),
    }
    for prefix, layer in (("norm1", model.norm1), ("norm2", model.norm2), ("final", model.final)):
        out[f"{prefix}_gamma"], out[f"{prefix}_beta"] = arrays(layer)
    for prefix, layer in (
        ("query", model.query),
        ("key", model.key),
        ("value", model.value),
        ("output", model.output_dense),
        ("hidden", model.hidden),
        ("back", model.back),
    ):
        out[f"{prefix}_kernel"], out[f"{prefix}_bias"] = arrays(layer)
    return out


class AttentionRanker(Ranker):
    """Which course a member takes next, read by self-attention from their latest ones."""

    name = "attention"
    expensive = True

    def __init__(
        self,
        dim: int = 64,
        length: int = 20,
        dropout: float = 0.2,
        epochs: float = 1.0,
        batch_size: int = 512,
        learning_rate: float = 3e-3,
        min_transitions: int = 20_000,
        seed: int = 0,
        threads: int = 2,
    ) -> None:
        self.dim = dim
        self.length = length
        self.dropout = dropout
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.min_transitions = min_transitions
        self.seed = seed
        self.threads = threads

    def _fit(self, data: Dataset) -> None:
        if self.length < 2 or self.dim < 1 or self.epochs <= 0:
            raise ValueError("length must be at least 2, dim and epochs positive")
        self.order_ = timeline(data, self.owned_)
        inputs, targets = training_windows(self.order_, self.length)
        self.transitions_ = int((targets > 0).sum())
        if self.transitions_ < max(1, self.min_transitions):
            if self.transitions_:
                log.info(
                    "attention model: %d transitions, fewer than %d: not trained",
                    self.transitions_,
                    self.min_transitions,
                )
            self.weights_: dict[str, FloatArray] = {}
            self.states_ = np.zeros((len(self.members_), 0), np.float32)
            return
        started = time.perf_counter()
        self.weights_ = self._train(inputs, targets)
        self.states_ = encode(self.weights_, latest_windows(self.order_, self.length))
        self.fit_seconds_ = time.perf_counter() - started
        log.info(
            "attention model: %d transitions, trained in %.1fs",
            self.transitions_,
            self.fit_seconds_,
        )

    def _train(
        self, inputs: npt.NDArray[np.int32], targets: npt.NDArray[np.int32]
    ) -> dict[str, FloatArray]:
        tf, keras = import_tensorflow(self.threads)
        keras.utils.set_random_seed(self.seed)
        model = _build(keras, len(self.courses_), self.dim, self.length, self.dropout)
        optimizer = keras.optimizers.Adam(self.learning_rate)
        variables = model.trainable_variables

        def train_step(ids: Any, nexts: Any) -> Any:
            with tf.GradientTape() as tape:
                vectors = model(ids, training=True)
                valid = nexts > 0
                logits = model.logits(tf.boolean_mask(vectors, valid))
                losses = tf.nn.sparse_softmax_cross_entropy_with_logits(
                    tf.boolean_mask(nexts, valid) - 1, logits
                )
                loss = tf.reduce_mean(losses)
            gradients = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(gradients, variables, strict=True))
            return loss

        step = tf.function(train_step, reduce_retracing=True)
        rng = np.random.default_rng(self.seed)
        batch_size = max(16, min(self.batch_size, len(inputs)))
        steps = max(1, int(np.ceil(self.epochs * len(inputs) / batch_size)))
        passes = int(np.ceil(steps * batch_size / len(inputs)))
        order = np.concatenate([rng.permutation(len(inputs)) for _ in range(passes)])
        for index in range(steps):
            batch = order[index * batch_size : (index + 1) * batch_size]
            loss = step(tf.constant(inputs[batch]), tf.constant(targets[batch]))
            if index % 100 == 0:
                log.debug("attention model step %d/%d: loss %.4f", index, steps, float(loss))
        return _export(model)

    def _adopt(self, data: Dataset) -> None:
        self.order_ = timeline(data, self.owned_)
        if self.weights_:
            self.states_ = encode(self.weights_, latest_windows(self.order_, self.length))

    def _score(self, rows: IntArray) -> FloatArray:
        if not self.weights_:
            return np.zeros((len(rows), len(self.courses_)), np.float32)
        return np.asarray(self.states_[rows] @ self.weights_["course"][1:].T, np.float32)

    def _forget_rows(self, keep: IntArray) -> None:
        self.order_ = self.order_[keep]
        self.states_ = self.states_[keep]

    def _state(self) -> dict[str, npt.NDArray[Any]]:
        order = self.order_.tocsr()
        return {
            **{f"w_{name}": array for name, array in self.weights_.items()},
            "states": self.states_,
            "order_data": order.data,
            "order_indices": order.indices,
            "order_indptr": order.indptr,
        }

    def _restore(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.weights_ = {
            name: arrays[f"w_{name}"] for name in WEIGHT_NAMES if f"w_{name}" in arrays
        }
        self.states_ = arrays["states"]
        self.order_ = sp.csr_matrix(
            (arrays["order_data"], arrays["order_indices"], arrays["order_indptr"]),
            shape=(len(self.members_), len(self.courses_)),
        )
        self.transitions_ = -1
