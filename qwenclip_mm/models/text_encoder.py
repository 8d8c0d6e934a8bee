"""Qwen3 text tower loaded through Hugging Face ``AutoModel``."""
import re
from typing import Optional, Union

import torch
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

from .hf_loading import load_pretrained
from .hf_loading import resolve_dtype as _resolve_dtype
from .shared_prefix import (SHAREABLE, encode_with_shared_prefix,
                            register_shared_prefix_attention, shared_attn_name)

TRAIN_MODES = ('frozen', 'lora', 'full')


def last_token_pool(hidden_states: torch.Tensor,
                    attention_mask: torch.Tensor) -> torch.Tensor:
    """Pick the hidden state of each sequence's last real token.

    Qwen3's ``<|endoftext|>`` is both the appended EOS and the pad token, so
    the last real token is found from the attention mask, never by id. Works
    for left and right padding.

    Args:
        hidden_states (torch.Tensor): ``(B, L, H)``.
        attention_mask (torch.Tensor): ``(B, L)``, 1 for real tokens.

    Returns:
        torch.Tensor: ``(B, H)``.
    """
    positions = torch.arange(
        attention_mask.size(1), device=attention_mask.device)
    last = (attention_mask.long() * (positions + 1)).argmax(dim=1)
    return hidden_states[torch.arange(hidden_states.size(0)), last]


def enable_activation_checkpointing(model) -> None:
    """Switch on non-reentrant activation checkpointing of a HF model.

    transformers >= 5.2x renamed ``gradient_checkpointing_enable`` to
    ``activation_checkpointing_enable``; both are supported.
    """
    kwargs = {'use_reentrant': False}
    if hasattr(model, 'activation_checkpointing_enable'):
        model.activation_checkpointing_enable(
            activation_checkpointing_kwargs=kwargs)
    else:
        model.gradient_checkpointing_enable(
            gradient_checkpointing_kwargs=kwargs)


# Module-name parts that FSDP, activation checkpointing and torch.compile
# wrappers add and that their state-dict hooks remove again.
_WRAPPER_PREFIXES = re.compile(
    r'(_fsdp_wrapped_module|_checkpoint_wrapped_module|_orig_mod)\.')


def _drop_frozen_weights(module, state_dict, prefix, local_metadata):
    """State-dict hook: leave out weights that ``pretrained`` restores."""
    for name in module.frozen_weight_names():
        state_dict.pop(prefix + name, None)


def _forgive_frozen_weights(module, incompatible_keys):
    """Load post-hook: frozen LLM weights are not missing, just not saved.

    Keys arrive with the prefix of the module being loaded, which this
    encoder does not know, so they are matched by their suffix.
    """
    frozen = module.frozen_weight_names()

    def is_frozen(key):
        parts = key.split('.')
        return any('.'.join(parts[i:]) in frozen for i in range(len(parts)))

    incompatible_keys.missing_keys[:] = [
        key for key in incompatible_keys.missing_keys if not is_frozen(key)
    ]


def _apply_lora(model, lora_cfg: dict):
    """Wrap ``model`` with peft LoRA adapters, naming bad config keys."""
    import dataclasses

    from peft import LoraConfig, get_peft_model
    known = {field.name for field in dataclasses.fields(LoraConfig)}
    unknown = sorted(set(lora_cfg) - known)
    if unknown:
        raise ValueError(
            f'text_encoder.lora_cfg has unknown keys {unknown}: expected '
            'arguments of peft.LoraConfig, e.g. r, lora_alpha, lora_dropout, '
            'target_modules')
    try:
        # The adapters train in fp32 whatever the LLM's dtype: bf16 ones
        # would lose small optimizer updates (peft's default, made explicit).
        return get_peft_model(
            model, LoraConfig(**lora_cfg), autocast_adapter_dtype=True)
    except ValueError as e:
        # e.g. target_modules that match no module of the LLM.
        raise ValueError(f'text_encoder.lora_cfg={lora_cfg!r}: {e}') from e


