"""Scale: ``generate_to`` (shards on disk) against the in-memory ``generate``, and ``n_jobs``.

Rows are digits tiled to N and 10N; the attack is ``MinMaxMINE()`` cut to 2 iterations
(the figures are about the streaming and parallel machinery, not the attack), the model
a small dense autoencoder; batch 128, shards of N = 128 rows, one torch thread.
"""

import tempfile
import tracemalloc
import warnings

from sk_uae import UAEGenerator
from sk_uae.attacks import MinMaxMINE
from sk_uae.exceptions import FitQualityWarning
from sk_uae.models import AutoencoderNet, DenseAutoencoder

from ._fixtures import one_thread, rows

N = 128
SHARD = 128


def _generator():
    ae = AutoencoderNet(DenseAutoencoder, module__hidden_units=16, max_epochs=1, lr=1e-2,
                        random_state=0)
    with warnings.catch_warnings():  # one epoch: a poor model, timed all the same
        warnings.simplefilter("ignore", FitQualityWarning)
        return UAEGenerator(ae, MinMaxMINE(max_iter=2), batch_size=128,
                            random_state=0).fit(rows(64, 600))


class Generate:
    """Wall time of ``generate`` and ``generate_to`` on N and 10N rows, and the peak of
    Python's and numpy's allocations (tracemalloc, MiB): flat in the rows for
    ``generate_to``, linear for ``generate``."""

    params = (["generate", "generate_to"], [N, 10 * N])
    param_names = ["method", "rows"]
    timeout = 600

    def setup(self, method, n):
        one_thread()
        self.gen = _generator()
        self.X = rows(64, n)
        self.tmp = tempfile.TemporaryDirectory()
        self.calls = 0

    def teardown(self, method, n):
        self.tmp.cleanup()

    def _run(self, method):
        if method == "generate":
            return self.gen.generate(self.X)
        self.calls += 1  # a fresh folder per call: a rerun into one would reuse its shards
        return self.gen.generate_to(f"{self.tmp.name}/{self.calls}", self.X, shard_size=SHARD)

    def time_generate(self, method, n):
        self._run(method)

    def track_tracemalloc_peak(self, method, n):
        tracemalloc.start()
        try:
            self._run(method)
            return tracemalloc.get_traced_memory()[1] / 2**20
        finally:
            tracemalloc.stop()

    track_tracemalloc_peak.unit = "MiB"


class NJobs:
    """``generate`` on 8N rows with ``n_jobs=1`` and ``2`` (loky), workers started before."""

    params = [1, 2]
    param_names = ["n_jobs"]
    timeout = 600

    def setup(self, n_jobs):
        one_thread()
        self.gen = _generator().set_params(n_jobs=n_jobs)
        self.X = rows(64, 8 * N)
        self.gen.generate(self.X[:256])  # the workers' start-up (importing torch)

    def time_generate(self, n_jobs):
        self.gen.generate(self.X)
