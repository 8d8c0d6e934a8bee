"""mmpretrain's ``RetrievalRecall`` and ``RetrievalAveragePrecision`` on
numpy >= 2.4.

Both call ``np.in1d``, which numpy deprecated in 2.0 and removed in 2.4, so
they crash at evaluation time (``AttributeError: module 'numpy' has no
attribute 'in1d'``), for instance in an evaluator that lists them next to
QwenCLIP's metrics. We give their module a numpy whose ``in1d`` is
``np.isin(...).ravel()``, numpy's documented replacement.

Scope: the ``np`` name inside ``mmpretrain.evaluation.metrics.retrieval``;
numpy itself and every other module are untouched.
"""
import importlib
import types

import numpy as np

from .override import Override

MODULE = 'mmpretrain.evaluation.metrics.retrieval'


def in1d(ar1, ar2, assume_unique=False, invert=False):
    """``np.in1d`` as numpy < 2.4 had it: ``np.isin`` on ``ar1`` flattened."""
    return np.isin(
        np.asarray(ar1).ravel(), ar2, assume_unique=assume_unique,
        invert=invert)


class NumpyWithIn1d(types.ModuleType):
    """numpy, plus :func:`in1d`."""

    in1d = staticmethod(in1d)

    def __init__(self):
        super().__init__(np.__name__, np.__doc__)

    def __getattr__(self, name):
        return getattr(np, name)


def needed() -> bool:
    """numpy has no ``in1d`` and mmpretrain's retrieval metrics call it."""
    if hasattr(np, 'in1d'):
        return False
    module = importlib.import_module(MODULE)
    callers = (module.RetrievalRecall.calculate,
               module._calculateAp_for_sample)
    return module.np is np and any('in1d' in fn.__code__.co_names
                                   for fn in callers)


def give_retrieval_metrics_in1d() -> None:
    """Point mmpretrain's retrieval metrics at :class:`NumpyWithIn1d`."""
    importlib.import_module(MODULE).np = NumpyWithIn1d()


OVERRIDE = Override(
    name='retrieval_metrics_without_in1d',
    changes=f'{MODULE}.np (numpy plus in1d)',
    versions='mmpretrain <= 1.2.0 with numpy >= 2.4 (no np.in1d)',
    reason='numpy 2.4 removed np.in1d; mmpretrain RetrievalRecall and '
    'RetrievalAveragePrecision crash at evaluation',
    scope='one module-level name in mmpretrain\'s retrieval metrics',
    needed=needed,
    apply=give_retrieval_metrics_in1d)
