# Qwen3-Embedding-8B text tower (hidden 4096; the MLP projection widens its
# hidden layer to 2048 by itself); everything else as 0.6B.
_base_ = './qwenclip_qwen3-emb-0.6b_vit-b16_8xb32_rocov2.py'

model = dict(text_encoder=dict(pretrained='Qwen/Qwen3-Embedding-8B'))
