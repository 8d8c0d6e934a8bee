# The paper's setting: Qwen3-Embedding-0.6B frozen, learnable hybrid prompt,
# MLP projection, CLIP ViT-B/16 from OpenAI weights, AdamW warm-up + cosine,
# bf16 AMP, gradient checkpointing, 8 GPUs x 32 pairs.
_base_ = [
    '../_base_/models/qwenclip_qwen3-emb-0.6b_vit-b16.py',
    '../_base_/datasets/rocov2_retrieval.py',
    '../_base_/schedules/adamw_cosine_10e.py',
    '../_base_/default_runtime.py',
]

# OpenAI CLIP ViT-B/16 converted with mmpretrain's
# tools/model_converters/openai-clip_to_mmpretrain-clip.py (see README).
clip_checkpoint = 'checkpoints/clip-vit-base-p16_openai_mmpretrain.pth'

model = dict(
    vision_backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=clip_checkpoint, prefix='visual.')),
    image_projection=dict(
        init_cfg=dict(
            type='Pretrained',
            checkpoint=clip_checkpoint,
            prefix='visual_proj.')),
    text_encoder=dict(pretrained='Qwen/Qwen3-Embedding-0.6B'),
)

train_dataloader = dict(batch_size=32)
