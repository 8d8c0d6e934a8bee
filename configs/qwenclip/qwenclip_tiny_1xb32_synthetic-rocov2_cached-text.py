# The offline demo with a frozen text side, length-grouped batches and the
# text feature cache (see ..._rocov2_cached-text.py). The sampler counts
# characters, so the config works wherever the tiny checkpoint is.
_base_ = './qwenclip_tiny_1xb32_synthetic-rocov2.py'

batch_size = 32
model = dict(
    text_encoder=dict(train_mode='frozen'),
    prompt_learner=dict(freeze=True),
    text_cache=dict())
train_dataloader = dict(
    batch_size=batch_size,
    sampler=dict(
        _delete_=True, type='LengthGroupedSampler', batch_size=batch_size))
default_hooks = dict(text_feature_cache=dict(type='TextFeatureCacheHook'))
