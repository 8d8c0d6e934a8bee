from .metrics import (ImageTextRetrievalMetric, best_positive_ranks,
                      rank_metrics, retrieval_recall)

__all__ = [
    'ImageTextRetrievalMetric', 'best_positive_ranks', 'rank_metrics',
    'retrieval_recall'
]
