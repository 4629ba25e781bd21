"""lowdim.svd against scikit-learn's randomized_svd, in one process, on the same matrices.

Accuracy (issue 9 §1): on every row of the spectrum table (rsvd_spectra.py: polynomial decay of
degree 1/2, 1, 2, fast and slow exponential decay, a step, flat plus noise, exactly rank
deficient; ranks below, at and above the Krylov block size; tall, wide and square; float32 and
float64) lowdim's default is at least as accurate as scikit-learn's defaults, in the largest
relative error of the k singular values (against LAPACK's SVD; differences below 100 eps ||A||_2
count as rounding) and in ||A - U S Vt||_F / ||A||_F (up to 100 eps).

Extreme inputs and options (issue 9 §2, §4): float32 values near 1e37 give the right factors or a
clear error, and an option the chosen method does not use is refused."""
import unittest

import numpy as np

import lowdim
from rsvd_spectra import RANKS, SHAPES, families, matrix, residual, sigma_error, sklearn_defaults


class AccuracyAgainstSklearn(unittest.TestCase):
    def test_every_row_of_the_table(self):
        # One lowdim thread: results are bit-identical on any thread count, and 144 small runs spend
        # more in OpenMP synchronisation than in arithmetic when the cores are shared.
        lowdim.set_num_threads(1)
        worse = []
        for dtype in (np.float32, np.float64):
            eps = np.finfo(dtype).eps
            for m, n in SHAPES:
                for fi, (name, sigma) in enumerate(families(min(m, n)).items()):
                    a = matrix(m, n, sigma, 100 + fi, dtype)
                    exact = np.linalg.svd(a.astype(np.float64), compute_uv=False)
                    for k in RANKS:
                        u, s, vt = lowdim.svd(a, rank=k)
                        self.assertEqual(s.dtype, dtype)
                        ours = sigma_error(s, exact, dtype), residual(a, u, s, vt)
                        su, ss, svt = sklearn_defaults(a, k)
                        theirs = sigma_error(ss, exact, dtype), residual(a, su, ss, svt)
                        if ours[0] > theirs[0] or ours[1] > theirs[1] + 100 * eps:
                            worse.append(f"{name} {m}x{n} k={k} {dtype.__name__}: lowdim {ours}, sklearn {theirs}")
        self.assertEqual(worse, [])


class ExtremeInputs(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(5)
        u, _ = np.linalg.qr(rng.standard_normal((40, 12)))
        v, _ = np.linalg.qr(rng.standard_normal((12, 12)))
        self.b = ((u * 0.5 ** np.arange(12)) @ v.T).astype(np.float32)  # sigma_1 = 1

    def test_float32_near_1e37(self):
        # The case: values around 1e37 used to abort the process (krylov) or fail in LAPACK.
        big = self.b * np.float32(1e37)
        self.assertGreater(np.max(np.abs(big)), 1e36)
        for method in ("krylov", "rsvd", "single-pass"):
            u0, s0, vt0 = lowdim.svd(self.b, rank=3, method=method, seed=2)
            u, s, vt = lowdim.svd(big, rank=3, method=method, seed=2)
            for x in (u, s, vt):
                self.assertTrue(np.all(np.isfinite(x)), method)
            np.testing.assert_allclose(s / 1e37, s0, rtol=1e-5, err_msg=method)
            np.testing.assert_allclose(u, u0, atol=1e-4, err_msg=method)
            np.testing.assert_allclose(vt, vt0, atol=1e-4, err_msg=method)

    def test_singular_value_beyond_float32_is_a_clear_error(self):
        huge = np.full((40, 12), np.float32(3e38))  # finite entries; sigma_1 = 3e38 * sqrt(480) > FLT_MAX
        self.assertTrue(np.all(np.isfinite(huge)))
        for method in ("krylov", "rsvd", "single-pass"):
            with self.assertRaisesRegex(lowdim.NumericalError, "exceeds the largest float"):
                lowdim.svd(huge, rank=2, method=method)
        # In float64 the same matrix is fine: rank one, sigma_1 = 3e38 * sqrt(480).
        u, s, vt = lowdim.svd(huge.astype(np.float64), rank=2)
        self.assertAlmostEqual(s[0] / (float(np.float32(3e38)) * np.sqrt(480)), 1.0, places=12)
        self.assertLess(s[1], 1e-12 * s[0])
        np.testing.assert_allclose(np.abs(u[:, 0]), np.full(40, 1 / np.sqrt(40)), rtol=1e-12)


class OptionsTheMethodDoesNotUse(unittest.TestCase):
    def test_refused_with_the_option_named(self):
        a = np.random.default_rng(1).standard_normal((60, 40))
        cases = [
            (dict(method="krylov", oversampling=5), "oversampling is not used by method krylov"),
            (dict(method="rsvd", block_size=8), "block_size is not used by method rsvd"),
            (dict(method="single-pass", power_iterations=2), "power_iterations is not used by method single-pass"),
            (dict(method="single-pass", block_size=8), "block_size is not used by method single-pass"),
            (dict(method="single-pass", sketch="srht"), "sketch srht is not used by method single-pass"),
            (dict(method="rsvd", tol=0.1), "tol is only used by method qb"),
        ]
        for kwargs, message in cases:
            with self.assertRaisesRegex(lowdim.InvalidArgument, message):
                lowdim.svd(a, rank=5, **kwargs)
        # The options each method does use act: a different block size or oversampling changes the result.
        s1 = lowdim.svd(a, rank=5, method="krylov", block_size=8, power_iterations=1)[1]
        s2 = lowdim.svd(a, rank=5, method="krylov", block_size=16, power_iterations=1)[1]
        self.assertFalse(np.array_equal(s1, s2))
        s3 = lowdim.svd(a, rank=5, method="single-pass", oversampling=2)[1]
        s4 = lowdim.svd(a, rank=5, method="single-pass", oversampling=20)[1]
        self.assertFalse(np.array_equal(s3, s4))


if __name__ == "__main__":
    unittest.main()
