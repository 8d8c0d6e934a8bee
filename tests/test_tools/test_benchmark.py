"""tools/analysis_tools/benchmark.py runs and prints its report (not speed)."""
import importlib.util
import os
import os.path as osp
import re
import subprocess
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = 'configs/qwenclip/qwenclip_tiny_1xb32_synthetic-rocov2.py'
NUMBER = r'\d+(\.\d+)?'


def run_benchmark(*extra):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TOKENIZERS_PARALLELISM='0')
    result = subprocess.run(
        [
            sys.executable, 'tools/analysis_tools/benchmark.py', CONFIG,
            '--shape', 'tiny', '--steps', '2', '--warmup', '0',
            '--batch-size', '4', '--lengths', 'synthetic', '--threads', '1',
            *extra
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip().splitlines()


def table_row(lines, side, ckpt):
    rows = [line.split() for line in lines if line.split()[:2] == [side, ckpt]]
    assert len(rows) == 1, lines
    return rows[0]


def test_runs_all_sides_and_prints_the_report():
    lines = run_benchmark('--text-cache')
    assert re.fullmatch(rf'throughput vs reference: {NUMBER}x', lines[-1])
    header = next(line for line in lines if line.startswith('side'))
    assert header.split() == [
        'side', 'ckpt', 'samples/s', 'text', 'tok/s', 'pad_frac', 'peak',
        'MiB', 'above', 'start', 's/step', 'TFLOP/s', 'MFU'
    ]
    for side in ('ours+cache', 'ours', 'reference'):
        row = table_row(lines, side, 'off')
        assert len(row) == 10 and row[-1] == 'n/a'  # no MFU on a CPU
        samples_s, tokens_s = map(float, row[2:4])
        assert samples_s > 0 and tokens_s > samples_s
        assert float(row[5]) > 0  # peak MiB
        if side == 'ours+cache':
            assert row[4] == 'cached'
        else:
            assert 0 <= float(row[4]) < 1
    # Length grouping pads less than random batches over an epoch.
    epoch = next(line for line in lines if line.startswith('one epoch'))
    ours, reference = map(
        float, re.findall(r'(?:ours|reference) (\d\.\d+)', epoch))
    assert ours < reference
    assert 'ours+cache / reference (checkpointing off): samples/s' in \
        '\n'.join(lines)
    assert any(
        re.match(
            rf'text cache \(checkpointing off\): warm epoch {NUMBER} s vs '
            rf'{NUMBER} s without: {NUMBER}x faster', line) for line in lines)


def test_report_compares_checkpointing(capsys):
    spec = importlib.util.spec_from_file_location(
        'benchmark', osp.join(REPO_ROOT, 'tools/analysis_tools/benchmark.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    args = benchmark.parse_args([CONFIG, '--lengths', 'synthetic'])
    args.batch_size = 4

    def result(seconds, peak):
        return dict(
            samples=8, seconds=seconds, untimed_seconds=0, real_tokens=400,
            positions=500, peak=peak * 2**20, base=100 * 2**20,
            scope='over the timed steps', flops=1e12, epoch_pad_frac=0.2,
            epoch_batches=10)

    results = {
        ('ours', False, False): result(1.0, 900),
        ('reference', False, False): result(3.0, 1000),
        ('ours', False, True): result(1.5, 300),
        ('reference', False, True): dict(error='RuntimeError: out of memory'),
    }
    sides = [('ours', False), ('reference', False)]
    benchmark.report(args, results, [False, True], sides)
    lines = capsys.readouterr().out.strip().splitlines()
    assert table_row(lines, 'reference', 'on')[2:] == [
        'failed:', 'RuntimeError:', 'out', 'of', 'memory'
    ]
    assert 'ours / reference (checkpointing off): samples/s 3.00x, peak ' \
        'memory 0.90x' in lines
    assert 'checkpointing on / off, ours: peak memory 0.33x, above start ' \
        '0.25x, samples/s 0.67x' in lines
    # With checkpointing on, the reference failed: no ratio to report.
    assert lines[-1] == 'throughput vs reference: n/a'


def test_effects_alone_and_evaluation_order():
    lines = run_benchmark('--effects', '--eval-captions', '48', '--layers',
                          '1')
    assert ', 1 layers (random weights' in lines[0]
    for side in ('ours', 'grouped', 'shared', 'reference'):
        assert float(table_row(lines, side, 'off')[2]) > 0
    text = '\n'.join(lines)
    assert re.search(
        rf'effects \(checkpointing off\), samples/s vs reference: length '
        rf'grouping {NUMBER}x, shared prefix {NUMBER}x, both {NUMBER}x', text)
    assert re.search(
        rf'shared prefix, peak memory vs grouping alone \(the earlier path\)'
        rf', same batches: {NUMBER}x', text)
    evaluation = re.search(
        rf'evaluation text encoding \(48 captions\): dataset order {NUMBER} '
        rf's, length-sorted {NUMBER} s: {NUMBER}x; max abs feature '
        r'difference (\S+)', text)
    assert evaluation and float(evaluation.group(4)) < 1e-5
    # Grouped and random batches: the shared-prefix sides pad like their
    # batching, so grouping alone pads less than the shared prefix alone.
    assert float(table_row(lines, 'grouped', 'off')[4]) < float(
        table_row(lines, 'shared', 'off')[4])
    assert re.fullmatch(rf'throughput vs reference: {NUMBER}x', lines[-1])


def test_layers_builds_a_shallower_model_of_the_same_width(tiny_qwen3_dir):
    from qwenclip_mm.benchmarking import text_encoder

    def build(**kwargs):
        return text_encoder.BenchmarkQwen3TextEncoder(
            shape='tiny', pretrained=tiny_qwen3_dir, local_files_only=True,
            **kwargs).model

    full, shallow = build(), build(num_layers=1)
    assert len(full.layers) == text_encoder.TINY_SHAPE['num_hidden_layers']
    assert len(shallow.layers) == 1
    assert shallow.config.hidden_size == full.config.hidden_size
    assert shallow.config.intermediate_size == full.config.intermediate_size
    assert shallow.config.vocab_size == full.config.vocab_size
