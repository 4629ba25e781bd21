"""lowdim's LSH module from Python: exact_knn against NumPy, LshHasher, LshIndex (recall,
exactly k, statistics, insert/remove, save/load, errors, dtypes) and concurrent queries from
Python threads (the GIL is released)."""
import os
import tempfile
import threading
import unittest
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import lowdim


def clustered(n, d, centres, seed, spread=0.15):
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, d))
    return c[rng.integers(0, centres, n)] + spread * rng.standard_normal((n, d))


def brute_knn(base, queries, k):
    d2 = ((queries[:, None, :].astype(np.float64) - base[None].astype(np.float64)) ** 2).sum(-1)
    ids = np.argsort(d2, axis=1, kind="stable")[:, :k]
    return ids, np.sqrt(np.take_along_axis(d2, ids, 1))


def recall(got, truth):
    return np.mean([len(set(a) & set(b)) / truth.shape[1] for a, b in zip(got, truth)])


class ExactKnn(unittest.TestCase):
    def test_matches_numpy(self):
        x = clustered(400, 24, 10, 1)
        q = clustered(30, 24, 10, 2)
        for dtype, tol in ((np.float64, 1e-9), (np.float32, 1e-3)):
            ids, dist = lowdim.exact_knn(x.astype(dtype), q.astype(dtype), k=7)
            self.assertEqual(ids.shape, (30, 7))
            self.assertEqual(ids.dtype, np.int64)
            self.assertEqual(dist.dtype, dtype)
            t_ids, t_dist = brute_knn(x, q, 7)
            np.testing.assert_allclose(dist, t_dist, rtol=tol, atol=tol)
            self.assertGreaterEqual(recall(ids, t_ids), 0.99)

    def test_errors(self):
        x = np.zeros((5, 3))
        with self.assertRaisesRegex(lowdim.InvalidArgument, "k"):
            lowdim.exact_knn(x, x, k=6)
        with self.assertRaisesRegex(ValueError, "unknown metric 'manhattan'"):
            lowdim.exact_knn(x, x, k=1, metric="manhattan")


