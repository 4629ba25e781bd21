"""The Python module against NumPy references: shapes, dtypes, zero-copy strided
input, determinism, errors as Python exceptions."""
import os
import tempfile
import unittest

import numpy as np

import lowdim


class SketchTest(unittest.TestCase):
    def test_apply_matches_materialized_operator(self):
        x = np.random.default_rng(0).standard_normal((50, 64))
        kinds = [name for name, _ in lowdim.sketch_kinds()]
        self.assertIn("hadamard_rotation", kinds)
        for kind in kinds:
            s = lowdim.Sketch(kind, 64, 16, seed=3)
            y = s.apply(x)
            self.assertEqual(y.shape, (50, 16))
            self.assertEqual(y.dtype, np.float64)
            np.testing.assert_allclose(y, x @ s.materialize().T, rtol=1e-12, atol=1e-12, err_msg=kind)
            back = s.apply_transpose(y)
            np.testing.assert_allclose(back, y @ s.materialize(), rtol=1e-12, atol=1e-12, err_msg=kind)

    def test_float32_and_strided_input(self):
        x = np.random.default_rng(1).standard_normal((40, 100)).astype(np.float32)
        s = lowdim.Sketch("gaussian", 50, 10, seed=9)
        strided = x[:, 10:60]  # rows 100 floats apart: viewed without a copy
        self.assertFalse(strided.flags.c_contiguous)
        y = s.apply(strided)
        self.assertEqual(y.dtype, np.float32)
        np.testing.assert_allclose(y, np.ascontiguousarray(strided) @ s.materialize("float32").T, rtol=1e-5,
                                   atol=1e-5)
        # Column-strided input is copied, with the same result.
        np.testing.assert_allclose(s.apply(np.asfortranarray(strided)), y, rtol=1e-6, atol=1e-6)

    def test_same_seed_same_numbers(self):
        x = np.random.default_rng(2).standard_normal((10, 30))
        a = lowdim.Sketch("srht", 30, 8, seed=5).apply(x)
        b = lowdim.Sketch("srht", 30, 8, seed=5).apply(x)
        c = lowdim.Sketch("srht", 30, 8, seed=6).apply(x)
        self.assertTrue(np.array_equal(a, b))
        self.assertFalse(np.array_equal(a, c))

    def test_orthogonal_kinds_and_cached_form(self):
        x = np.random.default_rng(4).standard_normal((7, 64)).astype(np.float32)
        orf = lowdim.Sketch("orthogonal", 64, 32, seed=2, jl_scaling=False, row_norms="sqrt_d")
        self.assertTrue(orf.orthogonal)
        self.assertEqual(orf.gram_scale, 64.0)
        s = orf.materialize()
        np.testing.assert_allclose(s @ s.T, 64 * np.eye(32), atol=1e-10)
        cached = orf.materialized()
        self.assertTrue(cached.cached)
        self.assertTrue(np.array_equal(cached.apply(x), orf.apply(x)))
        self.assertTrue(np.array_equal(cached.apply(x[:1]), orf.apply(x)[:1]))
        with self.assertRaisesRegex(ValueError, "no row-norm option"):
            lowdim.Sketch("gaussian", 64, 8, row_norms="sqrt_d")
        with self.assertRaisesRegex(ValueError, "no density option"):
            lowdim.Sketch("orthogonal", 64, 8, density=0.5)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "nonsense"):
            lowdim.Sketch("nonsense", 10, 5)
        s = lowdim.Sketch("gaussian", 10, 5)
        with self.assertRaises(ValueError) as ctx:
            s.apply(np.zeros((3, 11)))
        self.assertIn("11", str(ctx.exception))
        with self.assertRaises(lowdim.InvalidArgument):
            s.apply(np.zeros((2, 3, 4)))


class JlTest(unittest.TestCase):
    def test_min_dim_rounds_up(self):
        self.assertEqual(lowdim.min_dim(10**6, 0.5), 664)
        self.assertGreater(lowdim.min_dim(10**6, 0.5, delta=0.01), 0)
        self.assertLessEqual(lowdim.guaranteed_eps(664, 10**6), 0.5)
        with self.assertRaisesRegex(ValueError, "1.5"):
            lowdim.min_dim(1000, 1.5)

    def test_random_projection_round_trip_and_distortion(self):
        x = np.random.default_rng(7).standard_normal((400, 256)).astype(np.float32)
        p = lowdim.RandomProjection(256, k=128, kind="sparse", seed=2)
        y = p.transform(x)
        self.assertEqual(y.shape, (400, 128))
        self.assertEqual(y.dtype, np.float32)
        path = os.path.join(os.environ.get("LOWDIM_TEST_TMP", tempfile.gettempdir()), f"p-{os.getpid()}.ldm")
        p.save(path)
        try:
            self.assertTrue(np.array_equal(lowdim.RandomProjection.load(path).transform(x), y))
        finally:
            os.remove(path)
        report = lowdim.measure_distortion(x, kinds=["gaussian", "srht"], dims=[32, 128], eps=0.3, pairs=3000,
                                           keep_ratios=True)
        self.assertEqual(report["dim"], 256)
        self.assertEqual(len(report["results"]), 4)
        for r in report["results"]:
            self.assertEqual(len(r["ratios"]), report["pairs"])
            self.assertAlmostEqual(float(np.mean(r["ratios"])), r["mean"], places=5)
            # E[ratio] = 1 with variance ~2/k per pair; 3000 pairs (not independent): generous 10%.
            self.assertLess(abs(r["mean"] - 1), 0.1)
        by_k = {(r["kind"], r["k"]): r for r in report["results"]}
        self.assertGreater(by_k[("gaussian", 128)]["within_eps"], by_k[("gaussian", 32)]["within_eps"])


