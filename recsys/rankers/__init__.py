"""Course rankers: popularity, content, chat, item-item, next-item, attention, hybrid, blend.

Importing this package does not import TensorFlow; the Keras models import it when fitted.
"""

from recsys.rankers.attention import AttentionRanker
from recsys.rankers.base import Ranker, Recommendations, top_k
from recsys.rankers.blend import BlendRanker
from recsys.rankers.chat import ChatRanker
from recsys.rankers.content import ContentRanker
from recsys.rankers.hybrid import HybridRanker
from recsys.rankers.itemitem import ItemItemRanker
from recsys.rankers.popularity import PopularityRanker
from recsys.rankers.sequence import NextItemRanker

__all__ = [
    "AttentionRanker",
    "BlendRanker",
    "ChatRanker",
    "ContentRanker",
    "HybridRanker",
    "ItemItemRanker",
    "NextItemRanker",
    "PopularityRanker",
    "Ranker",
    "Recommendations",
    "top_k",
]
