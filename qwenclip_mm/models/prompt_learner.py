"""The hybrid (hard + soft) prompt in front of every caption."""
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from mmpretrain.registry import MODELS

DEFAULT_INIT_PHRASE = ('Create a dense embedding that captures the medical '
                       'findings for image retrieval')


@MODELS.register_module()
class HybridPromptLearner(BaseModule):
    """Hard instruction + learnable soft vectors + caption + EOS.

    Every text becomes::

        [instruction] [K soft vectors] [query_prefix + caption] [EOS]

    which is the official Qwen3-Embedding recipe,
    ``f'Instruct: {task}\\nQuery:{caption}'`` tokenised as one string with the
    tokenizer's ``<|endoftext|>`` appended, with the task text's tokens
    replaced by the soft vectors. The ids are the official ones token for
    token: Qwen's BPE merges across the boundary between query prefix and
    caption (``Query`` ``:C`` ``hest`` for ``'\\nQuery:Chest'``), so the
    caption is tokenised together with the query prefix, and the task text
    (``init_phrase``) in place after the instruction: ``' Create'``, space
    included, is one token, so ``'Instruct: '`` keeps ``'Instruct'``
    ``':'`` and its space goes to the first soft vector.

    The whole sequence is assembled per caption before padding, and padding
    goes on the right, so RoPE positions and the causal attention of a
    caption's tokens do not depend on what else is in its batch. Truncation
    keeps the first tokens, as the official recipe's tokenizer does with
    ``truncation=True``, and trims the caption only: the instruction, the
    soft vectors, the query prefix's own tokens and the EOS always stay.

    The soft vectors are initialised from the token embeddings of
    ``init_phrase`` (CoOp style; K is then that phrase's token count) or,
    with ``init_phrase=None``, as ``num_soft_tokens`` random vectors scaled
    like the embedding table (the instruction's trailing spaces are then
    dropped, as the official recipe would join them to the task's first
    word).

    Args:
        tokenizer: The text encoder's Hugging Face tokenizer.
        embedding_weight (torch.Tensor): The text encoder's input embedding
            table ``(V, H)``; read once for initialisation, not kept.
        instruction (str): Hard text before the soft vectors.
            Defaults to ``'Instruct: '``.
        query_prefix (str): Hard text between the soft vectors and the
            caption. Defaults to ``'\\nQuery:'``.
        init_phrase (str, optional): Phrase whose token embeddings initialise
            the soft vectors. Defaults to :data:`DEFAULT_INIT_PHRASE`.
        num_soft_tokens (int, optional): K. Required with
            ``init_phrase=None``; must match the phrase's token count
            otherwise. 0 gives a hard prompt only.
        eos_token (str): Token appended to every sequence; its hidden state
            is the text embedding. Defaults to ``'<|endoftext|>'``
            (Qwen3-Embedding's).
        freeze (bool): Keep the soft vectors fixed. Defaults to False.
        max_caption_tokens (int, optional): Cap on the caption's own tokens,
            on top of the encoder's ``max_length`` (e.g. 77 to read only as
            much of a report as a CLIP text tower would). Defaults to None
            (no extra cap).
        init_cfg (dict, optional): Initialisation config of MMEngine.
    """

    def __init__(self,
                 tokenizer,
                 embedding_weight: torch.Tensor,
                 instruction: str = 'Instruct: ',
                 query_prefix: str = '\nQuery:',
                 init_phrase: Optional[str] = DEFAULT_INIT_PHRASE,
                 num_soft_tokens: Optional[int] = None,
                 eos_token: str = '<|endoftext|>',
                 freeze: bool = False,
                 max_caption_tokens: Optional[int] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(init_cfg=init_cfg)
        if max_caption_tokens is not None and max_caption_tokens < 1:
            raise ValueError('prompt_learner.max_caption_tokens='
                             f'{max_caption_tokens!r}; expected None or an '
                             'int >= 1')
        self.max_caption_tokens = max_caption_tokens
        self.freeze = freeze
        self.tokenizer = tokenizer
        self.instruction = instruction
        self.query_prefix = query_prefix
        self.eos_id = tokenizer.convert_tokens_to_ids(eos_token)
        if self.eos_id is None or self.eos_id == tokenizer.unk_token_id:
            raise ValueError(f'prompt_learner.eos_token={eos_token!r} is not '
                             "a token of the text encoder's tokenizer")
        self.pad_id = (
            tokenizer.pad_token_id
            if tokenizer.pad_token_id is not None else self.eos_id)
        # The query prefix's tokens on their own: at most this many of them
        # precede a caption's tokens (fewer when the caption merges into it).
        self.query_ids = self._encode(query_prefix)

        weight = embedding_weight.detach().float()
        if init_phrase is not None:
            self.instruction_ids, phrase_ids = self._split_in_place(
                instruction, init_phrase, query_prefix)
            if num_soft_tokens is not None and num_soft_tokens != len(
                    phrase_ids):
                raise ValueError(
                    f'prompt_learner.num_soft_tokens={num_soft_tokens} but '
                    f'init_phrase has {len(phrase_ids)} tokens; set '
                    'num_soft_tokens=None to use the phrase length, or '
                    'init_phrase=None for random vectors')
            init = weight[torch.tensor(phrase_ids, dtype=torch.long)].clone()
        elif num_soft_tokens is None or num_soft_tokens < 0:
            raise ValueError(
                'prompt_learner.num_soft_tokens must be an int >= 0 when '
                f'init_phrase is None, got {num_soft_tokens!r}')
        else:
            self.instruction_ids = self._encode(
                instruction.rstrip(' ') if num_soft_tokens else instruction)
            init = torch.randn(num_soft_tokens, weight.size(1)) * weight.std()
        self.soft_prompt = nn.Parameter(init, requires_grad=not freeze)

    def _encode(self, text: str) -> List[int]:
        return self.tokenizer(text, add_special_tokens=False)['input_ids']

    def _split_in_place(self, instruction: str, phrase: str,
                        query_prefix: str) -> Tuple[List[int], List[int]]:
        """Tokenise ``instruction + phrase + query_prefix`` as one string.

        Returns:
            tuple: The instruction's ids (tokens that end before the phrase)
            and the phrase's (tokens that overlap it, e.g. ``' Create'``
            whose space is the instruction's).

        Raises:
            ValueError: If the phrase is empty or merges with the query
                prefix, so that no token sequence holds it alone.
        """
        if not phrase:
            raise ValueError("prompt_learner.init_phrase='' is empty; give a "
                             'phrase, or init_phrase=None with '
                             'num_soft_tokens')
        start, end = len(instruction), len(instruction) + len(phrase)
        ids, offsets = self._encode_with_offsets(instruction + phrase +
                                                 query_prefix)
        head, body = [], []
        for token, (first, last) in zip(ids, offsets):
            if last <= start:
                head.append(token)
            elif first < end < last:
                raise ValueError(
                    f'prompt_learner.init_phrase={phrase!r} ends inside a '
                    f'token shared with query_prefix={query_prefix!r}; the '
                    'soft vectors must replace whole tokens of the official '
                    'prompt, so end the phrase where a token ends (e.g. on a '
                    'letter before a newline)')
            elif first < end:
                body.append(token)
        return head, body

    def _encode_with_offsets(self, texts):
        """Ids and character offsets (into the raw text) of each token."""
        single = isinstance(texts, str)
        try:
            enc = self.tokenizer(
                [texts] if single else list(texts),
                add_special_tokens=False,
                return_offsets_mapping=True)
        except NotImplementedError as e:
            raise TypeError(
                'HybridPromptLearner needs a fast (Rust-backed) tokenizer '
                'that returns offsets, as Qwen3 checkpoints ship; got '
                f'{type(self.tokenizer).__name__}') from e
        ids, offsets = enc['input_ids'], enc['offset_mapping']
        return (ids[0], offsets[0]) if single else (ids, offsets)

    @property
    def num_soft_tokens(self) -> int:
        """int: K, the number of soft vectors."""
        return self.soft_prompt.size(0)

    @property
    def num_prompt_tokens(self) -> int:
        """int: Tokens every sequence spends besides its caption."""
        return (len(self.instruction_ids) + self.num_soft_tokens +
                len(self.query_ids) + 1)

    @property
    def trainable(self) -> bool:
        """bool: Whether the soft vectors train.

        Decided by ``freeze`` at construction, not by ``requires_grad``,
        which FSDP (``use_orig_params=True``) reports as True inside the
        forward for a frozen vector that shares a flat parameter with
        trainable ones.
        """
        return self.num_soft_tokens > 0 and not self.freeze

    def caption_budget(self, max_length: int) -> int:
        """Caption tokens that fit in ``max_length`` after the prompt.

        Raises:
            ValueError: If the prompt alone does not fit.
        """
        budget = max_length - self.num_prompt_tokens
        if budget < 1:
            raise ValueError(
                f'text_encoder.max_length={max_length} leaves no room for a '
                f'caption: the prompt alone takes {self.num_prompt_tokens} '
                f'tokens (instruction {len(self.instruction_ids)}, soft '
                f'{self.num_soft_tokens}, query prefix {len(self.query_ids)},'
                ' EOS 1); expected max_length > '
                f'{self.num_prompt_tokens}')
        if self.max_caption_tokens is not None:
            budget = min(budget, self.max_caption_tokens)
        return budget

    def tokenize(self, captions: Sequence[str],
                 max_length: int) -> Tuple[List[List[int]], List[int]]:
        """Build each caption's full token sequence, soft slots included.

        ``query_prefix + caption`` is tokenised as one string; its tokens
        that overlap the caption (``:C`` in ``Query`` ``:C`` ``hest``) are
        the caption's, the others the prefix's. Soft slots hold the pad id;
        :meth:`forward` replaces their embeddings with the soft vectors.

        Args:
            captions (Sequence[str]): Raw captions.
            max_length (int): Cap on the whole sequence length, EOS
                included.

        Returns:
            tuple: The token id lists (unpadded) and the number of caption
            tokens each one kept.
        """
        self.caption_budget(max_length)
        prefix_len = len(self.query_prefix)
        head = self.instruction_ids + [self.pad_id] * self.num_soft_tokens
        ids, offsets = self._encode_with_offsets(
            [self.query_prefix + caption for caption in captions])
        sequences, kept = [], []
        for tokens, spans in zip(ids, offsets):
            # Tokens are in text order, so the prefix's own come first.
            fixed = sum(1 for _, last in spans if last <= prefix_len)
            budget = max_length - 1 - len(head) - fixed
            if self.max_caption_tokens is not None:
                budget = min(budget, self.max_caption_tokens)
            tokens = tokens[:fixed + budget]
            sequences.append(head + tokens + [self.eos_id])
            kept.append(len(tokens) - fixed)
        return sequences, kept

    def pad(self, sequences: List[List[int]],
            device: torch.device) -> Tuple[torch.Tensor, torch.Tensor]:
        """Right-pad sequences to the longest one in the batch."""
        longest = max(len(s) for s in sequences)
        input_ids = torch.full((len(sequences), longest),
                               self.pad_id,
                               dtype=torch.long)
        attention_mask = torch.zeros((len(sequences), longest),
                                     dtype=torch.long)
        for i, seq in enumerate(sequences):
            input_ids[i, :len(seq)] = torch.tensor(seq, dtype=torch.long)
            attention_mask[i, :len(seq)] = 1
        return input_ids.to(device), attention_mask.to(device)

    def forward(self, input_ids: torch.Tensor,
                token_embeds: torch.Tensor) -> torch.Tensor:
        """Put the soft vectors into the embedded sequences.

        Args:
            input_ids (torch.Tensor): ``(B, L)`` from :meth:`pad`.
            token_embeds (torch.Tensor): ``(B, L, H)`` the LLM's embeddings of
                ``input_ids``.

        Returns:
            torch.Tensor: ``(B, L, H)`` with the soft slots replaced.
        """
        if self.num_soft_tokens == 0:
            return token_embeds
        start = len(self.instruction_ids)
        end = start + self.num_soft_tokens
        soft = self.soft_prompt.to(token_embeds.dtype).unsqueeze(0).expand(
            token_embeds.size(0), -1, -1)
        return torch.cat(
            [token_embeds[:, :start], soft, token_embeds[:, end:]], dim=1)

    def fingerprint_fields(self) -> dict:
        """The settings that decide a caption's pooled embedding.

        Everything but the soft vectors' values and the tokenizer, which
        :func:`~qwenclip_mm.models.text_feature_cache.text_model_fingerprint`
        hashes apart.

        Returns:
            dict: JSON-able ``instruction_ids``, ``query_prefix`` and its
            ``query_prefix_ids``, ``eos_id``, ``pad_id``,
            ``num_soft_tokens`` and ``max_caption_tokens``.
        """
        return dict(
            instruction_ids=list(self.instruction_ids),
            query_prefix=self.query_prefix,
            query_prefix_ids=self.tokenizer(
                self.query_prefix, add_special_tokens=False)['input_ids'],
            eos_id=self.eos_id,
            pad_id=self.pad_id,
            num_soft_tokens=self.num_soft_tokens,
            max_caption_tokens=self.max_caption_tokens)
