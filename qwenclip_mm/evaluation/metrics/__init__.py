from .image_retrieval import (ImageToImageRetrievalMetric,
                              image_retrieval_metrics)
from .retrieval import (ImageTextRetrievalMetric, best_positive_ranks,
                        rank_metrics, retrieval_recall)
from .zero_shot import ZeroShotClassificationMetric, zero_shot_accuracy

__all__ = [
    'ImageTextRetrievalMetric', 'best_positive_ranks', 'rank_metrics',
    'retrieval_recall', 'ImageToImageRetrievalMetric',
    'image_retrieval_metrics', 'ZeroShotClassificationMetric',
    'zero_shot_accuracy'
]
