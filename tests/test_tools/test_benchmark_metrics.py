"""tools/analysis_tools/benchmark_metrics.py runs, checks its numbers
against MMPretrain's RetrievalRecall and prints its report (not speed)."""
import re

from utils import run_tool

NUMBER = r'\d+\.\d+'


def test_small_run_prints_table_and_speedup():
    result = run_tool([
        'tools/analysis_tools/benchmark_metrics.py', '--num-queries', '120',
        '--gallery', '50', '--positives', '3', '--repeats', '2'
    ])
    lines = result.stdout.strip().splitlines()

    assert '120 queries x 50 gallery, 3 positives each' in result.stdout
    recalls = {}
    for name, runs in (('ImageTextRetrievalMetric (Evaluator)',
                        rf'{NUMBER}-{NUMBER}'),
                       ('retrieval_recall (score matrix)',
                        rf'{NUMBER}-{NUMBER}'),
                       ('mmpretrain RetrievalRecall (Evaluator)',
                        r'\(1 run\)')):
        (line, ) = [line for line in lines if line.startswith(name)]
        match = re.fullmatch(
            rf'{re.escape(name)} +{NUMBER} +{runs}((?: +{NUMBER}){{3}})',
            line)
        assert match, line
        recalls[name] = match.group(1).split()
    # Same Recall@1/5/10 from all three.
    assert len(set(map(tuple, recalls.values()))) == 1
    assert re.fullmatch(rf'speedup: {NUMBER}x', lines[-1]), lines[-1]
