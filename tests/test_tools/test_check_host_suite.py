"""``tools/misc/check_host_suite.py``: reading reports and diffing runs
(without mmpretrain's tests, which the tool itself needs)."""
import os.path as osp
import sys

from utils import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'misc'))
import check_host_suite as tool  # noqa: E402

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="1"
 tests="5">
<testcase classname="tests.test_a.TestA" name="test_ok" time="0.1"/>
<testcase classname="tests.test_a.TestA" name="test_bad" time="0.1">
  <failure message="AssertionError">...</failure></testcase>
<testcase classname="tests.test_b" name="test_skip" time="0">
  <skipped type="pytest.skip" message="needs a GPU">...</skipped></testcase>
<testcase classname="tests.test_b" name="test_teardown" time="0.1"/>
<testcase classname="tests.test_b" name="test_teardown" time="0.1">
  <error message="error in teardown">...</error></testcase>
</testsuite></testsuites>
"""


def test_parse_junit_counts_errors_as_failures(tmp_path):
    path = tmp_path / 'report.xml'
    path.write_text(REPORT)
    outcomes = tool.parse_junit(str(path))
    assert outcomes == {
        'tests.test_a.TestA::test_ok': 'passed',
        'tests.test_a.TestA::test_bad': 'failed',
        'tests.test_b::test_skip': 'skipped',
        'tests.test_b::test_teardown': 'failed',
    }
    assert dict(tool.counts(outcomes)) == dict(
        passed=1, failed=2, skipped=1)


def test_diff_separates_explained_from_unexplained():
    plain = {'a': 'failed', 'b': 'passed', 'c': 'passed', 'd': 'skipped'}
    plugin = {'a': 'passed', 'b': 'failed', 'c': 'passed', 'e': 'passed'}
    explained = {
        'a': ('failed', 'passed', 'the allow-list'),
        # Explained the other way round: does not excuse b's failure.
        'b': ('failed', 'passed', 'wrong direction'),
    }
    known, unknown = tool.diff_outcomes(plain, plugin, explained, {})
    assert known == [('a', 'failed', 'passed', 'the allow-list')]
    assert unknown == [('b', 'passed', 'failed', ''),
                       ('d', 'skipped', 'missing', ''),
                       ('e', 'missing', 'passed', '')]


def test_every_explained_difference_says_why():
    for test_id, (before, after, reason) in tool.EXPLAINED.items():
        assert before != after and reason, test_id


def test_a_flaky_test_differs_either_way_without_failing_the_check():
    known, unknown = tool.diff_outcomes({'f': 'passed'}, {'f': 'failed'},
                                        {}, {'f': 'random draw'})
    assert known == [('f', 'passed', 'failed', 'flaky: random draw')]
    assert unknown == []
