"""Useful model FLOPs of a training sample, and LLM positions of batches.

FLOPs count real (unpadded) tokens only, so padding shows up as a lower
utilisation: per LLM token ``2 N`` forward (``N`` its parameters without
the embedding table) and, when gradients reach the prompt, ``2 N``
backward (frozen weights: activation gradients only), plus attention
``4 L^2 d`` per layer and sequence forward; the image tower trains, ``6 N``
per patch token plus attention. Recomputation by checkpointing is not
counted (model FLOPs, not hardware FLOPs).
"""
import numpy as np
import torch

#: Dense bf16 peak of GPUs by name, in TFLOP/s.
PEAK_TFLOPS = {'H200': 989.4, 'H100': 989.4, 'A100': 312.0}


def image_tokens(backbone):
    """Tokens per image of a ViT backbone; 0 for others (not counted)."""
    resolution = getattr(backbone, 'patch_resolution', None)
    if resolution is None:
        return 0
    return int(np.prod(resolution)) + getattr(backbone, 'num_extra_tokens', 0)


def flops_per_sample(model, seq_len, text_passes):
    """Useful model FLOPs of one training sample (see the module doc).

    Args:
        model (QwenCLIP): The model.
        seq_len (int): The sample's real LLM sequence length.
        text_passes (int): 2 when gradients go back through the LLM, 1 for
            a forward only, 0 when its features come from the cache.
    """
    llm = model.text_encoder.model
    cfg = llm.config
    n_llm = sum(p.numel() for p in llm.parameters()) - \
        llm.get_input_embeddings().weight.numel()
    attn_width = cfg.num_attention_heads * cfg.head_dim
    text_fwd = (2 * n_llm * seq_len +
                4 * seq_len**2 * attn_width * cfg.num_hidden_layers)
    text = text_fwd * text_passes
    vit = model.vision_backbone
    tokens = image_tokens(vit)
    n_vit = sum(p.numel() for p in vit.parameters())
    vit_attn = 4 * tokens**2 * getattr(vit, 'embed_dims', 0) * getattr(
        vit, 'num_layers', 0)
    return text + 3 * (2 * n_vit * tokens + vit_attn)


def llm_positions(batches, seq_lens):
    """LLM input positions of batches padded to their longest.

    The same for both layouts: the reference pads the caption part to its
    longest, behind a prompt of the same length in every sequence.
    """
    return sum(len(b) * max(seq_lens[i] for i in b) for b in batches)


def device_peak_tflops():
    """The current CUDA device's dense bf16 peak, or None if unknown."""
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)