class Hasher(unittest.TestCase):
    def test_simhash_bits_are_signs_and_codes_pack_them(self):
        h = lowdim.LshHasher("simhash", dim=16, functions=70, seed=3)
        x = np.random.default_rng(0).standard_normal((9, 16))
        p = h.project(x)
        bits = h.hash(x)
        self.assertEqual(p.shape, (9, 70))
        np.testing.assert_array_equal(bits, (p >= 0).astype(np.int64))
        np.testing.assert_array_equal(h.hash_projections(p), bits)
        codes = h.simhash_codes(x)
        self.assertEqual(codes.shape, (9, 2))
        self.assertEqual(codes.dtype, np.uint64)
        unpacked = np.array([[(int(codes[i, j // 64]) >> (j % 64)) & 1 for j in range(70)] for i in range(9)])
        np.testing.assert_array_equal(unpacked, bits)
        self.assertEqual(lowdim.LshHasher.hamming(codes[0], codes[1]), int(np.sum(bits[0] != bits[1])))

    def test_families_and_options(self):
        names = [n for n, _ in lowdim.lsh_families()]
        self.assertEqual(names, ["simhash", "cross_polytope", "pstable"])
        cp = lowdim.LshHasher("cross-polytope", dim=20, functions=3, seed=1)
        self.assertEqual(cp.cp_dim, 32)
        self.assertEqual(cp.values, 64)
        hv = cp.hash(np.ones((2, 20), np.float32))
        self.assertTrue(((hv >= 0) & (hv < 64)).all())
        ps = lowdim.LshHasher("pstable", dim=5, functions=4, width=2.0)
        self.assertEqual(ps.bucket_width, 2.0)
        with self.assertRaisesRegex(lowdim.InvalidArgument, "width"):
            lowdim.LshHasher("pstable", dim=5, functions=4)


class Index(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        data = clustered(2100, 32, 40, 5).astype(np.float32)
        cls.base, cls.queries = data[:2000], data[2000:]
        cls.truth, _ = brute_knn(cls.base, cls.queries, 10)

    def test_recall_grows_with_probes_and_stats(self):
        index = lowdim.LshIndex.build(self.base, tables=8, hashes=14, seed=2)
        self.assertEqual((len(index), index.dim, index.dtype, index.tables, index.hashes), (2000, 32, "float32", 8, 14))
        r = []
        for probes in (8, 64, 512):
            ids, dist, stats = index.knn(self.queries, k=10, probes=probes)
            self.assertEqual(ids.shape, (100, 10))
            self.assertEqual(dist.dtype, np.float32)
            self.assertTrue((np.diff(dist, axis=1) >= 0).all())
            np.testing.assert_allclose(dist, np.linalg.norm(self.queries[:, None] - self.base[ids], axis=-1),
                                       rtol=1e-4, atol=1e-4)
            self.assertTrue((stats["probes"] >= probes).all())
            self.assertTrue((stats["unique_candidates"] <= stats["candidates"]).all() or
                            stats["scanned"].any())
            self.assertEqual(set(stats), {"candidates", "unique_candidates", "probes", "extra_probes", "scanned",
                                          "hash_seconds", "lookup_seconds", "rerank_seconds", "estimated_recall"})
            r.append(recall(ids, self.truth))
        self.assertLess(r[0], r[2])
        self.assertGreater(r[2], 0.9)
        d, i = index.kneighbors(self.queries, n_neighbors=10, probes=512)
        np.testing.assert_array_equal(i, index.knn(self.queries, k=10, probes=512)[0])
        np.testing.assert_array_equal(index.kneighbors(self.queries, 3, return_distance=False, probes=512), i[:, :3])

    def test_float64_and_every_family(self):
        for family in ("simhash", "cross_polytope", "pstable"):
            index = lowdim.LshIndex.build(self.base.astype(np.float64), family=family, tables=6,
                                          hashes=2 if family == "cross_polytope" else 10, seed=1)
            self.assertEqual(index.dtype, "float64")
            ids, dist, _ = index.knn(self.queries, k=10, probes=96)
            self.assertEqual(dist.dtype, np.float64)
            self.assertGreater(recall(ids, self.truth), 0.6, family)

    def test_exactly_k_and_insert_remove(self):
        index = lowdim.LshIndex.build(self.base[:300], tables=2, hashes=30, seed=4)
        ids, _, stats = index.knn(self.queries, k=25)
        self.assertEqual(ids.shape, (100, 25))
        self.assertTrue(all(len(set(row)) == 25 for row in ids))
        self.assertTrue(stats["extra_probes"].any() or stats["scanned"].any())
        far = np.full((2, 32), 50.0, np.float32)
        far[1] += 1
        first = index.insert(far)
        self.assertEqual(first, 300)
        self.assertEqual(index.next_id, 302)
        ids, dist, _ = index.knn(far, k=1)
        np.testing.assert_array_equal(ids[:, 0], [300, 301])
        np.testing.assert_allclose(dist[:, 0], 0)
        index.remove(np.array([300, 0, 1]))
        self.assertFalse(index.contains(300))
        self.assertEqual(len(index), 299)
        ids, _, _ = index.knn(np.vstack([far, self.base[:2]]), k=5, probes=64)
        self.assertFalse(np.isin(ids, [300, 0, 1]).any())
        with self.assertRaisesRegex(lowdim.InvalidArgument, "id 300 was already removed"):
            index.remove([300])
        with self.assertRaisesRegex(lowdim.InvalidArgument, "integers"):
            index.remove(np.array([1.5]))

    def test_save_load_round_trip_and_corrupt_file(self):
        with tempfile.TemporaryDirectory() as d:
            for dtype in (np.float32, np.float64):
                index = lowdim.LshIndex.build(self.base.astype(dtype), family="cross_polytope", tables=4, hashes=2,
                                              seed=9, sketch_dim=16)
                index.insert(self.queries[:5].astype(dtype))
                index.remove([3])
                path = os.path.join(d, "i.lsh")
                index.save(path)
                loaded = lowdim.LshIndex.load(path)
                self.assertEqual((loaded.dtype, len(loaded), loaded.next_id, loaded.sketch_dim, loaded.cp_dim),
                                 (index.dtype, len(index), index.next_id, 16, index.cp_dim))
                a = index.knn(self.queries, k=10, probes=40)
                b = loaded.knn(self.queries, k=10, probes=40)
                np.testing.assert_array_equal(a[0], b[0])
                np.testing.assert_array_equal(a[1], b[1])
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            with self.assertRaises(lowdim.IoError):
                lowdim.LshIndex.load(path)
            with self.assertRaises(OSError):
                lowdim.LshIndex.load(os.path.join(d, "missing.lsh"))

    def test_errors_name_the_values(self):
        index = lowdim.LshIndex.build(self.base[:50], tables=3, hashes=8)
        with self.assertRaisesRegex(lowdim.InvalidArgument, "k = 51 exceeds the 50 points"):
            index.knn(self.queries, k=51)
        with self.assertRaisesRegex(lowdim.InvalidArgument, "queries have 5 columns, the index holds d = 32"):
            index.knn(np.zeros((2, 5), np.float32), k=1)
        bad = self.queries[:3].copy()
        bad[1, 4] = np.nan
        with self.assertRaisesRegex(lowdim.InvalidArgument, "row 1"):
            index.knn(bad, k=1)
        with self.assertRaisesRegex(lowdim.InvalidArgument, "probes = 2 is fewer than the 3 tables"):
            index.knn(self.queries, k=1, probes=2)
        with self.assertRaisesRegex(lowdim.InvalidArgument, "unknown LSH family 'minhash'"):
            lowdim.LshIndex.build(self.base, family="minhash")

    def test_tuner_and_adaptive_mode(self):
        budget = self.base.nbytes + 2000 * 120
        index, report = lowdim.LshIndex.tune(self.base, k=10, target_recall=0.9, memory_bytes=budget, seed=2)
        self.assertLessEqual(index.memory_bytes, budget)
        self.assertEqual(report["memory_bytes"], index.memory_bytes)
        self.assertEqual((report["tables"], report["hashes"]), (index.tables, index.hashes))
        self.assertGreaterEqual(report["recall"], 0.9)
        ids, _, _ = index.knn(self.queries, k=10, probes=report["probes"])
        self.assertGreaterEqual(recall(ids, self.truth), 0.9)
        ids, _, stats = index.knn(self.queries, k=10, target_recall=0.9)
        self.assertGreaterEqual(recall(ids, self.truth), 0.88)
        self.assertTrue((stats["estimated_recall"] >= 0.9).any())
        again = lowdim.tune_lsh(self.base, k=10, target_recall=0.9, memory_bytes=budget, seed=2)
        self.assertEqual((again["tables"], again["hashes"], again["probes"]),
                         (report["tables"], report["hashes"], report["probes"]))
        with self.assertRaisesRegex(lowdim.InvalidArgument, "memory budget of 1000 bytes is below"):
            lowdim.tune_lsh(self.base, memory_bytes=1000)
        self.assertAlmostEqual(lowdim.lsh_collision_probability("simhash", np.pi / 3), 2 / 3)
        self.assertLess(lowdim.lsh_collision_probability("pstable", 2.0, width=1.0),
                        lowdim.lsh_collision_probability("pstable", 1.0, width=1.0))

    def test_concurrent_queries_equal_sequential(self):
        index = lowdim.LshIndex.build(self.base, tables=10, hashes=12, seed=3)
        chunks = [self.queries[i::4] for i in range(4)]
        sequential = [index.knn(c, k=10, probes=100)[:2] for c in chunks]
        inserted = []

        def insert_far():
            inserted.append(index.insert(np.full((1, 32), 1e3, np.float32)))

        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = [pool.submit(index.knn, c, 10, 100) for c in chunks for _ in range(3)]
            writer = threading.Thread(target=insert_far)
            writer.start()
            writer.join()
            for n, f in enumerate(futures):
                ids, dist, _ = f.result()
                np.testing.assert_array_equal(ids, sequential[n // 3][0])
                np.testing.assert_array_equal(dist, sequential[n // 3][1])
        self.assertEqual(inserted, [2000])


if __name__ == "__main__":
    unittest.main()


class SklearnLSHNeighbors(unittest.TestCase):
    """lowdim.sklearn.LSHNeighbors: scikit-learn's estimator checks, and NearestNeighbors' answers."""

    def test_check_estimator(self):
        import warnings
        from sklearn.exceptions import SkipTestWarning
        from sklearn.utils.estimator_checks import check_estimator
        from lowdim.sklearn import LSHNeighbors
        for est in (LSHNeighbors(), LSHNeighbors(algorithm="lsh", n_tables=4, n_hashes=8, random_state=0),
                    LSHNeighbors(algorithm="lsh", family="pstable", n_tables=3, target_recall=0.9),
                    LSHNeighbors(algorithm="brute", metric="cosine")):
            with self.subTest(estimator=repr(est)):
                ran = 0
                for e, check in check_estimator(est, generate_only=True):
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", SkipTestWarning)
                        try:
                            check(e)
                        except unittest.SkipTest:
                            continue
                    ran += 1
                self.assertGreater(ran, 25)

    def test_agrees_with_nearest_neighbors(self):
        import pickle
        from sklearn.neighbors import NearestNeighbors
        from lowdim.sklearn import LSHNeighbors
        both = clustered(3100, 20, 30, 8).astype(np.float32)
        x, q = both[:3000], both[3000:]
        ref = NearestNeighbors(n_neighbors=10).fit(x)
        ref_d, ref_i = ref.kneighbors(q)
        for est in (LSHNeighbors(n_neighbors=10, algorithm="brute"),
                    LSHNeighbors(n_neighbors=10, algorithm="lsh", n_tables=10, n_hashes=12, n_probes=200,
                                 random_state=1),
                    LSHNeighbors(n_neighbors=10, algorithm="tuned", target_recall=0.9, random_state=1)):
            with self.subTest(algorithm=est.algorithm):
                est.fit(x)
                d, i = est.kneighbors(q)
                self.assertEqual(d.dtype, np.float32)
                self.assertGreaterEqual(recall(i, ref_i), 0.9 if est.algorithm != "brute" else 0.999)
                np.testing.assert_allclose(d, np.linalg.norm(q[:, None] - x[i], axis=-1), rtol=1e-4, atol=1e-4)
                # X=None: each indexed row's neighbours without itself, as scikit-learn.
                si = est.kneighbors(n_neighbors=3, return_distance=False)
                self.assertEqual(si.shape, (3000, 3))
                self.assertFalse((si == np.arange(3000)[:, None]).any())
                g = est.kneighbors_graph(q, mode="distance")
                self.assertEqual(g.shape, (100, 3000))
                self.assertEqual(g.nnz, 1000)
                np.testing.assert_allclose(np.sort(g.toarray(), axis=1)[:, -10:].max(1), d[:, -1], rtol=1e-5)
                clone = pickle.loads(pickle.dumps(est))
                np.testing.assert_array_equal(clone.kneighbors(q)[1], i)
        self.assertIsNotNone(est.tuning_)
        with self.assertRaisesRegex(ValueError, "Expected n_neighbors <= n_samples_fit"):
            LSHNeighbors(algorithm="lsh").fit(x[:5]).kneighbors(q, n_neighbors=6)
        with self.assertRaisesRegex(ValueError, "algorithm must be"):
            LSHNeighbors(algorithm="kd_tree").fit(x)
