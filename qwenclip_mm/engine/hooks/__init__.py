from .atomic_checkpoint_hook import AtomicCheckpointHook
from .epoch_seed_hook import (EpochSeedHook, epoch_seed,
                              epoch_worker_init_fn)
from .logit_scale_clamp_hook import LogitScaleClampHook
from .mean_recall_hook import RetrievalMeanRecallHook, mean_retrieval_recall
from .nonfinite_guard_hook import NonFiniteGuardHook
from .sorted_text_eval_hook import SortedTextEvalHook
from .text_feature_cache_hook import TextFeatureCacheHook

__all__ = [
    'AtomicCheckpointHook', 'EpochSeedHook', 'epoch_seed',
    'epoch_worker_init_fn', 'LogitScaleClampHook', 'NonFiniteGuardHook',
    'RetrievalMeanRecallHook', 'mean_retrieval_recall', 'SortedTextEvalHook',
    'TextFeatureCacheHook'
]
