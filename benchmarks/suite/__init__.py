"""The asv benchmark suite of sk_uae: the engine's speed and memory (docs/performance.md).

Sizes come from the library: the MINE sizes of ``MinMaxMINE()`` ("default") and of
``MinMaxMINE.reference()`` ("reference"), the estimators' defaults elsewhere. Each module
is a part of the engine: ``mine_step`` (the MINE step, by implementation), ``attack``
(whole attacks and their pieces, by engine), ``conv_front`` (the reference preset's conv
front), ``scale`` (streaming to disk and parallel generation) and ``metric_learning``
(LMNN-PL against metric-learn).
"""
