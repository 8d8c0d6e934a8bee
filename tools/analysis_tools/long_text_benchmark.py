"""Does reading the whole report pay? 77-token vs 512-token text towers.

Trains the same tiny QwenCLIP twice on the synthetic ROCOv2-layout data set
(``configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py``), once with
each caption cut at 77 tokens (CLIP's budget) and once at 512 tokens, with
the standard ``tools/train.py``, then evaluates both on the test split: on
all captions and on the long-caption subset, the captions whose first
distinguishing word (modality, region, position or size of the finding)
comes after their 77th token (of the tiny Qwen3's tokenizer). Prints one
table, ends with the line
``long-caption R@1: 77 tokens = <a>, 512 tokens = <b>`` (the mean of
image-to-text and text-to-image R@1 on that subset) and writes a plot and
``results.json``.

With ``--bert`` a third model joins the table as ``bert-512``: the same
image tower with a BERT-style text encoder instead of the prompt and the
Qwen3 LLM (:class:`~qwenclip_mm.models.HFTextEncoder`, ``[CLS]`` pooling,
``prompt_learner=None``), the class of text tower medical CLIPs such as
BiomedCLIP (PubMedBERT) use, with its hard limit of 512 tokens. It is a
tiny random BERT of the tiny Qwen3's size (width 64, 2 layers) with a
WordPiece tokenizer learned from the synthetic captions, written under the
work directory by :func:`~qwenclip_mm.testing.tiny_bert.make_tiny_bert`
and trained in full, like the tiny Qwen3. Its long-caption R@1 is printed
on a line of its own before the last line, with the length of the longest
test caption in BERT tokens: on this data set every caption fits in 512,
so the comparison shows what the 77-token cut costs, not what lies beyond
BERT's limit.

Run from the repository root::

    python tools/analysis_tools/long_text_benchmark.py [--epochs 30] [--bert]
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
BERT = 'bert-512'
BERT_MAX_LENGTH = 512
# Where a caption counts as long: CLIP's text budget.
LONG_AFTER = 77


def parse_args(argv=None):
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
        '--bert',
        action='store_true',
        help='also train and test a BERT-style text encoder reading 512 '
        'tokens (a tiny random BERT written under the work directory)')
    parser.add_argument(
        '--data-root',
        default='data/synthetic-rocov2',
        help='the synthetic ROCOv2-layout data set (written if missing)')
    parser.add_argument(
        '--tiny-qwen3',
        default='data/qwen3-tiny',
        help='the tiny Qwen3 checkpoint (written if missing)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='more overrides for tools/train.py, e.g. '
        'model.text_encoder.train_mode=full')
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error(f'--epochs must be at least 2 (the schedule warms up '
                     f'for one epoch, then decays), got {args.epochs}')
    return args


def budget_options(budget: int) -> list:
    """Overrides that cut the Qwen3 path's captions at ``budget`` tokens."""
    return [
        f'model.prompt_learner.max_caption_tokens={budget}',
        # Room for the prompt on top of the caption budget.
        f'model.text_encoder.max_length={budget + 128}',
    ]


def bert_options(bert_dir: str, hidden_size: int) -> list:
    """Overrides that swap the prompt and the Qwen3 LLM for a BERT."""
    return [
        'model.prompt_learner=None',
        # Replace the text encoder's config, not merge into Qwen3's keys.
        'model.text_encoder._delete_=True',
        'model.text_encoder.type=HFTextEncoder',
        f'model.text_encoder.pretrained={bert_dir}',
        f'model.text_encoder.max_length={BERT_MAX_LENGTH}',
        'model.text_encoder.pooling=cls',
        # Random, not pretrained: it has to learn, as the tiny Qwen3 does.
        'model.text_encoder.train_mode=full',
        'model.text_encoder.local_files_only=True',
        f'model.text_projection.in_channels={hidden_size}',
    ]


