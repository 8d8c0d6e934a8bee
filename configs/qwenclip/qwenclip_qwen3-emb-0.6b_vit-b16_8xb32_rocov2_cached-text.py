# Frozen text side (frozen LLM and soft prompt, as the published script
# effectively trains): each caption's LLM embedding is computed once, kept in
# work_dir/text_feature_cache.pth and reused in every epoch and in
# evaluation; only the text projection and the image tower train.
_base_ = './qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2_length-grouped.py'

model = dict(
    # No gradient reaches the LLM, so checkpointing would only cost time.
    text_encoder=dict(gradient_checkpointing=False),
    prompt_learner=dict(freeze=True),
    text_cache=dict(),
)
default_hooks = dict(text_feature_cache=dict(type='TextFeatureCacheHook'))
