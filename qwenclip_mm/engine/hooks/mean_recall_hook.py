"""Add the mean of image-to-text and text-to-image recalls to the metrics."""
import re
from typing import Dict, Optional

from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS

_RECALL_KEY = re.compile(r'^(i2t|t2i)/.*Recall@\d+$')


def mean_retrieval_recall(metrics: Dict[str, float]) -> Optional[float]:
    """Mean of every ``i2t/...Recall@K`` and ``t2i/...Recall@K`` value.

    Returns:
        float | None: None when ``metrics`` has no such key.
    """
    values = [v for k, v in metrics.items() if _RECALL_KEY.match(k)]
    if not values:
        return None
    return float(sum(values) / len(values))


@HOOKS.register_module()
class RetrievalMeanRecallHook(Hook):
    """Report ``mean_recall`` over both retrieval directions.

    mmpretrain's retrieval loops evaluate image-to-text and text-to-image
    separately, so no single metric sees both. This hook adds their mean
    (the usual "R mean" of retrieval papers) to the metrics before they are
    logged and before ``CheckpointHook`` picks the best checkpoint, so
    ``save_best='mean_recall'`` works.

    Args:
        key (str): Name of the added metric. Defaults to ``'mean_recall'``.
    """

    # Runs before RuntimeInfoHook (VERY_HIGH) copies metrics to the logs.
    priority = 'HIGHEST'

    def __init__(self, key: str = 'mean_recall'):
        self.key = key

    def _add_mean(self, metrics: Optional[Dict[str, float]]) -> None:
        if metrics is None:
            return
        mean = mean_retrieval_recall(metrics)
        if mean is not None:
            metrics[self.key] = mean

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._add_mean(metrics)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._add_mean(metrics)
