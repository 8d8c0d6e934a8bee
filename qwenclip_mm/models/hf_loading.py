"""Hugging Face checkpoints loaded safely, for every text encoder.

:func:`load_pretrained` never runs code from a checkpoint folder
(``trust_remote_code``) and names the folder and what was expected when
loading fails; :func:`resolve_dtype` reads a config's ``dtype``.
"""
import os.path as osp
from typing import Union

import torch

DTYPES = {
    'float32': torch.float32,
    'fp32': torch.float32,
    'bfloat16': torch.bfloat16,
    'bf16': torch.bfloat16,
    'float16': torch.float16,
    'fp16': torch.float16,
}


def resolve_dtype(dtype: Union[str, torch.dtype, None]):
    """A ``dtype`` argument of a text encoder as a ``torch.dtype``.

    None, ``'auto'`` and ``torch.dtype`` pass through unchanged.

    Raises:
        ValueError: For a name not in :data:`DTYPES`.
    """
    if dtype is None or isinstance(dtype, torch.dtype) or dtype == 'auto':
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f'text_encoder.dtype={dtype!r} is not supported; '
                         f'expected one of {sorted(DTYPES)} or "auto"')
    return DTYPES[dtype]


def load_pretrained(pretrained: str,
                    what: str,
                    local_files_only: bool,
                    family: str = 'Qwen3',
                    example_id: str = 'Qwen/Qwen3-Embedding-0.6B',
                    **kwargs):
    """Load a tokenizer or model with ``AutoTokenizer`` / ``AutoModel``.

    Never with ``trust_remote_code``: a folder whose config or tokenizer
    config asks for its own Python code is refused before anything runs.

    Args:
        pretrained (str): Hub id or local folder.
        what (str): ``'tokenizer'`` or ``'model'``.
        local_files_only (bool): Never contact the hub.
        family (str): Kind of checkpoint expected, named in the errors.
            Defaults to ``'Qwen3'``.
        example_id (str): A hub id of that kind, named in the errors.
            Defaults to ``'Qwen/Qwen3-Embedding-0.6B'``.
        **kwargs: More arguments of ``from_pretrained``.
    """
    from transformers import AutoModel, AutoTokenizer, PretrainedConfig
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING
    from transformers.models.auto.tokenization_auto import \
        get_tokenizer_config
    looks_local = (
        osp.isabs(pretrained) or pretrained.startswith('.')
        or pretrained.count('/') != 1)
    if looks_local and not osp.isdir(pretrained):
        raise FileNotFoundError(
            f'text_encoder.pretrained={pretrained!r}: no such folder. '
            f'Expected a local folder with a {family} config.json, '
            'weights and tokenizer files, or a hub id like '
            f'"{example_id}".')
    loader = AutoTokenizer if what == 'tokenizer' else AutoModel
    try:
        # Read as plain JSON first (nothing runs): with an "auto_map"
        # and a built-in model_type, transformers would silently load
        # its own class instead of the one the folder asks for.
        config = PretrainedConfig.get_config_dict(
            pretrained, local_files_only=local_files_only)[0]
        needs_code = []
        if config.get('auto_map'):
            needs_code.append(
                f'config.json has "auto_map" {config["auto_map"]}')
        model_type = config.get('model_type')
        if model_type not in CONFIG_MAPPING:
            needs_code.append(
                f'config.json has model_type={model_type!r}, which '
                'transformers has no built-in class for')
        if what == 'tokenizer':
            tokenizer_map = get_tokenizer_config(
                pretrained,
                local_files_only=local_files_only).get('auto_map')
            if tokenizer_map:
                needs_code.append('tokenizer_config.json has "auto_map" '
                                  f'{tokenizer_map}')
        if not needs_code:
            return loader.from_pretrained(
                pretrained,
                trust_remote_code=False,
                local_files_only=local_files_only,
                **kwargs)
    except ValueError as e:
        if 'trust_remote_code' in str(e):
            raise ValueError(
                f'text_encoder.pretrained={pretrained!r} needs custom '
                'code from the checkpoint (trust_remote_code), which '
                'QwenCLIP never runs: a checkpoint folder may not execute '
                f'code on your machine. Use a {family} checkpoint that '
                f'transformers supports natively. ({e})') from e
        raise
    except OSError as e:
        raise OSError(
            f'text_encoder.pretrained={pretrained!r}: could not load the '
            f'{what}. Expected a local folder with config.json, weights '
            'and tokenizer files, or a hub id reachable from here. '
            f'({e})') from e
    raise ValueError(
        f'text_encoder.pretrained={pretrained!r} asks for its own Python '
        f'code: {"; ".join(needs_code)}. QwenCLIP always loads with '
        'trust_remote_code=False, because code shipped in a checkpoint '
        'folder would run on your machine. Use a checkpoint whose '
        'model_type transformers has built in (e.g. "qwen3", "bert"); if the '
        'built-in class is what you want, delete "auto_map".')
