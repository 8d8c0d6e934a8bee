"""Run mmpretrain's own tests plain and with ``qwenclip_mm`` imported first,
and diff the outcome of every test.

mmpretrain's tests are not installed with it; check out its ``tests/``
folder for the installed release, e.g.::

    git clone --depth 1 -b v1.2.0 https://github.com/open-mmlab/mmpretrain
    python tools/misc/check_host_suite.py mmpretrain/tests

The same subset runs twice, each in a fresh pytest process: plain, then with
``-p qwenclip_mm.testing.import_first``. The tool prints the passed / failed
/ skipped counts of both runs and every test whose outcome differs. A
difference listed in :data:`EXPLAINED` (with why it differs) is expected;
any other one makes the exit status 1.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter

#: The subset: what runs offline on a CPU in a few minutes (metrics, hooks,
#: optimizers, data sets, transforms, structures, five backbones,
#: retrievers, classifiers, LoRA), relative to the tests folder.
SUBSET = (
    # test_multi_label.py and test_voc_metrics.py need scikit-learn, which
    # mmpretrain does not install.
    'test_evaluation/test_metrics/test_gqa.py',
    'test_evaluation/test_metrics/test_metric_utils.py',
    'test_evaluation/test_metrics/test_multi_task_metrics.py',
    'test_evaluation/test_metrics/test_retrieval.py',
    'test_evaluation/test_metrics/test_scienceqa.py',
    'test_evaluation/test_metrics/test_shape_bias_metric.py',
    'test_evaluation/test_metrics/test_single_label.py',
    'test_engine/test_hooks',
    'test_engine/test_optimizers',
    'test_datasets/test_transforms',
    'test_datasets/test_samplers',
    'test_datasets/test_dataset_utils.py',
    'test_structures',
    'test_models/test_backbones/test_vision_transformer.py',
    'test_models/test_backbones/test_resnet.py',
    'test_models/test_backbones/test_convnext.py',
    'test_models/test_backbones/test_swin_transformer.py',
    'test_models/test_backbones/test_mobilenet_v2.py',
    'test_models/test_retrievers.py',
    'test_models/test_classifiers.py',
    'test_models/test_peft',
)

#: Tests whose outcome the plugin changes on purpose: node id -> (plain
#: outcome, outcome with the plugin, why).
_IN1D = ('numpy >= 2.4 has no np.in1d; compat override '
         'retrieval_metrics_without_in1d')
_METRICS = 'tests.test_evaluation.test_metrics.test_retrieval.'
EXPLAINED = {
    'tests.test_engine.test_hooks.test_switch_recipe_hook.'
    'TestSwitchRecipeHook::test_resume':
    ('failed', 'passed', 'torch >= 2.6 refuses HistoryBuffer in the '
     'checkpoint; compat override mmengine_checkpoint_allow_list'),
    _METRICS + 'TestRetrievalRecall::test_calculate':
    ('failed', 'passed', _IN1D),
    _METRICS + 'TestRetrievalRecall::test_evaluate':
    ('failed', 'passed', _IN1D),
    _METRICS + 'TestRetrievalAveragePrecision::test_calculate':
    ('failed', 'passed', _IN1D),
    _METRICS + 'TestRetrievalAveragePrecision::test_evaluate':
    ('failed', 'passed', _IN1D),
}

#: Tests whose outcome depends on unseeded randomness, in either run: node
#: id -> why. Their differences are listed, and never fail the check.
FLAKY = {
    'tests.test_datasets.test_transforms.test_processing.TestColorJitter::'
    'test_transform':
    'an unseeded random hue shift overflows uint8 on numpy 2 '
    '(OverflowError: Python integer -50 out of bounds for uint8) in some '
    'draws only',
}

IMPORT_FIRST_PLUGIN = 'qwenclip_mm.testing.import_first'


def parse_junit(path: str) -> dict:
    """Read a JUnit XML report into ``{test id: outcome}``.

    The outcome is ``passed``, ``failed`` (failures and errors alike) or
    ``skipped``; the id is ``classname::name`` as pytest writes them.
    """
    outcomes = {}
    for case in ET.parse(path).getroot().iter('testcase'):
        test_id = f"{case.get('classname', '')}::{case.get('name')}"
        if case.find('failure') is not None or case.find(
                'error') is not None:
            outcome = 'failed'
        elif case.find('skipped') is not None:
            outcome = 'skipped'
        else:
            outcome = 'passed'
        # A test that passes and then errors in teardown is reported twice.
        if outcomes.get(test_id) != 'failed':
            outcomes[test_id] = outcome
    return outcomes


def counts(outcomes: dict) -> Counter:
    """Count the outcomes (``passed``, ``failed``, ``skipped``)."""
    return Counter({'passed': 0, 'failed': 0, 'skipped': 0,
                    **Counter(outcomes.values())})


def diff_outcomes(plain: dict,
                  plugin: dict,
                  explained=None,
                  flaky=None) -> tuple:
    """Compare two runs test by test.

    A difference is explained when ``explained`` (default
    :data:`EXPLAINED`) lists it with the same two outcomes, or when the test
    is in ``flaky`` (default :data:`FLAKY`).

    Returns:
        tuple[list, list]: ``(explained, unexplained)``; each item is
        ``(test id, plain outcome, plugin outcome, reason)``, an outcome
        ``missing`` where a run has no such test and the reason ``''`` for
        the unexplained ones.
    """
    explained = EXPLAINED if explained is None else explained
    flaky = FLAKY if flaky is None else flaky
    known, unknown = [], []
    for test_id in sorted(set(plain) | set(plugin)):
        before = plain.get(test_id, 'missing')
        after = plugin.get(test_id, 'missing')
        if before == after:
            continue
        expected = explained.get(test_id)
        if expected is not None and expected[:2] == (before, after):
            known.append((test_id, before, after, expected[2]))
        elif test_id in flaky:
            known.append(
                (test_id, before, after, f'flaky: {flaky[test_id]}'))
        else:
            unknown.append((test_id, before, after, ''))
    return known, unknown


def run_subset(tests_dir: str, report: str, plugin: bool,
               subset=SUBSET) -> None:
    """Run the subset in a fresh pytest process, writing a JUnit report."""
    root = osp.dirname(osp.abspath(tests_dir))
    name = osp.basename(osp.abspath(tests_dir))
    paths = [osp.join(name, p) for p in subset]
    missing = [p for p in paths if not osp.exists(osp.join(root, p))]
    if missing:
        raise SystemExit(f'{tests_dir} has no {missing[0]}: is it '
                         "mmpretrain's tests folder?")
    cmd = [
        sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
        '--continue-on-collection-errors', f'--junitxml={report}', *paths
    ]
    if plugin:
        cmd[3:3] = ['-p', IMPORT_FIRST_PLUGIN]
    env = dict(os.environ)
    # The tests gain nothing from threads on a shared CPU.
    env.setdefault('OMP_NUM_THREADS', '1')
    # This checkout first, so the plugin run imports it, not an install.
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (repo, env.get('PYTHONPATH')) if p)
    subprocess.run(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL,
                   check=False)
    if not osp.isfile(report):
        raise SystemExit(f'pytest wrote no report; run {" ".join(cmd)} '
                         f'in {root} to see why')


def format_counts(label: str, c: Counter) -> str:
    return (f'{label:<12} {c["passed"]:>4} passed {c["failed"]:>4} failed '
            f'{c["skipped"]:>4} skipped')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('tests_dir', help="mmpretrain's tests folder")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for label, plugin in (('plain', False), ('with plugin', True)):
            report = osp.join(tmp, f'{plugin}.xml')
            run_subset(args.tests_dir, report, plugin)
            runs[label] = parse_junit(report)
    for label, outcomes in runs.items():
        print(format_counts(label, counts(outcomes)))
    known, unknown = diff_outcomes(runs['plain'], runs['with plugin'])
    for test_id, before, after, reason in known + unknown:
        print(f'{before} -> {after}: {test_id}'
              f'{"  (" + reason + ")" if reason else "  UNEXPLAINED"}')
    print(f'{len(known)} explained, {len(unknown)} unexplained differences')
    return 1 if unknown else 0


if __name__ == '__main__':
    sys.exit(main())
