"""lowdim's attention names from Python: feature maps, exact / linear / causal / recurrent
attention and RoPE, against NumPy references."""
import threading
import unittest

import numpy as np

import lowdim


def softmax_ref(q, k, v, causal=False):
    s = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


class Attention(unittest.TestCase):
    def setUp(self):
        r = np.random.default_rng(0)
        self.q, self.k = (0.5 * r.normal(size=(2, 50, 16)) for _ in range(2))
        self.v = r.normal(size=(2, 50, 4))

    def test_exact_matches_numpy(self):
        for causal in (False, True):
            out = lowdim.softmax_attention(self.q, self.k, self.v, causal=causal, block=7)
            self.assertEqual(out.shape, (2, 50, 4))
            np.testing.assert_allclose(out, softmax_ref(self.q, self.k, self.v, causal), atol=1e-12)
        out32 = lowdim.softmax_attention(self.q[0].astype(np.float32), self.k[0].astype(np.float32),
                                         self.v[0].astype(np.float32))
        self.assertEqual(out32.dtype, np.float32)
        self.assertEqual(out32.shape, (50, 4))

    def test_linear_approaches_exact_and_causal_equals_recurrent(self):
        f = lowdim.RandomFeatures("favor", "orf", dim=16, directions=2048, seed=1)
        out = lowdim.linear_attention(f, self.q, self.k, self.v)
        self.assertLess(np.mean((out - softmax_ref(self.q, self.k, self.v)) ** 2), 1e-3)
        causal = lowdim.linear_attention(f, self.q, self.k, self.v, causal=True, block=8)
        rec = lowdim.RecurrentAttention(f, 4, dtype="float64")
        steps = np.array([rec.step(self.q[0, i], self.k[0, i], self.v[0, i]) for i in range(50)])
        np.testing.assert_allclose(steps, causal[0], atol=1e-10)
        self.assertEqual(rec.position, 50)
        # A later token never changes an earlier output.
        k2 = self.k.copy()
        k2[:, 30:] *= 40
        later = lowdim.linear_attention(f, self.q, k2, self.v, causal=True, block=8)
        np.testing.assert_array_equal(later[:, :30], causal[:, :30])

    def test_features_and_kernels(self):
        f = lowdim.RandomFeatures("trig_softmax", "iid", dim=16, directions=32, seed=2)
        phi, s = f.apply(self.q[0])
        self.assertEqual(phi.shape, (50, 64))
        est = lowdim.estimate_kernel(f, self.q[0], self.k[0])
        np.testing.assert_allclose(est, (phi * np.exp(s)[:, None]) @ (lambda p: p[0] * np.exp(p[1])[:, None])(f.apply(self.k[0])).T,
                                   rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(lowdim.exact_kernel(self.q[0], self.k[0]), np.exp(self.q[0] @ self.k[0].T))
        self.assertLess(lowdim.optimal_positive_parameter(2.0, 16), 0)
        w = f.projection_matrix()
        self.assertEqual(w.shape, (32, 16))

    def test_rope(self):
        x = np.random.default_rng(3).normal(size=(10, 8))
        inter = lowdim.apply_rope(x, "interleaved")
        t = lowdim.rope_frequencies(8)
        a = np.arange(10)[:, None] * t[None, :]
        want = x.copy()
        want[:, 0::2] = x[:, 0::2] * np.cos(a) - x[:, 1::2] * np.sin(a)
        want[:, 1::2] = x[:, 0::2] * np.sin(a) + x[:, 1::2] * np.cos(a)
        np.testing.assert_allclose(inter, want, atol=1e-12)
        perm = lowdim.permute_rope_layout(x, 8, "interleaved", "half_split")
        np.testing.assert_array_equal(lowdim.permute_rope_layout(inter, 8, "interleaved", "half_split"),
                                      lowdim.apply_rope(perm, "half_split"))
        y = lowdim.rope_frequencies(64, scaling="yarn", factor=8, original_length=4096)
        self.assertEqual(y[0], 1.0)
        self.assertAlmostEqual(lowdim.rope_attention_factor(scaling="yarn", factor=8), 0.1 * np.log(8) + 1)
        px, py = lowdim.grid_positions(3, 4)
        self.assertEqual(list(py[:5]), [0, 0, 0, 0, 1])
        self.assertEqual(lowdim.apply_rope_axial(x[:12 - 2], px[:10], py[:10]).shape, (10, 8))
        self.assertEqual(lowdim.sinusoidal_encoding(5, 8).shape, (5, 8))

    def test_errors_name_the_values(self):
        with self.assertRaisesRegex(ValueError, "m = 0"):
            lowdim.RandomFeatures("favor", "orf", dim=16, directions=0)
        f = lowdim.RandomFeatures("favor", "orf", dim=8, directions=16)
        with self.assertRaisesRegex(ValueError, "takes d = 8"):
            lowdim.linear_attention(f, self.q, self.k, self.v)
        bad = self.q.copy()
        bad[0, 3, 2] = np.nan
        with self.assertRaisesRegex(ValueError, "row 3, column 2"):
            lowdim.softmax_attention(bad, self.k, self.v)
        with self.assertRaisesRegex(ValueError, "none, linear, ntk"):
            lowdim.rope_frequencies(8, scaling="rotary")

    def test_gil_released(self):
        f = lowdim.RandomFeatures("favor", "orf", dim=16, directions=64)
        q = np.random.default_rng(4).normal(size=(4, 2000, 16))
        results = [None] * 2

        def run(i):
            results[i] = lowdim.linear_attention(f, q, q, q, causal=True)
        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        np.testing.assert_array_equal(results[0], results[1])


if __name__ == "__main__":
    unittest.main()
