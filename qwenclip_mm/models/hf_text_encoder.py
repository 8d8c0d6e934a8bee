"""BERT-style text towers loaded through Hugging Face ``AutoModel``."""
from typing import Optional, Sequence, Tuple, Union

import torch
from mmpretrain.registry import MODELS

from .hf_loading import load_pretrained
from .hf_loading import resolve_dtype as _resolve_dtype
from .text_encoder import PretrainedTextEncoder

HF_TRAIN_MODES = ('frozen', 'full')
POOLINGS = ('cls', 'mean')


def mean_pool(hidden_states: torch.Tensor,
              attention_mask: torch.Tensor) -> torch.Tensor:
    """Average the hidden states of each sequence's real tokens.

    Args:
        hidden_states (torch.Tensor): ``(B, L, H)``.
        attention_mask (torch.Tensor): ``(B, L)``, 1 for real tokens.

    Returns:
        torch.Tensor: ``(B, H)``.
    """
    mask = attention_mask.unsqueeze(-1).to(hidden_states.dtype)
    return (hidden_states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)


@MODELS.register_module()
class HFTextEncoder(PretrainedTextEncoder):
    """A BERT-style Hugging Face encoder that reads raw captions.

    The text tower of medical CLIPs such as BiomedCLIP (PubMedBERT): a
    bidirectional encoder with a learned position table, so it reads at most
    ``max_position_embeddings`` tokens (512 for BERT), ``[CLS]`` and
    ``[SEP]`` included. Loaded with ``AutoModel`` / ``AutoTokenizer`` from a
    hub id or a local folder, never with ``trust_remote_code``.

    Unlike :class:`Qwen3TextEncoder` it takes no prompt: it tokenises the
    captions itself (:meth:`encode_texts`), truncating each to
    ``max_length`` tokens. Use it in :class:`QwenCLIP` with
    ``prompt_learner=None``. The model's pooler layer is removed: the text
    embedding is the last hidden state of ``[CLS]`` or the mean over the
    real tokens, and an unused trainable pooler would only hold optimizer
    state and trip DDP's unused-parameter check.

    Args:
        pretrained (str): Hub id (e.g.
            ``'microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract'``) or a
            local folder with ``config.json``, weights and tokenizer files.
        max_length (int, optional): Tokens read of each caption, ``[CLS]``
            and ``[SEP]`` included. At most the model's limit, its
            ``max_position_embeddings`` (or the tokenizer's
            ``model_max_length`` if smaller, as for RoBERTa's 514 / 512).
            Defaults to None (that limit).
        pooling (str): ``'cls'`` (the last hidden state of the first token,
            as BiomedCLIP) or ``'mean'`` (over the real tokens). Defaults to
            ``'cls'``.
        train_mode (str): ``'frozen'`` or ``'full'``. Defaults to
            ``'frozen'``.
        dtype (str | torch.dtype): Weight dtype, as for
            :class:`Qwen3TextEncoder`; half precision is refused with
            ``train_mode='full'``. Defaults to ``'float32'``.
        local_files_only (bool): Never contact the hub. Defaults to False.
        save_frozen_weights (bool): Keep frozen weights in ``state_dict()``.
            Defaults to False: they are reloaded from ``pretrained``.
        init_cfg (dict, optional): Unused; the weights come from
            ``pretrained``.
    """

    def __init__(self,
                 pretrained: str,
                 max_length: Optional[int] = None,
                 pooling: str = 'cls',
                 train_mode: str = 'frozen',
                 dtype: Union[str, torch.dtype] = 'float32',
                 local_files_only: bool = False,
                 save_frozen_weights: bool = False,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if train_mode not in HF_TRAIN_MODES:
            raise ValueError(f'text_encoder.train_mode={train_mode!r} is not '
                             f'supported; expected one of {HF_TRAIN_MODES}')
        if pooling not in POOLINGS:
            raise ValueError(f'text_encoder.pooling={pooling!r} is not '
                             f'supported; expected one of {POOLINGS}')
        self.pretrained = pretrained
        self.pooling = pooling
        self.train_mode = train_mode

        loading = dict(
            local_files_only=local_files_only,
            family='BERT-style',
            example_id='microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract')
        self.tokenizer = load_pretrained(pretrained, 'tokenizer', **loading)
        # [CLS] pooling reads position 0, so padding must go on the right.
        self.tokenizer.padding_side = 'right'
        self.model = load_pretrained(
            pretrained, 'model', dtype=_resolve_dtype(dtype), **loading)
        # MMEngine's init_weights must not re-initialise loaded weights.
        self.model.is_init = True
        self._refuse_half_precision_training(dtype)
        if getattr(self.model, 'pooler', None) is not None:
            self.model.pooler = None

        limit = self.position_limit
        if max_length is None:
            max_length = limit
        elif not isinstance(max_length, int) or max_length < 2:
            raise ValueError(f'text_encoder.max_length={max_length!r}; '
                             'expected an int >= 2')
        elif max_length > limit:
            raise ValueError(
                f'text_encoder.max_length={max_length} but '
                f'text_encoder.pretrained={pretrained!r} reads at most '
                f'{limit} tokens (max_position_embeddings='
                f'{self.model.config.max_position_embeddings}, tokenizer '
                f'model_max_length={self.tokenizer.model_max_length}): its '
                'positions are a learned table with no rows beyond that. '
                f'Expected max_length <= {limit}; Qwen3TextEncoder reads '
                'longer texts')
        self.max_length = max_length

        if train_mode == 'frozen':
            self.model.requires_grad_(False)
        self._keep_trained_weights_only(save_frozen_weights)

    @property
    def position_limit(self) -> int:
        """int: The most tokens one sequence may have."""
        limit = self.model.config.max_position_embeddings
        # Tokenizers without a limit report a huge model_max_length.
        return min(limit, self.tokenizer.model_max_length)

    def tokenize(self, texts: Sequence[str]) -> dict:
        """Tokenise captions, each cut at :attr:`max_length` tokens.

        Returns:
            dict: ``input_ids`` and ``attention_mask``, ``(T, L)`` CPU
            tensors right-padded to the longest sequence of the batch.
        """
        return self.tokenizer(
            list(texts),
            padding='longest',
            truncation=True,
            max_length=self.max_length,
            return_token_type_ids=False,
            return_tensors='pt')

    def forward(self, input_ids: torch.Tensor,
                attention_mask: torch.Tensor) -> torch.Tensor:
        """Encode token ids.

        Args:
            input_ids (torch.Tensor): ``(B, L)``.
            attention_mask (torch.Tensor): ``(B, L)``, 1 for real tokens.

        Returns:
            torch.Tensor: ``(B, H)`` pooled embeddings.
        """
        hidden = self.model(
            input_ids=input_ids, attention_mask=attention_mask,
            return_dict=True).last_hidden_state
        if self.pooling == 'cls':
            return hidden[:, 0]
        return mean_pool(hidden, attention_mask)

    def encode_texts(
        self,
        texts: Sequence[str],
        device: Optional[torch.device] = None
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Tokenise and encode raw captions.

        Args:
            texts (Sequence[str]): Captions.
            device (torch.device, optional): Where to run. Defaults to the
                device of the encoder's weights.

        Returns:
            tuple: Pooled embeddings ``(T, H)`` and the attention mask
            ``(T, L)`` of the batch (1 for real tokens, 0 for padding).
        """
        if device is None:
            device = next(self.model.parameters()).device
        batch = self.tokenize(texts)
        input_ids = batch['input_ids'].to(device)
        attention_mask = batch['attention_mask'].to(device)
        return self(input_ids, attention_mask), attention_mask
