# The QwenCLIP model with its image tower and image projection initialised
# from OpenAI's CLIP ViT-B/16, converted with mmpretrain's
# tools/model_converters/openai-clip_to_mmpretrain-clip.py (see README).
# Training configs inherit this; evaluation-only ones load a whole
# checkpoint and use the plain model base.
_base_ = './qwenclip_qwen3-emb-0.6b_vit-b16.py'

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
)
