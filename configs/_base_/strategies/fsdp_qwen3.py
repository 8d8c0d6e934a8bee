# FSDP (ZeRO-3 style sharding) through MMEngine's FlexibleRunner, for the
# 4B / 8B Qwen3 text towers. Each LLM decoder layer, the token embedding and
# the LLM's remaining weights become FSDP units: their weights are split
# across the GPUs and gathered only while they run. The image tower,
# projections, soft prompt and logit scale form the root unit.
# ``qwenclip_mm.engine.fsdp`` registers ``wrap_by_class_name``.
runner_type = 'FlexibleRunner'
strategy = dict(
    type='FSDPStrategy',
    model_wrapper=dict(
        type='MMFullyShardedDataParallel',
        auto_wrap_policy=dict(
            type='wrap_by_class_name',
            class_names=['Qwen3DecoderLayer', 'Qwen3Model', 'Embedding']),
        sharding_strategy='FULL_SHARD',
        # Frozen LLM weights and trainable ones (LoRA, soft prompt) may share
        # an FSDP unit only with the original parameters kept.
        use_orig_params=True),
    # Rank 0 writes one ordinary checkpoint (gathered on the CPU), which
    # tools/test.py and load_from read without FSDP.
    state_dict_cfg='full',
)
