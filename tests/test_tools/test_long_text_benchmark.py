"""tools/analysis_tools/long_text_benchmark.py end to end, two short epochs
per model: the three runs, the table, the two summary lines and the plot."""
import json
import os.path as osp
import re

from utils import run_tool

from qwenclip_mm.testing.synthetic_rocov2 import make_synthetic_rocov2

TOOL = osp.join('tools', 'analysis_tools', 'long_text_benchmark.py')
NUMBER = r'\d+\.\d'
CONFIG_NAME = 'qwenclip_tiny_1xb32_synthetic-rocov2.py'


def test_budgets_and_bert_baseline(tiny_qwen3_dir, tmp_path):
    data_root = str(tmp_path / 'data')
    make_synthetic_rocov2(data_root, num_train=32, num_valid=8, num_test=24)
    work_dir = tmp_path / 'work'
    result = run_tool([
        TOOL, '--epochs', '2', '--bert', '--work-dir',
        str(work_dir), '--data-root', data_root, '--tiny-qwen3',
        tiny_qwen3_dir, '--cfg-options', 'train_dataloader.batch_size=16'
    ])
    lines = result.stdout.strip().splitlines()

    # The last line, as the issue fixes it; the BERT line just before.
    assert re.fullmatch(
        rf'long-caption R@1: 77 tokens = {NUMBER}, 512 tokens = {NUMBER}',
        lines[-1]), lines[-1]
    assert re.fullmatch(
        rf'long-caption R@1: BERT-style 512 tokens = {NUMBER} \(longest '
        r'test caption: \d+ BERT tokens; 0 of 24 cut at 512\)', lines[-2])

    rows = [line.split() for line in lines
            if re.match(r'\s*(77|512|bert-512) (all|long) ', line)]
    assert [row[:2] for row in rows] == [[run, subset]
                                         for run in ('77', '512', 'bert-512')
                                         for subset in ('all', 'long')]
    sizes = [int(re.search(r'\(\s*(\d+)\)', line).group(1))
             for line in lines if re.match(r'\s*77 (all|long) ', line)]
    # About 30% of the synthetic captions are long reports.
    assert sizes[0] == 24 and 0 < sizes[1] < 24

    with open(work_dir / 'results.json') as f:
        results = json.load(f)
    assert set(results) == {'77', '512', 'bert-512'}
    for run in results.values():
        for subset in ('all', 'long'):
            for direction in ('i2t', 't2i'):
                recall = run[subset][direction]
                assert 0 <= recall['Recall@1'] <= recall['Recall@5'] <= \
                    recall['Recall@10'] <= 100
    assert (work_dir / 'long_text_benchmark.png').stat().st_size > 0

    # Each run trained what it says: the caption budget, or the BERT.
    def saved_model(run_dir):
        with open(work_dir / run_dir / CONFIG_NAME) as f:
            return f.read()

    assert 'max_caption_tokens=77' in saved_model('budget_77')
    assert 'max_caption_tokens=512' in saved_model('budget_512')
    bert = saved_model('bert-512')
    assert "type='HFTextEncoder'" in bert and 'prompt_learner=None' in bert


def test_too_few_epochs_is_refused():
    result = run_tool([TOOL, '--epochs', '1'], check=False)
    assert result.returncode == 2
    assert '--epochs must be at least 2' in result.stderr
