"""Course rankers: popularity, content, item-item (DLAE), next-item, the Keras hybrid, the blend.

Importing this package does not import TensorFlow; the hybrid imports it when fitted.
"""

from recsys.rankers.base import Ranker, Recommendations, top_k
from recsys.rankers.blend import BlendRanker
from recsys.rankers.content import ContentRanker
from recsys.rankers.hybrid import HybridRanker
from recsys.rankers.itemitem import ItemItemRanker
from recsys.rankers.popularity import PopularityRanker
from recsys.rankers.sequence import NextItemRanker

__all__ = [
    "BlendRanker",
    "ContentRanker",
    "HybridRanker",
    "ItemItemRanker",
    "NextItemRanker",
    "PopularityRanker",
    "Ranker",
    "Recommendations",
    "top_k",
]
