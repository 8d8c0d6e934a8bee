"""QwenCLIP: a CLIP image tower with a Qwen3 LLM text tower."""
from contextlib import nullcontext
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import get_rank
from mmengine.model import BaseModel
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from .retrieval_prediction import all_gather_concat  # noqa: F401 (as before)
from .retrieval_prediction import RetrievalPredictionMixin, texts_of
from .shared_prefix import common_prefix_length
from .text_feature_cache import TextFeatureCache, text_model_fingerprint


def _autocast_state(device: torch.device) -> Tuple[bool, torch.dtype]:
    """Whether autocast is on for ``device``, and its dtype."""
    return (torch.is_autocast_enabled(device.type),
            torch.get_autocast_dtype(device.type))


def _invalidate_text_cache(model, incompatible_keys) -> None:
    """Load-state-dict post hook: check the fingerprint again."""
    model.text_cache.invalidate()


@MODELS.register_module()
class QwenCLIP(RetrievalPredictionMixin, BaseModel):
    """Contrastive image-text model with a Qwen3 text encoder.

    Images go through any mmpretrain backbone and an image projection;
    captions through a hybrid prompt, a Qwen3 LLM (last real token) and a
    text projection. Both are L2-normalised and trained with a CLIP
    contrastive head. The model follows mmpretrain's retrieval contract
    (``extract_feat``, ``predict_all``), so ``RetrievalValLoop``,
    ``RetrievalTestLoop`` and the retrieval inferencers run it unchanged.
    For baselines, a text encoder that tokenises captions itself
    (:class:`HFTextEncoder`, a BERT-style encoder) can take the place of the
    prompt and the LLM, with ``prompt_learner=None``.

    Args:
        vision_backbone (dict): Config of an mmpretrain backbone.
        text_encoder (dict): Config of :class:`Qwen3TextEncoder`, or of
            :class:`HFTextEncoder` with ``prompt_learner=None``.
        prompt_learner (dict, optional): Config of
            :class:`HybridPromptLearner`; its tokenizer and embedding table
            come from the text encoder. None (required with, and only with,
            an encoder that tokenises captions itself, such as
            :class:`HFTextEncoder`) hands it the raw captions.
        text_projection (dict): Config of :class:`TextProjection`;
            ``in_channels`` defaults to the text encoder's hidden size.
        image_projection (dict): Config of :class:`ImageProjection` (or any
            module mapping the backbone output to the joint space).
        head (dict): Config of :class:`CLIPContrastiveHead`.
        text_cache (dict, optional): Keyword arguments of
            :class:`TextFeatureCache`, e.g. ``dict()`` (in memory) or
            ``dict(file='text_features.pth')``: compute each caption's LLM
            embedding once and reuse it in every epoch and in evaluation.
            Only for a frozen text side (``text_encoder.train_mode='frozen'``
            and a frozen or empty soft prompt), where that embedding never
            changes; not with ``prompt_learner=None``. Cached features are
            computed without autocast, in the LLM's dtype, so training under
            AMP and evaluation read the same ones. Defaults to None (no
            cache).
        eval_text_batch_size (int): Captions per LLM batch when the text
            gallery is encoded at once, shortest first (see
            :meth:`encode_text_gallery` and :class:`SortedTextEvalHook`).
            Defaults to 128.
        data_preprocessor (dict, optional): Defaults to
            ``MultiModalDataPreprocessor``.
        init_cfg (dict, optional): Initialisation config of MMEngine.
    """

    def __init__(self,
                 vision_backbone: dict,
                 text_encoder: dict,
                 prompt_learner: Optional[dict],
                 text_projection: dict,
                 image_projection: dict,
                 head: dict = dict(type='CLIPContrastiveHead'),
                 text_cache: Optional[dict] = None,
                 eval_text_batch_size: int = 128,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        if data_preprocessor is None:
            data_preprocessor = dict(type='MultiModalDataPreprocessor')
        if isinstance(data_preprocessor, dict):
            data_preprocessor = MODELS.build(data_preprocessor)
        super().__init__(
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)

        self.vision_backbone = MODELS.build(vision_backbone)
        self.image_projection = MODELS.build(image_projection)
        self.text_encoder = MODELS.build(text_encoder)
        encoder_type = type(self.text_encoder).__name__
        # Encoders with encode_texts tokenise raw captions themselves.
        reads_captions = hasattr(self.text_encoder, 'encode_texts')
        if prompt_learner is None:
            if not reads_captions:
                raise ValueError(
                    f'model.prompt_learner=None but the {encoder_type} text '
                    'encoder encodes prompt sequences, not raw captions; set '
                    "model.prompt_learner=dict(type='HybridPromptLearner') or "
                    "use a text encoder such as 'HFTextEncoder'")
            self.prompt_learner = None
        elif reads_captions:
            raise ValueError(
                f'the {encoder_type} text encoder tokenises the raw captions '
                'itself and takes no prompt; set model.prompt_learner=None')
        else:
            self.prompt_learner = MODELS.build(
                prompt_learner,
                default_args=dict(
                    tokenizer=self.text_encoder.tokenizer,
                    embedding_weight=self.text_encoder.model.
                    get_input_embeddings().weight))
            # Fail at build time, not at the first batch.
            self.prompt_learner.caption_budget(self.text_encoder.max_length)
        self.text_projection = MODELS.build(
            text_projection,
            default_args=dict(in_channels=self.text_encoder.hidden_size))
        if self.text_projection.in_channels != self.text_encoder.hidden_size:
            raise ValueError(
                'text_projection.in_channels='
                f'{self.text_projection.in_channels} but the text encoder '
                f'outputs {self.text_encoder.hidden_size}-d embeddings; '
                'leave in_channels unset to use the encoder size')
        self.head = MODELS.build(head)
        if not isinstance(eval_text_batch_size,
                          int) or eval_text_batch_size < 1:
            raise ValueError('model.eval_text_batch_size='
                             f'{eval_text_batch_size!r}; expected an int '
                             '>= 1')
        self.eval_text_batch_size = eval_text_batch_size
        # Set by SortedTextEvalHook while a retrieval loop runs: 'tensor'
        # mode then encodes the images only and predict_all encodes the
        # whole text gallery, shortest captions first.
        self.defer_text_feat = False
        self._deferred_autocast = None

        self.text_cache = None
        if text_cache is not None:
            if self.prompt_learner is None:
                raise ValueError(
                    'model.text_cache is only supported with a prompt learner '
                    'and Qwen3TextEncoder; got prompt_learner=None and the '
                    f'{encoder_type} text encoder. Remove text_cache')
            if self.text_side_trains:
                raise ValueError(
                    'model.text_cache needs a frozen text side, as cached '
                    'features would go stale; got text_encoder.train_mode='
                    f'{self.text_encoder.train_mode!r} and prompt_learner.'
                    f'freeze={self.prompt_learner.freeze}. Set '
                    "train_mode='frozen' and prompt_learner.freeze=True, or "
                    'remove text_cache')
            self.text_cache = TextFeatureCache(**text_cache)
            # New weights (a loaded checkpoint) need a new fingerprint.
            self.register_load_state_dict_post_hook(_invalidate_text_cache)

    @property
    def device(self) -> torch.device:
        return self.head.logit_scale.device

    @property
    def text_side_trains(self) -> bool:
        """bool: Whether anything before the text projection trains.

        Decided by the construction-time settings
        (``text_encoder.train_mode``, ``prompt_learner.freeze``), never by
        ``requires_grad``, which FSDP with ``use_orig_params=True`` reports
        as True inside the forward for frozen parameters sharing a flat
        parameter with trainable ones.
        """
        return self.text_encoder.trains_weights or (
            self.prompt_learner is not None and self.prompt_learner.trainable)

    def forward(self,
                images: Optional[torch.Tensor] = None,
                data_samples: Optional[List[DataSample]] = None,
                mode: str = 'tensor'):
        """The single entry of training, feature extraction and prediction.

        Args:
            images (torch.Tensor, optional): ``(N, C, H, W)``.
            data_samples (list[DataSample], optional): Carry ``text`` (and
                ``image_id`` in training).
            mode (str): ``'loss'`` (a dict of losses), ``'tensor'`` (a dict
                of L2-normalised ``image_feat`` / ``text_feat``) or
                ``'predict'`` (i2t and t2i predictions within the batch).
        """
        if mode == 'tensor':
            if self.defer_text_feat and images is not None:
                self._deferred_autocast = _autocast_state(images.device)
                return self.extract_feat(images)
            return self.extract_feat(images, data_samples)
        if mode == 'loss':
            return self.loss(images, data_samples)
        if mode == 'predict':
            return self.predict(images, data_samples)
        raise RuntimeError(f'Invalid mode "{mode}"; expected "loss", '
                           '"tensor" or "predict"')

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """L2-normalised joint-space features of a batch of images."""
        feat = self.image_projection(self.vision_backbone(images))
        return F.normalize(feat.float(), dim=-1)

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised joint-space features of a list of captions."""
        return self._encode_text(texts)[0]

    @torch.no_grad()
    def encode_text_gallery(self,
                            texts: Sequence[str],
                            batch_size: Optional[int] = None
                            ) -> torch.Tensor:
        """Features of many captions, encoded shortest first.

        Shortest by :meth:`text_lengths` (tokens); batches of similar
        length pad little; a caption's feature does not
        depend on its batch, so the result equals :meth:`encode_text` of the
        captions in any grouping (up to float rounding). Rows come back in
        the order of ``texts``.

        Args:
            texts (Sequence[str]): The captions.
            batch_size (int, optional): Captions per batch. Defaults to
                ``eval_text_batch_size``.

        Returns:
            torch.Tensor: ``(len(texts), D)``.
        """
        batch_size = batch_size or self.eval_text_batch_size
        if not texts:
            return self.encode_text([])
        lengths = self.text_lengths(texts)
        order = sorted(range(len(texts)), key=lengths.__getitem__)
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            feat = self.encode_text([texts[i] for i in index])
            if start == 0:
                feats = feat.new_empty(len(texts), feat.size(1))
            feats[torch.tensor(index, device=feat.device)] = feat
        return feats

    def text_lengths(self, texts: Sequence[str]) -> List[int]:
        """The length of each caption as the text tower sees it, to sort by.

        With the hybrid prompt, the token count of its whole sequence
        (prompt, caption after truncation, EOS); on the ROCOv2 test split,
        batches of 128 sorted by it pad 5.5% of the LLM's positions, sorted
        by characters 27%. Without a prompt learner (another text encoder),
        the number of characters.
        """
        if self.prompt_learner is None:
            return [len(text) for text in texts]
        sequences, _ = self.prompt_learner.tokenize(
            texts, self.text_encoder.max_length)
        return [len(sequence) for sequence in sequences]

    def _encode_text(self, texts: Sequence[str]
                     ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Text features and the padding fraction of the LLM batch.

        Returns:
            tuple: L2-normalised features ``(T, D)`` and the fraction of the
            LLM's input positions that were padding (0 when every caption
            came from the text feature cache, None without captions).
        """
        if len(texts) == 0:
            # A retrieval batch may carry no captions (class-level galleries
            # list each caption once, with one of its images).
            return self.head.logit_scale.new_zeros(
                0, self.text_projection.out_channels), None
        if self.text_cache is None:
            pooled, pad_frac = self._llm_embed(texts)
        else:
            pooled, pad_frac = self._cached_llm_embed(texts)
        feat = self.text_projection(pooled.float())
        # fp32 like the image features, also under autocast: the retrieval
        # loops score them against each other outside autocast.
        return F.normalize(feat.float(), dim=-1), pad_frac

    def _llm_embed(self,
                   texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pooled LLM embeddings ``(T, H)`` and the batch's padding fraction.

        Sequences are right-padded to the longest in the batch, never to
        ``max_length``, so the padding fraction is all the waste there is.
        Without a prompt learner the text encoder tokenises the captions.
        """
        grad_needed = torch.is_grad_enabled() and self.text_side_trains
        with nullcontext() if grad_needed else torch.no_grad():
            if self.prompt_learner is None:
                pooled, attention_mask = self.text_encoder.encode_texts(
                    texts, self.device)
            else:
                pooled, attention_mask = self._prompt_embed(texts)
        pad_frac = 1 - attention_mask.float().mean()
        return pooled, pad_frac

    def _prompt_embed(
            self,
            texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """Pooled embeddings of the captions in the hybrid prompt, and the
        attention mask of their full (prompt + caption) sequences.

        The tokens every sequence starts with (instruction, soft slots,
        query prefix) go through the LLM once when the encoder shares them.
        """
        encoder, learner = self.text_encoder, self.prompt_learner
        sequences, _ = learner.tokenize(texts, encoder.max_length)
        input_ids, attention_mask = learner.pad(sequences, self.device)
        # Shared for any batch size, one caption included, so every batch
        # makes the same LLM calls (FSDP ranks must).
        if encoder.shares_prefix:
            shared = common_prefix_length(sequences)
            head = input_ids[:1, :shared]
            prefix = learner(head, encoder.embed_tokens(head))[0]
            rest = input_ids[:, shared:]
            pooled = encoder(
                encoder.embed_tokens(rest),
                attention_mask[:, shared:],
                prefix_embeds=prefix)
        else:
            embeds = learner(input_ids, encoder.embed_tokens(input_ids))
            pooled = encoder(embeds, attention_mask)
        return pooled, attention_mask

    def _cached_llm_embed(
            self, texts: Sequence[str]) -> Tuple[torch.Tensor, torch.Tensor]:
        """:meth:`_llm_embed` through the text feature cache.

        Only the captions not cached yet go through the LLM; the padding
        fraction is theirs, 0 when there are none (no position was padded).
        """
        cache = self.text_cache
        if not cache.verified:
            cache.bind(
                text_model_fingerprint(self.text_encoder,
                                       self.prompt_learner))
        missing = cache.missing(texts)
        pad_frac = self.head.logit_scale.new_zeros(())
        if missing:
            # Without autocast, so training under AMP and evaluation cache
            # and read the same features.
            with torch.no_grad(), torch.autocast(
                    self.device.type, enabled=False):
                pooled, pad_frac = self._llm_embed(missing)
            cache.add(missing, pooled)
        return cache.get(texts).to(self.device), pad_frac

    def extract_feat(self,
                     images: Optional[torch.Tensor] = None,
                     data_samples: Optional[List[DataSample]] = None
                     ) -> Dict[str, torch.Tensor]:
        """Extract L2-normalised features of whichever modalities are given.

        Returns:
            dict: ``image_feat`` ``(N, D)`` if images are given and
            ``text_feat`` ``(T, D)`` if the samples carry text (one row per
            caption, in sample order).
        """
        feats = {}
        if images is not None:
            feats['image_feat'] = self.encode_image(images)
        if data_samples is not None and data_samples and \
                data_samples[0].get('text') is not None:
            feats['text_feat'] = self.encode_text(texts_of(data_samples))
        if not feats:
            raise ValueError('extract_feat needs images or data samples '
                             'with "text"')
        return feats

    def loss(self, images: torch.Tensor,
             data_samples: List[DataSample]) -> dict:
        """Contrastive loss of a batch of (image, caption) pairs.

        Samples sharing an ``image_id`` are positives of each other; samples
        without one are only their own positive.

        Returns:
            dict: The head's ``loss`` and ``logit_scale``, and ``pad_frac``,
            the fraction of the LLM's input positions that were padding
            (logged, not optimised).
        """
        image_feat = self.encode_image(images)
        text_feat, pad_frac = self._encode_text(texts_of(data_samples))
        if text_feat.size(0) != image_feat.size(0):
            raise ValueError(
                'training batches need exactly one caption per image, got '
                f'{image_feat.size(0)} images and {text_feat.size(0)} '
                'captions')
        # A sample without an id gets a negative one of its own, distinct
        # across ranks too, since the head compares ids over the gathered
        # global batch.
        offset = get_rank() << 32
        image_ids = torch.tensor(
            [
                s.get('image_id', -1 - i - offset)
                for i, s in enumerate(data_samples)
            ],
            dtype=torch.long,
            device=self.device)
        losses = self.head.loss(image_feat, text_feat, image_ids)
        losses['pad_frac'] = pad_frac
        return losses

    def predict(self,
                images: torch.Tensor,
                data_samples: List[DataSample],
                cal_i2t: bool = True,
                cal_t2i: bool = True):
        """Retrieve within one batch; see :meth:`predict_all`."""
        feats = self.extract_feat(images, data_samples)
        return self.predict_all(
            feats, data_samples, cal_i2t=cal_i2t, cal_t2i=cal_t2i)
