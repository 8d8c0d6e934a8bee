"""QwenCLIP's training throughput and memory against a reference
implementation of the method (``tools/analysis_tools/benchmark.py``)."""
from .captions import (NUM_CAPTIONS, TOKENIZER_VOCAB, CaptionList,
                       epoch_plans, make_tokenizer, read_captions,
                       synthetic_captions)
from .flops import (PEAK_TFLOPS, device_peak_tflops, flops_per_sample,
                    image_tokens, llm_positions)
from .measure import PeakMemory, run_eval, run_in_subprocess, run_side
from .reference import left_pad, reference_loss, reference_text_embed
from .text_encoder import QWEN3_SHAPES, BenchmarkQwen3TextEncoder

__all__ = [
    'BenchmarkQwen3TextEncoder', 'CaptionList', 'NUM_CAPTIONS',
    'PEAK_TFLOPS', 'PeakMemory', 'QWEN3_SHAPES', 'TOKENIZER_VOCAB',
    'device_peak_tflops', 'epoch_plans', 'flops_per_sample', 'image_tokens',
    'left_pad', 'llm_positions', 'make_tokenizer', 'read_captions',
    'reference_loss', 'reference_text_embed', 'run_eval',
    'run_in_subprocess', 'run_side', 'synthetic_captions'
]
