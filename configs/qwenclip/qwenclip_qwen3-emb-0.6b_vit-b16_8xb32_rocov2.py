# The paper's setting: Qwen3-Embedding-0.6B frozen, learnable hybrid prompt,
# MLP projection, CLIP ViT-B/16 from OpenAI weights, AdamW warm-up + cosine,
# bf16 AMP, gradient checkpointing, 8 GPUs x 32 pairs.
_base_ = [
    '../_base_/models/qwenclip_qwen3-emb-0.6b_vit-b16_openai-clip.py',
    '../_base_/datasets/rocov2_retrieval.py',
    '../_base_/schedules/adamw_cosine_10e.py',
    '../_base_/default_runtime.py',
]

train_dataloader = dict(batch_size=32)
