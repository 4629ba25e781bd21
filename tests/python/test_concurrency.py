"""Concurrent calls from Python threads (issue 9 §5): lowdim releases the GIL, so several
threads run lowdim at once. Their results must be the bits of the same calls made in
sequence, and OpenBLAS's process-wide thread count must be what it was before (lowdim holds
it at 1 during factorisations; concurrent scopes used to interleave their save/restore)."""
import unittest
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import threadpool_info

import lowdim


def openblas_threads():
    counts = [p["num_threads"] for p in threadpool_info() if p.get("internal_api") == "openblas"]
    if not counts:
        raise unittest.SkipTest("OpenBLAS is not loaded")
    return counts


class ConcurrencyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(11)
        # A low-rank-plus-noise matrix big enough that OpenBLAS would use several threads
        # in its factorisations if lowdim did not hold it at one.
        cls.a = (rng.standard_normal((600, 40)) @ rng.standard_normal((40, 300)) +
                 0.01 * rng.standard_normal((600, 300)))
        cls.x = rng.standard_normal((3000, 64)) @ rng.standard_normal((64, 64)) + 5.0
        cls.x32 = cls.x.astype(np.float32)

    def jobs(self):
        a, x, x32 = self.a, self.x, self.x32
        return [
            lambda: lowdim.svd(a, rank=12, seed=1),
            lambda: lowdim.svd(a, rank=8, method="rsvd", seed=2),
            lambda: lowdim.svd(a.astype(np.float32), rank=10, seed=3),
            lambda: (lowdim.Whitening.fit(x, kind="zca").transform(x),),
            lambda: (lowdim.Whitening.fit(x32, kind="pca", k=16).transform(x32),),
            lambda: (lowdim.Pca.fit(x, k=5).transform(x),),
            lambda: (lowdim.RandomProjection(64, 24, kind="gaussian", seed=4).transform(x),),
            lambda: (lowdim.RandomProjection(64, 24, kind="srht", seed=5).transform(x32),),
        ]

    def test_concurrent_equals_sequential(self):
        before = openblas_threads()
        jobs = self.jobs()
        sequential = [job() for job in jobs]
        self.assertEqual(openblas_threads(), before)
        rounds = 6
        with ThreadPoolExecutor(max_workers=8) as pool:
            futures = [(i, pool.submit(jobs[i])) for _ in range(rounds) for i in range(len(jobs))]
            for i, future in futures:
                got = future.result()
                self.assertEqual(len(got), len(sequential[i]))
                for g, s in zip(got, sequential[i]):
                    self.assertEqual(g.dtype, s.dtype)
                    self.assertTrue(np.array_equal(g, s), f"job {i}: concurrent result differs from sequential")
        self.assertEqual(openblas_threads(), before, "OpenBLAS's thread count changed by concurrent calls")


if __name__ == "__main__":
    unittest.main()
