"""Time and peak memory of one benchmark side, each in a fresh process.

Peak memory is measured over the timed steps (after the warm-up, whose
one-time allocations it leaves out): on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the kernel's peak resident
set size (``VmHWM``, reset with ``/proc/self/clear_refs``).
"""
import copy
import multiprocessing as mp
import time

import torch
from mmengine.registry import init_default_scope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

from . import text_encoder  # noqa: F401  (registers the benchmark encoder)
from .flops import flops_per_sample, llm_positions
from .reference import reference_loss


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


def _send(measure, spec, conn):
    """Send ``measure(**spec)``, or the error it raised, through conn."""
    try:
        conn.send(measure(**spec))
    except Exception as e:  # report any failure (e.g. out of memory)
        conn.send(dict(error=f'{type(e).__name__}: {e}'))
    conn.close()


def run_side(spec, conn):
    """Build the model and time one side; send the results through conn."""
    _send(_run_side, spec, conn)


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

    def run(batches):
        start = time.perf_counter()
        for batch in batches:
            step(batch)
        if device == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    untimed_s = run(untimed)
    base = memory.reset()
    seconds = run(timed)

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
    _send(_run_eval, spec, conn)


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
