"""Pooled LLM caption embeddings, computed once when the text side is frozen.

With a frozen LLM and a frozen (or no) soft prompt, a caption's LLM
embedding never changes, yet it costs a pass through a 0.6B-8B model every
epoch. :class:`TextFeatureCache` keeps it, keyed by the caption text, for a
model identified by :func:`text_model_fingerprint`; only the text
projection, which trains, runs every step.
"""
import hashlib
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import get_dist_info

FILE_FORMAT = 'qwenclip_mm.TextFeatureCache/1'

#: Values hashed per tensor for the weight digest; all of a smaller tensor.
DIGEST_VALUES_PER_TENSOR = 1 << 16

#: The LLM config fields that change what it computes.
ARCHITECTURE_FIELDS = ('model_type', 'hidden_size', 'intermediate_size',
                       'num_hidden_layers', 'num_attention_heads',
                       'num_key_value_heads', 'head_dim', 'hidden_act',
                       'rms_norm_eps', 'rope_theta', 'rope_scaling',
                       'rope_parameters', 'attention_bias', 'vocab_size',
                       'use_sliding_window', 'sliding_window', 'layer_types')


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    """The raw bytes of a tensor, whatever its dtype (bf16 included)."""
    flat = tensor.detach().reshape(-1).contiguous().cpu()
    return flat.view(torch.uint8).numpy().tobytes()


def weights_digest(module: torch.nn.Module) -> str:
    """Hash a module's state dict: names, shapes, dtypes and values.

    Hashing every byte of an 8B model would take tens of seconds, so each
    tensor contributes at most :data:`DIGEST_VALUES_PER_TENSOR` evenly spaced
    values (all of a smaller one). Another checkpoint, or one training step
    on it, changes values all over every matrix, which this still sees.

    Args:
        module (torch.nn.Module): The LLM.

    Returns:
        str: A 16-digit hex digest.
    """
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // DIGEST_VALUES_PER_TENSOR)
        h.update(f'{name}:{tuple(tensor.shape)}:{tensor.dtype}'.encode())
        h.update(_tensor_bytes(flat[::step][:DIGEST_VALUES_PER_TENSOR]))
    return h.hexdigest()[:16]


def _tokenizer_digest(tokenizer) -> str:
    backend = getattr(tokenizer, 'backend_tokenizer', None)
    if backend is not None:
        return _sha(backend.to_str().encode())
    return _sha(json.dumps(sorted(tokenizer.get_vocab().items())).encode())


def text_model_fingerprint(text_encoder, prompt_learner) -> Dict[str, str]:
    """Identify everything that decides a caption's pooled LLM embedding.

    Args:
        text_encoder (Qwen3TextEncoder): The LLM, its tokenizer,
            ``max_length`` and ``attn_implementation``.
        prompt_learner (HybridPromptLearner): The prompt around the caption.

    Returns:
        dict[str, str]: One entry per part, so a mismatch can name the part:
        ``llm_config`` (the architecture fields of the LLM config),
        ``llm_weights`` (:func:`weights_digest`), ``tokenizer``, ``prompt``
        (:meth:`HybridPromptLearner.fingerprint_fields`: the prompt's token
        ids, the number of soft vectors and the caption budget
        ``max_caption_tokens``), ``soft_prompt`` (its values),
        ``max_length``, ``attn_implementation`` (kernels round differently)
        and ``dtype`` (of the LLM weights).
    """
    llm = text_encoder.model
    config = {k: getattr(llm.config, k, None) for k in ARCHITECTURE_FIELDS}
    return dict(
        llm_config=_sha(
            json.dumps(config, sort_keys=True, default=str).encode()),
        llm_weights=weights_digest(llm),
        tokenizer=_tokenizer_digest(text_encoder.tokenizer),
        prompt=_sha(
            json.dumps(prompt_learner.fingerprint_fields(),
                       sort_keys=True).encode()),
        soft_prompt=_sha(_tensor_bytes(prompt_learner.soft_prompt)),
        max_length=str(text_encoder.max_length),
        attn_implementation=str(text_encoder.attn_implementation),
        dtype=str(next(llm.parameters()).dtype))


