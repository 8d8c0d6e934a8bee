# mmpretrain's own components register first; ours must not shadow them.
import mmpretrain.models  # noqa: F401

from .contrastive_head import (CLIPContrastiveHead, gather_features,
                               multi_positive_cross_entropy)
from .hf_text_encoder import HFTextEncoder, mean_pool
from .projection import ImageProjection, TextProjection
from .prompt_learner import DEFAULT_INIT_PHRASE, HybridPromptLearner
from .qwenclip import QwenCLIP
from .retrieval_prediction import RetrievalDataSample, retrieval_predictions
from .text_encoder import Qwen3TextEncoder, last_token_pool
from .vit_checkpoint import CheckpointVisionTransformer

__all__ = [
    'CLIPContrastiveHead', 'gather_features', 'multi_positive_cross_entropy',
    'HFTextEncoder', 'mean_pool', 'ImageProjection', 'TextProjection',
    'DEFAULT_INIT_PHRASE', 'HybridPromptLearner', 'QwenCLIP',
    'RetrievalDataSample', 'retrieval_predictions',
    'Qwen3TextEncoder', 'last_token_pool', 'CheckpointVisionTransformer'
]