def train(model_options: list, epochs: int, work_dir: str,
          extra: list) -> str:
    """Train one model with tools/train.py; return its last checkpoint."""
    options = [
        *model_options,
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
def extract(work_dir: str, checkpoint: str):
    """Test-split features, captions and ground truth of one checkpoint.

    The model is built from the config tools/train.py saved in
    ``work_dir``, with every override of the run.
    """
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner, load_checkpoint
    from mmpretrain.registry import MODELS
    cfg = Config.fromfile(osp.join(work_dir, osp.basename(CONFIG)))
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
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


def label(run) -> str:
    """Legend name of a run: a token budget or :data:`BERT`."""
    return 'BERT-style, 512 tokens' if run == BERT else f'{run} tokens'


def plot(results: dict, path: str) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), sharey=True)
    runs = list(results)
    width = 0.8 / len(runs)
    for ax, subset in zip(axes, ('all', 'long')):
        for j, run in enumerate(runs):
            values = [
                (results[run][subset]['i2t'][f'Recall@{k}'] +
                 results[run][subset]['t2i'][f'Recall@{k}']) / 2
                for k in TOPK
            ]
            xs = [i + j * width for i in range(len(TOPK))]
            ax.bar(xs, values, width, label=label(run))
        ax.set_xticks([i + width * (len(runs) - 1) / 2
                       for i in range(len(TOPK))])
        ax.set_xticklabels([f'R@{k}' for k in TOPK])
        ax.set_title(f'{subset} captions (mean of i2t and t2i)')
        ax.set_ylim(0, 100)
    axes[0].set_ylabel('recall (%)')
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    args = parse_args(argv)
    os.chdir(REPO_ROOT)
    from qwenclip_mm.testing.demo_assets import ensure_demo_assets
    ensure_demo_assets(args.data_root, args.tiny_qwen3)
    data = [
        f'{split}_dataloader.dataset.data_root={osp.abspath(args.data_root)}'
        for split in ('train', 'val', 'test')
    ]
    qwen3 = f'model.text_encoder.pretrained={osp.abspath(args.tiny_qwen3)}'

    import qwenclip_mm  # noqa: F401

    runs = {
        budget: [*budget_options(budget), qwen3]
        for budget in args.budgets
    }
    if args.bert:
        from qwenclip_mm.testing import synthetic_corpus
        from qwenclip_mm.testing.tiny_bert import make_tiny_bert
        bert_dir = osp.abspath(osp.join(args.work_dir, 'bert-tiny'))
        hidden_size = 64
        print(f'writing a tiny random BERT checkpoint to {bert_dir}')
        make_tiny_bert(
            bert_dir, corpus=synthetic_corpus(), hidden_size=hidden_size)
        runs[BERT] = bert_options(bert_dir, hidden_size)

    results, subsets, bert_lengths = {}, None, None
    for run, model_options in runs.items():
        run_dir = osp.join(args.work_dir,
                           run if run == BERT else f'budget_{run}')
        checkpoint = train(model_options, args.epochs, run_dir,
                           [*data, *args.cfg_options])
        image_feat, text_feat, captions, text_to_image, tokenizer = extract(
            run_dir, checkpoint)
        if subsets is None:
            # From the first (Qwen3) run's tokenizer, the same captions for
            # every run; the test split is read in the same order each time.
            subsets = {
                'all': list(range(len(captions))),
                'long': [
                    i for i, c in enumerate(captions)
                    if first_key_token(c, tokenizer) >= LONG_AFTER
                ]
            }
        if run == BERT:
            bert_lengths = [len(ids) for ids in tokenizer(captions).input_ids]
        results[run] = {
            name: evaluate(image_feat, text_feat, text_to_image,
                           torch.tensor(queries))
            for name, queries in subsets.items()
        }

    width = max(7, *(len(str(run)) for run in results))
    lines = [
        f"{'budget':>{width}} {'subset':<12}" +
        ''.join(f'{d} R@{k:<4}' for d in ('i2t', 't2i') for k in TOPK)
    ]
    for run in results:
        for subset in ('all', 'long'):
            row = results[run][subset]
            lines.append(
                f'{run:>{width}} {subset:<5}({len(subsets[subset]):>4}) ' +
                ''.join(f'{row[d][f"Recall@{k}"]:>9.1f}'
                        for d in ('i2t', 't2i') for k in TOPK))
    table = '\n'.join(lines)
    print(table)
    with open(osp.join(args.work_dir, 'results.json'), 'w') as f:
        json.dump({str(k): v for k, v in results.items()}, f, indent=2)
    plot_path = osp.join(args.work_dir, 'long_text_benchmark.png')
    plot(results, plot_path)
    print(f'plot: {plot_path}')

    def long_r1(run):
        row = results[run]['long']
        return (row['i2t']['Recall@1'] + row['t2i']['Recall@1']) / 2

    if args.bert:
        cut = sum(n > BERT_MAX_LENGTH for n in bert_lengths)
        print(f'long-caption R@1: BERT-style {BERT_MAX_LENGTH} tokens = '
              f'{long_r1(BERT):.1f} (longest test caption: '
              f'{max(bert_lengths)} BERT tokens; {cut} of '
              f'{len(bert_lengths)} cut at {BERT_MAX_LENGTH})')
    # The shortest and the longest budget (one, if only one was run).
    budgets = sorted(set(args.budgets))
    ends = budgets if len(budgets) == 1 else [budgets[0], budgets[-1]]
    print('long-caption R@1: ' + ', '.join(
        f'{budget} tokens = {long_r1(budget):.1f}' for budget in ends))


if __name__ == '__main__':
    main()
