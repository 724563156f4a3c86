"""The helpers of ``bench_threads.py``, which still runs as a script from this folder.

They are the studies' (``studies/_common.py``); this module goes once ``bench_threads.py``
moves to ``studies/threads.py``.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from studies._common import ROOT, environment, write_json  # noqa: E402,F401
