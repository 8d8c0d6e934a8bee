# Qwen3-Embedding-4B text tower sharded by FSDP; everything else as the 8B
# FSDP config.
_base_ = './qwenclip_qwen3-emb-8b_vit-b16_8xb32_rocov2_fsdp.py'

model = dict(text_encoder=dict(pretrained='Qwen/Qwen3-Embedding-4B'))
