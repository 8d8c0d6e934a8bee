# The 8B config with the LLM sharded by FSDP instead of replicated by DDP:
# for GPUs that cannot hold the whole bf16 LLM (16 GB for 8B) next to the
# activations, or for LoRA / full fine-tuning of the LLM (loaded in fp32
# then: see docs/distributed.md). The image tower recomputes its activations
# in the backward pass too.
_base_ = [
    './qwenclip_qwen3-emb-8b_vit-b16_8xb32_rocov2.py',
    '../_base_/strategies/fsdp_qwen3.py',
]

model = dict(vision_backbone=dict(type='CheckpointVisionTransformer'))

optim_wrapper = dict(
    # AmpOptimWrapper whose clip_grad norm is taken over all ranks' gradient
    # shards (MMEngine's would clip each shard by its own norm under FSDP).
    type='FSDPAmpOptimWrapper',
    # The loss scaler runs even in bf16; under FSDP, skipping a step on an
    # inf gradient must be decided over all shards.
    use_fsdp=True,
    clip_grad=dict(max_norm=1.0))