class SvdTest(unittest.TestCase):
    def test_recovers_prescribed_spectrum(self):
        rng = np.random.default_rng(3)
        u, _ = np.linalg.qr(rng.standard_normal((300, 40)))
        v, _ = np.linalg.qr(rng.standard_normal((120, 40)))
        s_true = np.exp(-np.arange(40) / 4.0)
        a = (u * s_true) @ v.T
        for method in ("krylov", "rsvd"):
            uu, s, vt = lowdim.svd(a, rank=10, method=method, seed=1)
            self.assertEqual(uu.shape, (300, 10))
            self.assertEqual(vt.shape, (10, 120))
            np.testing.assert_allclose(s, s_true[:10], rtol=1e-9, err_msg=method)
            np.testing.assert_allclose(uu.T @ uu, np.eye(10), atol=1e-12)
        with self.assertRaisesRegex(ValueError, "rank"):
            lowdim.svd(a, rank=500)
        a[5, 7] = np.nan
        with self.assertRaisesRegex(ValueError, "row 5, column 7"):
            lowdim.svd(a, rank=5)


class WhiteningTest(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(4)
        mix = rng.standard_normal((6, 6))
        self.x = rng.standard_normal((2000, 6)) @ mix + 100.0

    def test_every_kind_whitens(self):
        for kind in ("pca", "zca", "cholesky", "zca-cor", "pca-cor"):
            w = lowdim.Whitening.fit(self.x, kind=kind)
            y = w.transform(self.x)
            np.testing.assert_allclose(np.cov(y, rowvar=False), np.eye(6), atol=1e-9, err_msg=kind)
            np.testing.assert_allclose(w.inverse_transform(y), self.x, rtol=1e-10, err_msg=kind)

    def test_float64_far_from_origin_keeps_precision(self):
        # Offset 1e6: x - mu is formed in double and float64 stays float64, so the output is
        # white to ~1e-9 (any float32 step would leave it ~1e-2 away), for Whitening and Pca.
        far = self.x - 100.0 + 1e6
        for kind in ("pca", "zca"):
            y = lowdim.Whitening.fit(far, kind=kind).transform(far)
            self.assertEqual(y.dtype, np.float64)
            self.assertLess(np.abs(np.cov(y, rowvar=False) - np.eye(6)).max(), 1e-6, kind)
        p = lowdim.Pca.fit(far, k=3)
        z = p.transform(far)
        self.assertEqual(z.dtype, np.float64)
        direct = (far - far.mean(axis=0)) @ p.components.T
        self.assertLess(np.abs(z - direct).max(), 1e-8 * np.abs(direct).max())

    def test_bert_whitening_matches_numpy_reference(self):
        # Su et al.'s reference: mu, cov, SVD, W = U / sqrt(s), keep k columns.
        mu = self.x.mean(axis=0, keepdims=True)
        u, s, _ = np.linalg.svd(np.cov(self.x.T))
        w_ref = (u / np.sqrt(s))[:, :3]
        y_ref = (self.x - mu) @ w_ref
        y = lowdim.bert_whitening(self.x, k=3).transform(self.x)
        # Columns are defined up to sign.
        signs = np.sign(np.sum(y * y_ref, axis=0))
        np.testing.assert_allclose(y * signs, y_ref, atol=1e-8)

    def test_bert_whitening_fast_float_panels(self):
        x32 = self.x.astype(np.float32)
        exact = lowdim.bert_whitening(x32, k=3).transform(x32)
        fast = lowdim.bert_whitening(x32, k=3, fast=True).transform(x32)
        self.assertEqual(fast.dtype, np.float32)
        # Float panels round the centred data and the panel sums to float: ~1e-5 relative.
        np.testing.assert_allclose(fast, exact, atol=1e-4 * np.abs(exact).max())
        self.assertFalse(np.array_equal(fast, exact))  # it really took the float path

    def test_dense_kernel_isa(self):
        # The kernel is the one LOWDIM_KERNEL forces, else the best the CPU's flags allow.
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
        avx2 = "avx2" in flags and "fma" in flags
        best = "avx512" if avx2 and "avx512f" in flags else "avx2" if avx2 else "generic"
        self.assertEqual(lowdim.dense_kernel_isa(), os.environ.get("LOWDIM_KERNEL") or best)

    def test_save_load_and_errors(self):
        w = lowdim.Whitening.fit(self.x.astype(np.float32), kind="zca")
        path = os.path.join(os.environ.get("LOWDIM_TEST_TMP", tempfile.gettempdir()), f"w-{os.getpid()}.ldm")
        w.save(path)
        try:
            loaded = lowdim.Whitening.load(path)
            self.assertTrue(np.array_equal(loaded.transform(self.x[:5]), w.transform(self.x[:5])))
        finally:
            os.remove(path)
        with self.assertRaises(OSError):
            lowdim.Whitening.load(path)
        with self.assertRaisesRegex(ValueError, "sphering"):
            lowdim.Whitening.fit(self.x, kind="sphering")


class NoCopyAndGilTest(unittest.TestCase):
    """What the module promises about memory and threads, measured rather than claimed."""

    def test_row_strided_input_is_not_copied(self):
        # 160 MB of row-strided input: a copy would raise the process's peak RSS by as much.
        import resource
        big = np.ones((50_000, 500), dtype=np.float64)
        view = big[:, :400]
        self.assertFalse(view.flags.c_contiguous)
        sketch = lowdim.Sketch("gaussian", 400, 4, seed=1)
        sketch.apply(view[:10])  # warm-up: the operator's own buffers
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
        y = sketch.apply(view)
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        self.assertEqual(y.shape, (50_000, 4))
        self.assertLess(grown_mb, 60, f"peak RSS grew by {grown_mb:.0f} MB: the input was copied")
        del big, view

    def test_heavy_calls_release_the_gil(self):
        # While svd runs in a thread, this thread keeps counting at a good part of its solo rate
        # only if the GIL is released; held, it would run between calls only (one 5 ms switch
        # interval per call of ~100 ms: about 5% of its rate).
        import threading
        import time
        a = np.random.default_rng(0).standard_normal((3000, 600))
        t0 = time.perf_counter()
        lowdim.svd(a, rank=20)
        calls = max(2, int(0.6 / max(time.perf_counter() - t0, 1e-3)))
        stop = threading.Event()
        timer = threading.Timer(0.2, stop.set)  # the same loop as below, on its own
        solo, t0 = 0, time.perf_counter()
        timer.start()
        while not stop.is_set():
            solo += 1
        solo_rate = solo / (time.perf_counter() - t0)
        done = threading.Event()

        def run():
            for _ in range(calls):
                lowdim.svd(a, rank=20)
            done.set()

        worker = threading.Thread(target=run)
        counted, t0 = 0, time.perf_counter()
        worker.start()
        while not done.is_set():
            counted += 1
        elapsed = time.perf_counter() - t0
        worker.join()
        share = counted / (solo_rate * elapsed)
        self.assertGreater(share, 0.3, f"this thread ran at {share:.0%} of its solo rate while svd ran")


class IoTest(unittest.TestCase):
    def test_read_maps_npy_in_place(self):
        tmp = os.environ.get("LOWDIM_TEST_TMP", tempfile.gettempdir())
        x = np.random.default_rng(3).standard_normal((30, 7)).astype(np.float32)
        path = os.path.join(tmp, f"m-{os.getpid()}.npy")
        np.save(path, x)
        try:
            mapped = lowdim.read(path)  # float32 file, float32 requested: memory-mapped
            np.testing.assert_array_equal(mapped, x)
            self.assertFalse(mapped.flags.writeable)
            self.assertIsNotNone(mapped.base)
            with self.assertRaises(ValueError):
                mapped[0, 0] = 1
            # The file's bytes are what the array reads: change them, the array follows.
            with open(path, "r+b") as f:
                f.seek(os.path.getsize(path) - 4)
                f.write(np.float32(42).tobytes())
            self.assertEqual(mapped[-1, -1], np.float32(42))
            copy = lowdim.read(path, mmap=False)
            self.assertTrue(copy.flags.writeable)
            copy[0, 0] = 5  # a copy: the file is not touched
            self.assertEqual(lowdim.read(path)[0, 0], x[0, 0])
            converted = lowdim.read(path, dtype="float64")  # needs a conversion: a copy
            self.assertEqual(converted.dtype, np.float64)
            np.testing.assert_array_equal(converted[:-1], x[:-1].astype(np.float64))
            del mapped
        finally:
            os.remove(path)

    def test_npy_round_trip(self):
        x = np.arange(12, dtype=np.float64).reshape(3, 4)
        path = os.path.join(os.environ.get("LOWDIM_TEST_TMP", tempfile.gettempdir()), f"x-{os.getpid()}.npy")
        lowdim.write_npy(path, x)
        try:
            np.testing.assert_array_equal(np.load(path), x)
            np.testing.assert_array_equal(lowdim.read(path, dtype="float64"), x)
        finally:
            os.remove(path)


if __name__ == "__main__":
    unittest.main()
