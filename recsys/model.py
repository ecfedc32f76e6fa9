"""Cohort's ranker as `cohort train` builds it; the MOOCCubeX benchmark uses the same.

The blend of item-item (DLAE) co-choice, the next-item model, chat engagement, content
similarity and popularity, plus the Keras models when asked for (the self-attention
sequence model, the two-tower hybrid), with weights tuned on a validation split at
every training.
"""

from __future__ import annotations

from dataclasses import dataclass

from recsys.rankers.attention import AttentionRanker
from recsys.rankers.blend import BlendRanker
from recsys.rankers.chat import ChatRanker
from recsys.rankers.content import ContentRanker
from recsys.rankers.hybrid import HybridRanker
from recsys.rankers.itemitem import ItemItemRanker
from recsys.rankers.popularity import PopularityRanker
from recsys.rankers.sequence import NextItemRanker


@dataclass(frozen=True)
class RankingConfig:
    """The knobs of Cohort's ranker (defaults chosen on validation data, see docs)."""

    item_dropout: float = 0.25  # used when there is too little data to tune on
    item_l2: float = 50.0
    item_tune: bool = True
    item_decay: float = 1.0  # recency weight per enrolment back; tuned when there are times
    sequence_decay: float = 0.6  # next-item model: used when there is too little data to tune on
    sequence_l2: float = 0.1
    sequence_tune: bool = True
    attention: bool = False  # the Keras self-attention sequence model: off unless asked
    attention_epochs: float = 1.0
    hybrid: bool = False  # the Keras two-tower model: off unless asked (see docs)
    hybrid_dim: int = 48
    hybrid_epochs: int = 1
    hybrid_batch: int = 2048
    hybrid_learning_rate: float = 5e-3
    hybrid_min_steps: int = 300
    validation_members: int = 8000
    seed: int = 0
    threads: int = 2


def default_ranker(config: RankingConfig | None = None) -> BlendRanker:
    """The blend `cohort train` fits (unfitted)."""
    config = config or RankingConfig()
    hybrid = (
        [
            HybridRanker(
                dim=config.hybrid_dim,
                epochs=config.hybrid_epochs,
                batch_size=config.hybrid_batch,
                learning_rate=config.hybrid_learning_rate,
                min_steps=config.hybrid_min_steps,
                seed=config.seed,
                threads=config.threads,
            )
        ]
        if config.hybrid
        else []
    )
    attention = (
        [AttentionRanker(epochs=config.attention_epochs, seed=config.seed, threads=config.threads)]
        if config.attention
        else []
    )
    return BlendRanker(
        components=[
            ItemItemRanker(
                dropout=config.item_dropout,
                l2=config.item_l2,
                tune=config.item_tune,
                seed=config.seed,
                decay=config.item_decay,
            ),
            NextItemRanker(
                decay=config.sequence_decay,
                l2=config.sequence_l2,
                tune=config.sequence_tune,
                seed=config.seed,
            ),
            *attention,
            ChatRanker(seed=config.seed),
            *hybrid,
            ContentRanker(),
            PopularityRanker(),
        ],
        validation_members=config.validation_members,
        seed=config.seed,
    )
