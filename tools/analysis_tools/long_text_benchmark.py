"""Does reading the whole report pay? 77-token vs 512-token text towers.

Trains the same tiny QwenCLIP twice on the synthetic ROCOv2-layout data set
(``configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py``), once with
each caption cut at 77 tokens (CLIP's budget) and once at 512 tokens, with
the standard ``tools/train.py``, then evaluates both on the test split: on
all captions and on the long-caption subset, the captions whose first
distinguishing word (modality, region, position or size of the finding)
comes after their 77th token. Prints one table, ends with the line
``long-caption R@1: 77 tokens = <a>, 512 tokens = <b>`` (the mean of
image-to-text and text-to-image R@1 on that subset) and writes a plot.

Run from the repository root::

    python tools/analysis_tools/long_text_benchmark.py [--epochs 30]
"""
import argparse
import json
import os
import os.path as osp
import re
import subprocess
import sys

import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py'
TOPK = (1, 5, 10)


def parse_args():
    parser = argparse.ArgumentParser(
        description='Compare 77-token and 512-token caption budgets')
    parser.add_argument(
        '--work-dir',
        default='work_dirs/long_text_benchmark',
        help='where the runs, the table and the plot go')
    parser.add_argument(
        '--budgets',
        type=int,
        nargs='+',
        default=[77, 512],
        help='caption token budgets to compare')
    parser.add_argument(
        '--epochs', type=int, default=30, help='training epochs per run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='more overrides for tools/train.py, e.g. '
        'model.text_encoder.train_mode=full')
    return parser.parse_args()


def train(budget: int, epochs: int, work_dir: str, extra: list) -> str:
    """Train one budget with tools/train.py; return its last checkpoint."""
    options = [
        f'model.prompt_learner.max_caption_tokens={budget}',
        # Room for the prompt on top of the caption budget.
        f'model.text_encoder.max_length={budget + 128}',
        f'train_cfg.max_epochs={epochs}',
        f'param_scheduler.1.end={epochs}',
        f'train_cfg.val_interval={epochs}',
        *extra,
    ]
    cmd = [
        sys.executable, 'tools/train.py', CONFIG, '--work-dir', work_dir,
        '--cfg-options', *options
    ]
    print('$ ' + ' '.join(cmd[1:]), flush=True)
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


@torch.no_grad()
def extract(config, checkpoint: str, budget: int):
    """Test-split features, captions and ground truth of one checkpoint."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    from mmpretrain.registry import MODELS
    init_default_scope(config.get('default_scope', 'mmpretrain'))
    cfg = config.copy()
    cfg.model.prompt_learner.max_caption_tokens = budget
    cfg.model.text_encoder.max_length = budget + 128
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.eval()
    loader = Runner.build_dataloader(cfg.test_dataloader)
    image_feats, text_feats, captions, text_to_image = [], [], [], []
    for batch in loader:
        data = model.data_preprocessor(batch, False)
        feats = model.extract_feat(data['images'], data['data_samples'])
        image_feats.append(feats['image_feat'])
        text_feats.append(feats['text_feat'])
        for sample in data['data_samples']:
            captions.extend(sample.text)
            text_to_image.extend(sample.gt_image_id)
    return (torch.cat(image_feats), torch.cat(text_feats), captions,
            torch.tensor(text_to_image), model.text_encoder.tokenizer)


def first_key_token(caption: str, tokenizer) -> int:
    """Index of the token where the caption's first distinguishing word
    starts (len(tokens) if it has none)."""
    from qwenclip_mm.testing.synthetic_rocov2 import KEY_WORDS
    encoded = tokenizer(
        caption, add_special_tokens=False, return_offsets_mapping=True)
    starts = [start for start, _ in encoded['offset_mapping']]
    for match in re.finditer(r'\w+', caption):
        if match.group().lower() in KEY_WORDS:
            return sum(1 for s in starts if s < match.start())
    return len(starts)


def evaluate(image_feat, text_feat, text_to_image, queries):
    """i2t and t2i Recall@K of the given caption indices (and their images)
    against the whole test gallery."""
    from qwenclip_mm.evaluation import retrieval_recall
    images = text_to_image[queries]
    t2i = retrieval_recall(text_feat[queries] @ image_feat.t(),
                           [[int(i)] for i in images], TOPK)
    i2t_positives = [
        torch.nonzero(text_to_image == i).flatten().tolist() for i in images
    ]
    i2t = retrieval_recall(image_feat[images] @ text_feat.t(), i2t_positives,
                           TOPK)
    return {'i2t': i2t, 't2i': t2i}


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    budgets = sorted(results)
    width = 0.8 / len(budgets)
    for ax, subset in zip(axes, ('all', 'long')):
        for j, budget in enumerate(budgets):
            values = [
                (results[budget][subset]['i2t'][f'Recall@{k}'] +
                 results[budget][subset]['t2i'][f'Recall@{k}']) / 2
                for k in TOPK
            ]
            xs = [i + j * width for i in range(len(TOPK))]
            ax.bar(xs, values, width, label=f'{budget} tokens')
        ax.set_xticks([i + width * (len(budgets) - 1) / 2
                       for i in range(len(TOPK))])
        ax.set_xticklabels([f'R@{k}' for k in TOPK])
        ax.set_title(f'{subset} captions (mean of i2t and t2i)')
        ax.set_ylim(0, 100)
    axes[0].set_ylabel('recall (%)')
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    args = parse_args()
    os.chdir(REPO_ROOT)
    from qwenclip_mm.testing.demo_assets import ensure_demo_assets
    ensure_demo_assets()
    from mmengine.config import Config

    import qwenclip_mm  # noqa: F401
    config = Config.fromfile(CONFIG)

    results, subset_sizes = {}, {}
    for budget in args.budgets:
        run_dir = osp.join(args.work_dir, f'budget_{budget}')
        checkpoint = train(budget, args.epochs, run_dir, args.cfg_options)
        image_feat, text_feat, captions, text_to_image, tokenizer = extract(
            config, checkpoint, budget)
        long = [
            i for i, c in enumerate(captions)
            if first_key_token(c, tokenizer) >= 77
        ]
        subsets = {'all': list(range(len(captions))), 'long': long}
        subset_sizes = {k: len(v) for k, v in subsets.items()}
        results[budget] = {
            name: evaluate(image_feat, text_feat, text_to_image,
                           torch.tensor(queries))
            for name, queries in subsets.items()
        }

    lines = [
        f"{'budget':>7} {'subset':<12}" +
        ''.join(f'{d} R@{k:<4}' for d in ('i2t', 't2i') for k in TOPK)
    ]
    for budget in args.budgets:
        for subset in ('all', 'long'):
            row = results[budget][subset]
            lines.append(f'{budget:>7} {subset:<5}({subset_sizes[subset]:>4}) ' +
                         ''.join(f'{row[d][f"Recall@{k}"]:>9.1f}'
                                 for d in ('i2t', 't2i') for k in TOPK))
    table = '\n'.join(lines)
    print(table)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump({str(k): v for k, v in results.items()}, f, indent=2)
    plot_path = osp.join(args.work_dir, 'long_text_benchmark.png')
    plot(results, plot_path)
    print(f'plot: {plot_path}')

    def long_r1(budget):
        row = results[budget]['long']
        return (row['i2t']['Recall@1'] + row['t2i']['Recall@1']) / 2

    short, full = min(args.budgets), max(args.budgets)
    print(f'long-caption R@1: {short} tokens = {long_r1(short):.1f}, '
          f'{full} tokens = {long_r1(full):.1f}')


if __name__ == '__main__':
    main()