class TextFeatureCache:
    """Caption -> pooled LLM embedding, in memory and optionally on disk.

    The cache belongs to one text model at a time, named by its
    :func:`text_model_fingerprint`. :meth:`bind` sets it; a different
    fingerprint empties the memory (those features belong to the old model)
    and reads ``file`` if it exists, refusing a file made by another model.
    :meth:`save` writes what the memory holds. Features are kept on the CPU
    in the dtype the LLM computed them in.

    In a distributed run each rank caches the captions it sees and reads and
    writes its own file, ``{file stem}.rank{r}{ext}``.

    Args:
        file (str, optional): Where to keep the features between runs. None
            keeps them in memory only; :class:`TextFeatureCacheHook` sets it
            to a file in the work directory. Defaults to None.
    """

    def __init__(self, file: Optional[str] = None):
        self.file = file
        self.fingerprint: Optional[Dict[str, str]] = None
        self.verified = False
        self._features: Dict[str, torch.Tensor] = {}
        self._unsaved = False

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, text: str) -> bool:
        return text in self._features

    @property
    def path(self) -> Optional[str]:
        """str | None: This rank's file."""
        if self.file is None:
            return None
        rank, world_size = get_dist_info()
        if world_size == 1:
            return self.file
        stem, ext = osp.splitext(self.file)
        return f'{stem}.rank{rank}{ext}'

    def invalidate(self) -> None:
        """Mark the fingerprint for checking before the next use.

        Called when the model's weights may have changed (a checkpoint was
        loaded).
        """
        self.verified = False

    def bind(self, fingerprint: Dict[str, str]) -> None:
        """Attach the cache to the model with ``fingerprint``.

        Raises:
            ValueError: If :attr:`path` holds features of another model.
        """
        if fingerprint != self.fingerprint:
            self._features.clear()
            self._unsaved = False
            self.fingerprint = dict(fingerprint)
            self._load()
        self.verified = True

    def missing(self, texts: Sequence[str]) -> List[str]:
        """The distinct ``texts`` not cached yet, in order of appearance."""
        return [t for t in dict.fromkeys(texts) if t not in self._features]

    def add(self, texts: Sequence[str], features: torch.Tensor) -> None:
        """Cache ``features[i]`` as the embedding of ``texts[i]``."""
        if len(texts) != features.size(0):
            raise ValueError(f'{len(texts)} texts but {features.size(0)} '
                             'feature rows')
        for text, row in zip(texts, features.detach().cpu()):
            self._features[text] = row
        self._unsaved = True

    def get(self, texts: Sequence[str]) -> torch.Tensor:
        """Stack the cached features of ``texts``, ``(len(texts), H)``.

        Raises:
            KeyError: If a text is not cached.
        """
        return torch.stack([self._features[t] for t in texts])

    def save(self) -> bool:
        """Write the features to :attr:`path` if there are new ones.

        The file is replaced atomically, so a run killed while saving
        leaves the previous file intact.

        Returns:
            bool: Whether a file was written.
        """
        path = self.path
        if path is None or not self._unsaved:
            return False
        os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
        tmp = f'{path}.tmp'
        torch.save(
            dict(
                format=FILE_FORMAT,
                fingerprint=self.fingerprint,
                texts=list(self._features),
                features=torch.stack(list(self._features.values()))), tmp)
        os.replace(tmp, path)
        self._unsaved = False
        return True

    def _load(self) -> None:
        path = self.path
        if path is None or not osp.isfile(path):
            return
        # Only tensors, strings and dicts: no pickled code is ever run.
        data = torch.load(path, map_location='cpu', weights_only=True)
        if not isinstance(data, dict) or data.get('format') != FILE_FORMAT:
            raise ValueError(f'{path} is not a text feature cache file '
                             f'(expected format {FILE_FORMAT!r})')
        theirs = data['fingerprint']
        differ = [
            f'{key} (file {theirs.get(key)!r}, model '
            f'{self.fingerprint[key]!r})' for key in self.fingerprint
            if theirs.get(key) != self.fingerprint[key]
        ]
        if differ:
            raise ValueError(
                f'The text feature cache {path} was made by another text '
                f'model or prompt; these differ: {"; ".join(differ)}. Its '
                'features would be wrong for this model: delete the file or '
                'set model.text_cache.file to another path.')
        self._features = dict(zip(data['texts'], data['features']))
