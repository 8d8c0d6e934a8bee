from .metrics import (ImageTextRetrievalMetric, ImageToImageRetrievalMetric,
                      ZeroShotClassificationMetric, best_positive_ranks,
                      image_retrieval_metrics, rank_metrics, retrieval_recall,
                      zero_shot_accuracy)
from .subsets import subset_indices

__all__ = [
    'ImageTextRetrievalMetric', 'best_positive_ranks', 'rank_metrics',
    'retrieval_recall', 'ImageToImageRetrievalMetric',
    'image_retrieval_metrics', 'ZeroShotClassificationMetric',
    'zero_shot_accuracy', 'subset_indices'
]
