"""Logging is configured once, in the entry point; noisy libraries are turned down."""

from __future__ import annotations

import logging

NOISY = ("discord", "telegram", "httpx", "httpcore", "apscheduler", "aiosqlite", "asyncio")


def configure_logging(level: str = "INFO") -> None:
    """Log to stderr at `level`; third-party libraries only from WARNING up."""
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%Y-%m-%d %H:%M:%S",
        force=True,
    )
    for name in NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    logging.getLogger("alembic").setLevel(logging.WARNING)
