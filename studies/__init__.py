"""Scientific studies of sk_uae: each module is run as ``python -m studies.NAME``.

They answer questions about the methods (does UAE augmentation help, does the paper's
protocol reproduce, which LMNN-PL solver to use, ...) and write JSON to
``studies/results/``; ``docs/results.md`` reports them. Speed and memory of the engine are
the asv suite's (``benchmarks/``, ``docs/performance.md``).
"""
