# QwenCLIP: CLIP ViT-B/16 image tower + Qwen3-Embedding-0.6B text tower with
# a learnable hybrid prompt, frozen LLM, MLP text projection to 512-d.
model = dict(
    type='QwenCLIP',
    data_preprocessor=dict(
        type='MultiModalDataPreprocessor',
        # OpenAI CLIP normalisation; images are loaded BGR, hence to_rgb.
        mean=[122.770938, 116.7460125, 104.09373615],
        std=[68.5005327, 66.6321579, 70.32316305],
        to_rgb=True,
    ),
    vision_backbone=dict(
        type='VisionTransformer',
        arch='base',
        img_size=224,
        patch_size=16,
        drop_rate=0.,
        pre_norm=True,
        final_norm=True,
        layer_cfgs=dict(act_cfg=dict(type='QuickGELU')),
        out_type='cls_token',
    ),
    image_projection=dict(
        type='ImageProjection', in_channels=768, out_channels=512),
    text_encoder=dict(
        type='Qwen3TextEncoder',
        pretrained='Qwen/Qwen3-Embedding-0.6B',
        dtype='bfloat16',
        attn_implementation='sdpa',
        max_length=512,
        train_mode='frozen',
        gradient_checkpointing=True,
    ),
    prompt_learner=dict(
        type='HybridPromptLearner',
        instruction='Instruct: ',
        query_prefix='\nQuery:',
        init_phrase='Create a dense embedding that captures the medical '
        'findings for image retrieval',
        eos_token='<|endoftext|>',
        freeze=False,
    ),
    text_projection=dict(type='TextProjection', out_channels=512, mode='mlp'),
    head=dict(
        type='CLIPContrastiveHead',
        logit_scale_init=1 / 0.07,
        max_logit_scale=100.,
        gather_with_grad=True,
        local_loss=False,
    ),
)
