"""CLI precision (issue 9 §3): float64 data far from the origin keep float64 precision through
`lowdim whiten apply` and `lowdim pca` by default, and --threads does not change a bit.

Usage: python3 cli_precision.py LOWDIM_CLI TMPDIR
"""
import os
import subprocess
import sys
import unittest

import numpy as np

CLI = sys.argv[1] if len(sys.argv) > 1 else "lowdim"
TMP = sys.argv[2] if len(sys.argv) > 2 else "."


def run(*args):
    out = subprocess.run([CLI, *map(str, args)], capture_output=True, text=True)
    if out.returncode != 0:
        raise AssertionError(f"lowdim {' '.join(map(str, args))}: status {out.returncode}\n{out.stdout}{out.stderr}")
    return out.stdout


class OffsetData(unittest.TestCase):
    """Correlated data offset by 1e6: float32 rounds x itself to 1e6 * 2^-24 = 0.06, so any
    float32 step on the way to the output leaves its covariance ~4e-2 from the identity."""

    @classmethod
    def setUpClass(cls):
        os.makedirs(TMP, exist_ok=True)
        rng = np.random.default_rng(7)
        n, d = 4000, 6
        mix = rng.standard_normal((d, d))
        cls.x = rng.standard_normal((n, d)) @ mix + 1e6
        cls.path = os.path.join(TMP, "offset.npy")
        np.save(cls.path, cls.x)

    def test_whiten_apply_keeps_float64(self):
        model = os.path.join(TMP, "offset.ldm")
        out = os.path.join(TMP, "offset_white.npy")
        run("whiten", "fit", "--input", self.path, "--kind", "zca", "--model", model)
        self.assertIn("(float64)", run("whiten", "apply", "--model", model, "--input", self.path,
                                       "--output", out, "--block-rows", 999))
        y = np.load(out)
        self.assertEqual(y.dtype, np.float64)
        cov = np.cov(y, rowvar=False)
        # The model is fitted in double: the output is white to a few eps times the condition number.
        self.assertLess(np.abs(cov - np.eye(cov.shape[0])).max(), 1e-6)
        # --dtype float32 is still available, and is what loses the precision.
        out32 = os.path.join(TMP, "offset_white32.npy")
        run("whiten", "apply", "--model", model, "--input", self.path, "--output", out32, "--dtype", "float32")
        self.assertEqual(np.load(out32).dtype, np.float32)

    def test_whiten_fit_fast_on_float32(self):
        # --fast acts on float32 input (float panels) and stays close to the double scatter.
        x32 = (self.x - 1e6).astype(np.float32)
        p32 = os.path.join(TMP, "centred32.npy")
        np.save(p32, x32)
        exact, fast = os.path.join(TMP, "exact.ldm"), os.path.join(TMP, "fast.ldm")
        run("whiten", "fit", "--input", p32, "--kind", "pca", "--model", exact)
        run("whiten", "fit", "--input", p32, "--kind", "pca", "--fast", "--model", fast)
        ye, yf = os.path.join(TMP, "ye.npy"), os.path.join(TMP, "yf.npy")
        run("whiten", "apply", "--model", exact, "--input", p32, "--output", ye)
        run("whiten", "apply", "--model", fast, "--input", p32, "--output", yf)
        a, b = np.load(ye), np.load(yf)
        self.assertEqual(a.dtype, np.float32)
        self.assertLess(np.abs(a - b).max(), 1e-3)
        self.assertLess(np.abs(np.cov(b, rowvar=False) - np.eye(b.shape[1])).max(), 1e-3)

    def test_whiten_fit_fast_on_float64(self):
        # --fast acts on float64 input too: float panels of the data centred in double (a model
        # that differs from the double scatter's, by rounding only), even 1e6 from the origin.
        exact, fast = os.path.join(TMP, "exact64.ldm"), os.path.join(TMP, "fast64.ldm")
        run("whiten", "fit", "--input", self.path, "--kind", "zca", "--model", exact)
        run("whiten", "fit", "--input", self.path, "--kind", "zca", "--fast", "--model", fast)
        ye, yf = os.path.join(TMP, "ye64.npy"), os.path.join(TMP, "yf64.npy")
        run("whiten", "apply", "--model", exact, "--input", self.path, "--output", ye)
        run("whiten", "apply", "--model", fast, "--input", self.path, "--output", yf)
        a, b = np.load(ye), np.load(yf)
        self.assertEqual(b.dtype, np.float64)
        self.assertGreater(np.abs(a - b).max(), 0)  # it really took the float path
        self.assertLess(np.abs(a - b).max(), 1e-3)
        self.assertLess(np.abs(np.cov(b, rowvar=False) - np.eye(b.shape[1])).max(), 1e-3)

    def test_pca_keeps_float64(self):
        out = os.path.join(TMP, "offset_pca.npy")
        comps = os.path.join(TMP, "offset_comps.npy")
        self.assertIn("(float64)", run("pca", "--input", self.path, "--k", 3, "--output", out,
                                       "--components", comps))
        y, c = np.load(out), np.load(comps)
        self.assertEqual(y.dtype, np.float64)
        direct = (self.x - self.x.mean(axis=0)) @ c.T
        self.assertLess(np.abs(y - direct).max(), 1e-8 * np.abs(direct).max())

    def test_threads_do_not_change_bits(self):
        outs = []
        for threads in (1, 2):
            out = os.path.join(TMP, f"proj_t{threads}.npy")
            run("project", "--input", self.path, "--output", out, "--kind", "gaussian", "--k", 4, "--seed", 3,
                "--threads", threads)
            outs.append(np.load(out))
        self.assertEqual(outs[0].dtype, np.float64)
        self.assertTrue(np.array_equal(outs[0], outs[1]))


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
