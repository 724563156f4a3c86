"""Speed and memory of the engine: the asv suite (``suite/``) and the scripts beside it.

``suite/`` is the airspeed velocity benchmark suite (``asv.conf.json`` at the repository
root); ``bench_device.py`` (``python -m benchmarks.bench_device``) and ``gpu_run.sh`` are the
check of a GPU machine; ``results/`` holds the JSON of earlier engine runs that
``docs/performance.md`` quotes.
"""
