"""The asv suite (benchmarks/suite) and the studies import, and run at the library's sizes.

CI runs every benchmark once (``asv run --quick``, .ci/run); these checks are the fast
part of that, inside the test suite.
"""

import importlib
import pkgutil

import pytest

import benchmarks.suite
import studies
from sk_uae.attacks import MinMaxMINE

SUITE = sorted(m.name for m in pkgutil.iter_modules(benchmarks.suite.__path__))
STUDIES = sorted(m.name for m in pkgutil.iter_modules(studies.__path__))
PREFIXES = ("time_", "peakmem_", "track_", "mem_")


def _benchmark_classes(module):
    return [cls for cls in vars(module).values()
            if isinstance(cls, type) and cls.__module__ == module.__name__
            and any(name.startswith(PREFIXES) for name in vars(cls))]


@pytest.mark.parametrize("name", SUITE)
def test_suite_module_imports_and_its_params_are_named(name):
    module = importlib.import_module(f"benchmarks.suite.{name}")
    for cls in _benchmark_classes(module):
        params = getattr(cls, "params", None)
        if params is None:
            continue
        grid = params if isinstance(params, tuple) else (params,)
        assert len(cls.param_names) == len(grid), cls.__name__


def test_suite_has_benchmarks():
    found = [cls for name in SUITE
             for cls in _benchmark_classes(importlib.import_module(f"benchmarks.suite.{name}"))]
    assert len(found) >= 10


def test_suite_sizes_are_the_library_presets():
    from benchmarks.suite._fixtures import mine_sizes

    for sizes, attack in (("default", MinMaxMINE()), ("reference", MinMaxMINE.reference())):
        k, p, hidden, lr, steps = mine_sizes(sizes)
        assert (k, p, hidden, lr) == (attack.n_pairs, attack.pair_dim,
                                      tuple(attack.mine_hidden_sizes), attack.mine_lr)
        assert steps == 20


@pytest.mark.parametrize("name", STUDIES)
def test_study_imports(name):
    importlib.import_module(f"studies.{name}")


def test_one_benchmark_runs():
    from benchmarks.suite.mine_step import MineStep

    bench = MineStep()
    bench.setup("default", "fused")
    bench.time_train("default", "fused")
    bench.time_estimate_and_grad("default", "fused")
