"""Importing TensorFlow and Keras without their start-up log lines.

TensorFlow 2.21 logs through Abseil, which writes to the process's stderr (file
descriptor 2) before anything can configure it: `TF_CPP_MIN_LOG_LEVEL` no longer
silences lines such as "All log messages before absl::InitializeLog() is called are
written to STDERR" or "oneDNN custom operations are on". So the import runs with
descriptor 2 pointed at a temporary file; afterwards Abseil's informational and
warning lines are dropped and anything else (errors, Python warnings) is written
back to stderr. Python-side loggers (`tensorflow`, `absl`) are turned down to errors.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger(__name__)

# Abseil's line prefix: severity I/W, MMDD, time, thread id, file:line] (E/F are kept).
_ABSL_NOISE = re.compile(r"^[IW]\d{4} [\d:.]+\s+\d+ \S+:\d+\] ")
_NOISE_LINES = (
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "To enable the following instructions:",  # the tail of cpu_feature_guard's line
)


def is_noise(line: str) -> bool:
    """Whether a stderr line is TensorFlow's start-up chatter (never an error)."""
    return bool(_ABSL_NOISE.match(line)) or line.startswith(_NOISE_LINES)


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Capture what native code writes to descriptor 2; write back all but the noise."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            text = captured.read().decode("utf-8", errors="replace")
            kept = [line for line in text.splitlines(keepends=True) if not is_noise(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


def import_tensorflow(threads: int) -> tuple[Any, Any]:
    """`(tensorflow, keras)`, imported quietly, using at most `threads` threads per op pool."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_stderr_filtered():
        import keras
        import tensorflow as tf
    tf.get_logger().setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow was initialised already in this process
        log.debug("TensorFlow thread pools were set up already")
    return tf, keras