class PretrainedTextEncoder(BaseModule):
    """What every text encoder around a Hugging Face model shares.

    A subclass sets ``self.model`` (the transformers model) and
    ``self.train_mode`` and calls :meth:`_keep_trained_weights_only`. It
    gets the state-dict handling of frozen weights (left out of
    checkpoints, reloaded from ``pretrained``, not reported missing on
    load), :attr:`hidden_size`, :attr:`trains_weights`, and a :meth:`train`
    that keeps a frozen model's dropout off.
    """

    def train(self, mode: bool = True):
        """Set training mode; a frozen model computes as in evaluation.

        A frozen tower (``train_mode='frozen'``) stays in eval mode, so its
        dropout (BERT's hidden and attention dropout, Qwen3's
        ``attention_dropout``) never perturbs what it computes. Modules with
        activation checkpointing switched on keep their own training flag,
        as transformers checkpoints only in training mode; their children,
        which hold the dropout, stay in eval mode.

        Args:
            mode (bool): Training (True) or evaluation (False) mode.
                Defaults to True.

        Returns:
            PretrainedTextEncoder: self.
        """
        super().train(mode)
        if not self.trains_weights:
            self.model.eval()
            for module in self.model.modules():
                if getattr(module, 'gradient_checkpointing', False) is True:
                    module.training = mode
        return self

    def _refuse_half_precision_training(self, dtype) -> None:
        """Refuse ``train_mode='full'`` on bf16 or fp16 weights.

        The optimizer would update the half-precision weights in place,
        with no fp32 master copy: AdamW steps smaller than the weights'
        rounding step (about 1e-3 of a weight's size in bf16) are lost
        without a sign.

        Args:
            dtype (str | torch.dtype): The ``dtype`` the user asked for,
                named in the error.

        Raises:
            ValueError: If the model's weights are in half precision and
                all of them train.
        """
        weight_dtype = next(self.model.parameters()).dtype
        if self.train_mode == 'full' and weight_dtype in (torch.bfloat16,
                                                          torch.float16):
            raise ValueError(
                "text_encoder.train_mode='full' with text_encoder.dtype="
                f'{dtype!r} (weights in {weight_dtype}) would train the '
                'weights in half precision without an fp32 master copy, so '
                "small optimizer updates are lost. Set dtype='float32' and "
                'train under bf16 autocast (tools/train.py --amp, i.e. '
                "optim_wrapper=dict(type='AmpOptimWrapper', "
                "dtype='bfloat16')), or use train_mode='lora' or 'frozen'")

    def _keep_trained_weights_only(self, save_frozen_weights: bool) -> None:
        """Leave frozen weights out of ``state_dict()`` unless asked not to.

        Args:
            save_frozen_weights (bool): Keep them (no hooks registered).
        """
        if not save_frozen_weights:
            self._register_state_dict_hook(_drop_frozen_weights)
            self.register_load_state_dict_post_hook(_forgive_frozen_weights)

    def frozen_weight_names(self) -> set:
        """Names (relative to this module) of the model's frozen weights.

        Under the state-dict names: the prefixes that wrappers such as FSDP
        or activation checkpointing insert into the modules' names (and
        take out of the state dict) are left out.
        """
        return {
            _WRAPPER_PREFIXES.sub('', name)
            for name, param in self.model.named_parameters(prefix='model')
            if not param.requires_grad
        }

    @property
    def hidden_size(self) -> int:
        """int: Width of the model's hidden states."""
        return self.model.config.hidden_size

    @property
    def trains_weights(self) -> bool:
        """bool: Whether any model weight receives gradients."""
        return self.train_mode != 'frozen'


