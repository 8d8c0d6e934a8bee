"""Run the prompt every caption shares through the LLM once per batch.

Every sequence starts with the same instruction, soft vectors and query
prefix tokens. In a causal LLM their keys and values do not depend on what
follows, so they are computed once (a batch of one) and every caption's
tokens attend to them, with RoPE positions continuing after the prefix.
That is exact: each caption token sees the same keys and values at the same
positions as in the unshared sequence. Gradients reach the soft vectors
through the shared keys and values.

Hugging Face's KV cache cannot carry this in training: with gradient
checkpointing transformers drops the cache, and its ``update`` appends again
when a checkpointed layer is recomputed. So the prefix's keys and values
travel as a keyword argument to an attention function registered with
transformers' ``AttentionInterface`` under a name of our own
(``qwenclip_sdpa`` / ``qwenclip_eager``): it records them in the prefix pass
(once; a recomputation finds them there), and in the caption pass puts them
in front of each caption's keys and values, with a mask that lets every
caption token see the whole prefix and, causally, its own real tokens. Without
those keywords it is plain SDPA or eager attention, so the LLM behaves as
before in every other call. Registering new names changes no existing
attention implementation.

The prefix's keys and values are expanded over the batch (a view), then
concatenated with the caption's, as SDPA and eager attention need one key
tensor; the per-caption copy is the prefix's keys and values only, the
prefix's projections and MLPs run once.
"""
from typing import Dict, List, Optional, Sequence, Tuple

import torch

#: Base attention implementations with an exact shared-prefix variant.
SHAREABLE = ('sdpa', 'eager')
RECORD = 'qwenclip_record_prefix'
ATTEND = 'qwenclip_attend_prefix'


def shared_attn_name(base: str) -> str:
    """The registered name of ``base`` with shared-prefix support."""
    return f'qwenclip_{base}'


class PrefixAttention:
    """What the caption pass needs: the prefix's keys and values per layer
    and the caption tokens' mask over prefix + caption keys."""

    def __init__(self, keys_values: Dict[int, Tuple[torch.Tensor,
                                                    torch.Tensor]],
                 attention_mask: torch.Tensor):
        self.keys_values = keys_values
        prefix_len = next(iter(keys_values.values()))[0].size(2)
        length = attention_mask.size(1)
        causal = torch.ones(
            length, length, dtype=torch.bool,
            device=attention_mask.device).tril()
        own = causal[None] & attention_mask.bool()[:, None, :]
        prefix = own.new_ones(own.size(0), length, prefix_len)
        #: ``(B, 1, L, P + L)``, True where a query may attend.
        self.mask = torch.cat([prefix, own], dim=-1)[:, None]
        self._additive = {}

    def additive_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """The mask as eager attention adds it to the scores."""
        if dtype not in self._additive:
            blocked = torch.finfo(dtype).min
            self._additive[dtype] = torch.zeros(
                self.mask.shape, dtype=dtype,
                device=self.mask.device).masked_fill(~self.mask, blocked)
        return self._additive[dtype]


def _with_shared_prefix(base_fn, additive: bool):

    def attention(module, query, key, value, attention_mask, **kwargs):
        record = kwargs.pop(RECORD, None)
        attend = kwargs.pop(ATTEND, None)
        if record is not None:
            # setdefault: a checkpointed layer's recomputation in the
            # backward pass must not replace the tensors already used.
            record.setdefault(module.layer_idx, (key, value))
        elif attend is not None:
            prefix_key, prefix_value = attend.keys_values[module.layer_idx]
            batch = query.size(0)
            key = torch.cat(
                [prefix_key.expand(batch, -1, -1, -1).to(key.dtype), key],
                dim=2)
            value = torch.cat([
                prefix_value.expand(batch, -1, -1, -1).to(value.dtype), value
            ],
                              dim=2)
            attention_mask = (
                attend.additive_mask(query.dtype)
                if additive else attend.mask)
            kwargs['is_causal'] = False
        return base_fn(module, query, key, value, attention_mask, **kwargs)

    return attention


def register_shared_prefix_attention() -> None:
    """Register ``qwenclip_sdpa`` and ``qwenclip_eager`` with transformers."""
    from transformers import AttentionInterface
    from transformers.integrations.sdpa_attention import \
        sdpa_attention_forward
    from transformers.masking_utils import (AttentionMaskInterface,
                                            eager_mask, sdpa_mask)
    from transformers.models.qwen3.modeling_qwen3 import \
        eager_attention_forward
    for base, fn, mask_fn, additive in (
        ('sdpa', sdpa_attention_forward, sdpa_mask, False),
        ('eager', eager_attention_forward, eager_mask, True),
    ):
        name = shared_attn_name(base)
        AttentionInterface.register(name, _with_shared_prefix(fn, additive))
        # Unshared calls get the same masks as the base implementation.
        AttentionMaskInterface.register(name, mask_fn)


def common_prefix_length(sequences: Sequence[List[int]]) -> int:
    """Tokens all ``sequences`` share at their start, leaving each at
    least one token of its own (the one pooled)."""
    shortest = min(len(s) for s in sequences)
    first = sequences[0]
    length = 0
    while length < shortest - 1 and all(s[length] == first[length]
                                        for s in sequences):
        length += 1
    return length


def encode_with_shared_prefix(model, prefix_embeds: torch.Tensor,
                              inputs_embeds: torch.Tensor,
                              attention_mask: torch.Tensor,
                              **kwargs) -> torch.Tensor:
    """Last hidden states of ``prefix + each row`` with the prefix run once.

    Args:
        model: A Hugging Face Qwen3 model (or a peft wrapper of one) whose
            attention implementation is ``qwenclip_sdpa`` or
            ``qwenclip_eager``.
        prefix_embeds (torch.Tensor): ``(P, H)`` the shared tokens.
        inputs_embeds (torch.Tensor): ``(B, L, H)`` each row's own tokens,
            right-padded.
        attention_mask (torch.Tensor): ``(B, L)``, 1 for real tokens.
        **kwargs: More arguments of the model's forward.

    Returns:
        torch.Tensor: ``(B, L, H)`` the hidden states of the rows' tokens.
    """
    keys_values: Dict[int, Tuple[torch.Tensor, torch.Tensor]] = {}
    model(
        inputs_embeds=prefix_embeds[None],
        use_cache=False,
        **{RECORD: keys_values},
        **kwargs)
    if not keys_values:
        raise RuntimeError(
            'the shared prompt prefix recorded no keys/values: the LLM does '
            f'not use a {"/".join(map(shared_attn_name, SHAREABLE))} '
            'attention implementation')
    prefix_len = prefix_embeds.size(0)
    positions = torch.arange(
        prefix_len,
        prefix_len + inputs_embeds.size(1),
        device=inputs_embeds.device)[None]
    out = model(
        inputs_embeds=inputs_embeds,
        position_ids=positions.expand(inputs_embeds.size(0), -1),
        use_cache=False,
        **{ATTEND: PrefixAttention(keys_values, attention_mask)},
        **kwargs)
    return out.last_hidden_state


def base_attn_implementation(name: Optional[str]) -> Optional[str]:
    """``'sdpa'`` for ``'qwenclip_sdpa'``; other names unchanged."""
    for base in SHAREABLE:
        if name == shared_attn_name(base):
            return base
    return name