@MODELS.register_module()
class Qwen3TextEncoder(PretrainedTextEncoder):
    """A Qwen3 / Qwen3-Embedding LLM used as a text encoder.

    The checkpoint is loaded with ``AutoModel.from_pretrained`` from a hub id
    or a local folder, never with ``trust_remote_code``; the tokenizer comes
    from the same place. The encoder takes input embeddings (so a prompt
    learner can insert soft vectors) and returns the hidden state of the last
    real token of each sequence.

    Args:
        pretrained (str): Hub id (e.g. ``'Qwen/Qwen3-Embedding-0.6B'``) or a
            local folder with ``config.json``, weights and tokenizer files.
        dtype (str | torch.dtype): Weight dtype: ``'float32'``,
            ``'bfloat16'``, ``'float16'`` or ``'auto'`` (the checkpoint's).
            Half precision saves memory for a frozen LLM; with
            ``train_mode='full'`` it is refused (no fp32 master copy: small
            updates would be lost), use ``'float32'`` with bf16 autocast.
            With ``train_mode='lora'`` the LLM may be in half precision:
            the LoRA adapters are kept in fp32. Defaults to ``'float32'``.
        attn_implementation (str): Attention kernel passed to transformers.
            Defaults to ``'sdpa'``.
        max_length (int): Maximum tokens of a whole prompt + caption + EOS
            sequence. Defaults to 512; Qwen3 accepts up to 32K.
        train_mode (str): ``'frozen'`` (no LLM weight trains; gradients
            still flow through it to a soft prompt), ``'lora'`` or
            ``'full'``. Defaults to ``'frozen'``.
        lora_cfg (dict, optional): Keyword arguments of
            ``peft.LoraConfig`` for ``train_mode='lora'``, e.g.
            ``dict(r=16, lora_alpha=32, target_modules=['q_proj', 'v_proj'])``.
        gradient_checkpointing (bool): Recompute activations in the backward
            pass to save memory. Defaults to False.
        local_files_only (bool): Never contact the hub. Defaults to False.
        shared_prefix (bool): Run the prompt tokens that every caption of a
            batch shares (instruction, soft vectors, query prefix) through
            the LLM once per batch and let each caption attend to their keys
            and values; exact (see :mod:`.shared_prefix`). Only with
            ``attn_implementation`` ``'sdpa'`` or ``'eager'``; ignored
            otherwise. Defaults to True.
        save_frozen_weights (bool): Keep the frozen LLM weights in
            ``state_dict()`` and so in every checkpoint. Defaults to False:
            they are reloaded from ``pretrained`` instead, so a checkpoint
            holds only what trains (1.2 GB less per checkpoint for 0.6B in
            bf16, 16 GB less for 8B), and loading such a checkpoint does not
            report the frozen weights as missing.
        init_cfg (dict, optional): Unused; the weights come from
            ``pretrained``.
    """

    def __init__(self,
                 pretrained: str,
                 dtype: Union[str, torch.dtype] = 'float32',
                 attn_implementation: str = 'sdpa',
                 max_length: int = 512,
                 train_mode: str = 'frozen',
                 lora_cfg: Optional[dict] = None,
                 gradient_checkpointing: bool = False,
                 local_files_only: bool = False,
                 shared_prefix: bool = True,
                 save_frozen_weights: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if train_mode not in TRAIN_MODES:
            raise ValueError(f'text_encoder.train_mode={train_mode!r} is not '
                             f'supported; expected one of {TRAIN_MODES}')
        if train_mode == 'lora' and not lora_cfg:
            raise ValueError('text_encoder.lora_cfg is required when '
                             "train_mode='lora' (a dict of peft.LoraConfig "
                             'arguments, e.g. dict(r=16, target_modules='
                             "['q_proj', 'v_proj']))")
        if not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f'text_encoder.max_length={max_length!r}; '
                             'expected an int >= 2')
        self.pretrained = pretrained
        self.max_length = max_length
        self.train_mode = train_mode
        self.attn_implementation = attn_implementation

        self.tokenizer = self._load(pretrained, 'tokenizer', local_files_only)
        self.model = self._load(
            pretrained,
            'model',
            local_files_only,
            dtype=_resolve_dtype(dtype),
            attn_implementation=attn_implementation)
        # MMEngine's init_weights must not re-initialise loaded weights.
        self.model.is_init = True
        self._refuse_half_precision_training(dtype)
        self.shares_prefix = shared_prefix and attn_implementation in SHAREABLE
        if self.shares_prefix:
            register_shared_prefix_attention()
            self.model.config._attn_implementation = shared_attn_name(
                attn_implementation)

        if train_mode == 'frozen':
            self.model.requires_grad_(False)
        elif train_mode == 'lora':
            self.model.requires_grad_(False)
            self.model = _apply_lora(self.model, lora_cfg)
            self.model.is_init = True
        if gradient_checkpointing:
            # Non-reentrant checkpointing lets gradients reach a soft prompt
            # through a frozen model.
            enable_activation_checkpointing(self.model)
        self._keep_trained_weights_only(save_frozen_weights)

    @staticmethod
    def _load(pretrained: str, what: str, local_files_only: bool, **kwargs):
        return load_pretrained(pretrained, what, local_files_only, **kwargs)

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Look up the LLM's input embeddings of ``input_ids``."""
        return self.model.get_input_embeddings()(input_ids)

    def forward(self,
                inputs_embeds: torch.Tensor,
                attention_mask: torch.Tensor,
                prefix_embeds: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Encode embedded sequences.

        Args:
            inputs_embeds (torch.Tensor): ``(B, L, H)``.
            attention_mask (torch.Tensor): ``(B, L)``, 1 for real tokens.
            prefix_embeds (torch.Tensor, optional): ``(P, H)`` tokens that
                precede every sequence, run once (needs
                :attr:`shares_prefix`). Defaults to None.

        Returns:
            torch.Tensor: ``(B, H)`` hidden state of each last real token.
        """
        if prefix_embeds is not None:
            if not self.shares_prefix:
                raise RuntimeError(
                    'prefix_embeds needs text_encoder.shared_prefix=True and '
                    f'attn_implementation in {SHAREABLE}')
            hidden = encode_with_shared_prefix(self.model, prefix_embeds,
                                               inputs_embeds, attention_mask)
            return last_token_pool(hidden, attention_mask)
        out = self.model(
            inputs_embeds=inputs_embeds,
            attention_mask=attention_mask,
            use_cache=False,
            return_dict=True)
        return last_token_pool(out.last_hidden_state, attention_mask)
