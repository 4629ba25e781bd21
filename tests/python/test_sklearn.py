"""lowdim.sklearn: scikit-learn's own estimator checks, and agreement with scikit-learn's
classes where the maths is the same."""
import pickle
import unittest
import warnings

import numpy as np
from sklearn.base import clone
from sklearn.decomposition import PCA as SkPCA
from sklearn.decomposition import TruncatedSVD
from sklearn.datasets import make_classification
from sklearn.exceptions import SkipTestWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline, Pipeline
from sklearn.random_projection import johnson_lindenstrauss_min_dim
from sklearn.utils.estimator_checks import check_estimator

import lowdim
from lowdim.sklearn import PCA, BertWhitening, RandomFeatures, RandomizedSVD, RandomProjection, Whitening
from sklearn.kernel_approximation import RBFSampler, Nystroem

# Each estimator as check_estimator sees it; RandomProjection with a fixed k because 'auto'
# asks for thousands of dimensions on the checks' 3-to-10-feature data (and refuses, as
# scikit-learn's own random projections do).
ESTIMATORS = [
    RandomProjection(n_components=2),
    RandomProjection(n_components=3, kind="sparse"),
    RandomProjection(n_components=2, kind="orthogonal"),
    PCA(),
    PCA(n_components=2, svd_solver="randomized", random_state=0),
    Whitening(),
    Whitening(kind="pca", n_components=2),
    Whitening(kind="cholesky"),
    BertWhitening(),
    RandomizedSVD(),
    RandomizedSVD(method="rsvd"),
    RandomFeatures(),
    RandomFeatures(kind="iid", feature_map="positive"),
    RandomFeatures(kind="sorf", gamma=0.3),
]


def signs_aligned(a, b):
    """b with each row's sign flipped to match a's (components are defined up to sign)."""
    s = np.sign(np.sum(a * b, axis=1, keepdims=True))
    s[s == 0] = 1
    return b * s


class CheckEstimator(unittest.TestCase):
    def test_every_estimator_passes_check_estimator(self):
        for est in ESTIMATORS:
            with self.subTest(estimator=repr(est)):
                ran, skipped = 0, []
                for e, check in check_estimator(est, generate_only=True):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always", SkipTestWarning)
                        try:
                            check(e)  # raises on a failed check
                        except unittest.SkipTest as skip:  # a check the estimator's tags mark as not applying
                            skipped.append(str(skip))
                            continue
                    skipped += [str(w.message) for w in caught if issubclass(w.category, SkipTestWarning)]
                    ran += 1
                self.assertGreater(ran, 25)
                # The only checks skipped are the ones a tag explains (and pandas', if absent).
                for message in skipped:
                    self.assertTrue("keeps all dimensions" in message or "pandas" in message, message)


class AgreesWithScikitLearn(unittest.TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.x = rng.standard_normal((300, 12)) @ rng.standard_normal((12, 12)) + 5.0

    def test_pca_matches_sklearn_up_to_sign(self):
        ours = PCA(n_components=5).fit(self.x)
        ref = SkPCA(n_components=5, svd_solver="full").fit(self.x)
        np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-10)
        np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-10)
        np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-10)
        np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=1e-12)
        np.testing.assert_allclose(signs_aligned(ref.components_, ours.components_), ref.components_, atol=1e-9)
        y, y_ref = ours.transform(self.x), ref.transform(self.x)
        np.testing.assert_allclose(signs_aligned(y_ref.T, y.T).T, y_ref, atol=1e-8)

    def test_pca_whitening_matches_sklearn_whiten_up_to_sign(self):
        ours = Whitening(kind="pca", n_components=4).fit(self.x)
        ref = SkPCA(n_components=4, whiten=True, svd_solver="full").fit(self.x)
        y, y_ref = ours.transform(self.x), ref.transform(self.x)
        np.testing.assert_allclose(signs_aligned(y_ref.T, y.T).T, y_ref, atol=1e-8)
        np.testing.assert_allclose(np.cov(y, rowvar=False), np.eye(4), atol=1e-10)

    def test_min_dim_against_johnson_lindenstrauss_min_dim(self):
        # scikit-learn truncates the bound, lowdim rounds it up: equal, or one more.
        for n in (10, 1000, 10**6):
            for eps in (0.1, 0.3, 0.5, 0.9):
                ours = lowdim.min_dim(n, eps)
                theirs = int(johnson_lindenstrauss_min_dim(n, eps=eps))
                self.assertIn(ours - theirs, (0, 1), (n, eps, ours, theirs))

    def test_randomized_svd_matches_truncated_svd(self):
        ours = RandomizedSVD(n_components=4, random_state=0).fit(self.x)
        ref = TruncatedSVD(n_components=4, algorithm="arpack").fit(self.x)
        np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=1e-10)
        np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)
        np.testing.assert_allclose(signs_aligned(ref.components_, ours.components_), ref.components_, atol=1e-8)
        np.testing.assert_allclose(np.abs(ours.transform(self.x)), np.abs(ref.transform(self.x)), atol=1e-8)

    def test_auto_n_components_follows_min_dim_and_refuses_as_sklearn(self):
        x = np.random.default_rng(1).standard_normal((50, 3000))
        rp = RandomProjection(eps=0.5, random_state=3).fit(x)
        self.assertEqual(rp.n_components_, lowdim.min_dim(50, 0.5))
        self.assertEqual(rp.transform(x).shape, (50, rp.n_components_))
        with self.assertRaisesRegex(ValueError, "larger than the original space with n_features=30"):
            RandomProjection(eps=0.1).fit(x[:, :30])


class Conventions(unittest.TestCase):
    def setUp(self):
        self.x, self.y = make_classification(n_samples=200, n_features=20, n_informative=6, n_redundant=0, random_state=0)

    def test_pipeline_and_grid_search(self):
        pipe = Pipeline([("white", Whitening(kind="zca", epsilon=1e-9)),
                         ("proj", RandomProjection(n_components=10, random_state=0)),
                         ("clf", LogisticRegression(max_iter=500))])
        search = GridSearchCV(pipe, {"proj__n_components": [5, 10], "proj__kind": ["gaussian", "srht"]}, cv=3)
        search.fit(self.x, self.y)
        self.assertIn(search.best_params_["proj__kind"], ("gaussian", "srht"))
        self.assertGreater(search.best_score_, 0.6)
        make_pipeline(PCA(n_components=5), RandomizedSVD(n_components=2)).fit_transform(self.x)

    def test_random_state_int_none_and_randomstate(self):
        a = RandomProjection(n_components=5, random_state=7).fit(self.x).transform(self.x)
        b = RandomProjection(n_components=5, random_state=7).fit(self.x).transform(self.x)
        np.testing.assert_array_equal(a, b)
        # An int is lowdim's own seed: the estimator and lowdim.RandomProjection agree.
        direct = lowdim.RandomProjection(20, k=5, seed=7).transform(self.x)
        np.testing.assert_array_equal(a, direct)
        c = RandomProjection(n_components=5, random_state=np.random.RandomState(7)).fit(self.x).transform(self.x)
        d = RandomProjection(n_components=5, random_state=np.random.RandomState(7)).fit(self.x).transform(self.x)
        np.testing.assert_array_equal(c, d)
        e = RandomProjection(n_components=5, random_state=None).fit(self.x).transform(self.x)
        self.assertEqual(e.shape, (200, 5))
        with self.assertRaisesRegex(ValueError, "non-negative"):
            RandomProjection(n_components=5, random_state=-1).fit(self.x)

    def test_clone_get_set_params(self):
        est = RandomProjection(n_components=4, kind="sparse", density=0.3, random_state=1)
        twin = clone(est)
        self.assertEqual(twin.get_params(), est.get_params())
        twin.set_params(kind="srht", density="auto")
        self.assertEqual(twin.kind, "srht")
        self.assertFalse(hasattr(twin, "n_components_"))

    def test_pickle_round_trip_gives_the_same_outputs(self):
        for est in (PCA(n_components=3), Whitening(kind="cholesky"), BertWhitening(n_components=4),
                    RandomProjection(n_components=6, kind="srht", random_state=2), RandomizedSVD(n_components=3)):
            with self.subTest(estimator=repr(est)):
                est.fit(self.x)
                again = pickle.loads(pickle.dumps(est))
                np.testing.assert_array_equal(est.transform(self.x), again.transform(self.x))

    def test_float32_is_preserved_and_inverse_transform_maps_back(self):
        x32 = self.x.astype(np.float32)
        for est in (PCA(n_components=20), Whitening(), RandomProjection(n_components=8, random_state=0)):
            with self.subTest(estimator=repr(est)):
                y = est.fit_transform(x32)
                self.assertEqual(y.dtype, np.float32)
                back = est.inverse_transform(y)
                self.assertEqual(back.shape, x32.shape)
        # PCA and whitening with every component are invertible.
        y = PCA(n_components=20).fit(self.x)
        np.testing.assert_allclose(y.inverse_transform(y.transform(self.x)), self.x, atol=1e-9)

    def test_errors_name_the_problem(self):
        with self.assertRaisesRegex(ValueError, "n_samples = 1"):
            PCA().fit(self.x[:1])
        with self.assertRaisesRegex(ValueError, "X has 5 features, but PCA is expecting 20 features"):
            PCA(n_components=2).fit(self.x).transform(self.x[:, :5])
        with self.assertRaisesRegex(ValueError, "fast=True sums float32"):
            BertWhitening(fast=True).fit(self.x)
        with self.assertRaisesRegex(ValueError, "svd_solver must be"):
            PCA(svd_solver="arpack").fit(self.x)


class RandomFeaturesKernel(unittest.TestCase):
    """Z Z^T against exp(-gamma ||x - y||^2), and against RBFSampler at the same output dimension."""

    def setUp(self):
        rng = np.random.default_rng(11)
        self.d, self.gamma = 16, 0.5
        self.x = rng.standard_normal((150, self.d)) / np.sqrt(self.d)
        sq = (self.x ** 2).sum(1)
        # exact_kernel's gaussian is exp(-||x - y||^2 / (2 sigma^2)): sigma^2 = 1 / (2 gamma).
        self.k = lowdim.exact_kernel(self.x, self.x, kind="gaussian", sigma=float(np.sqrt(0.5 / self.gamma)))
        np.testing.assert_allclose(self.k, np.exp(-self.gamma * (sq[:, None] + sq[None, :] - 2 * self.x @ self.x.T)),
                                   rtol=1e-10)

    def mean_error(self, make, seeds=range(12)):
        errs = []
        for seed in seeds:
            z = make(seed).fit_transform(self.x)
            errs.append(np.linalg.norm(z @ z.T - self.k) / np.linalg.norm(self.k))
        return float(np.mean(errs))

    def test_accuracy_order_against_rbf_sampler(self):
        m = 32  # directions; the trigonometric map gives 2m outputs, RBFSampler is given 2m too
        ref = self.mean_error(lambda s: RBFSampler(gamma=self.gamma, n_components=2 * m, random_state=s))
        iid = self.mean_error(lambda s: RandomFeatures(m, gamma=self.gamma, kind="iid", random_state=s))
        orf = self.mean_error(lambda s: RandomFeatures(m, gamma=self.gamma, kind="orf", random_state=s))
        pos = self.mean_error(lambda s: RandomFeatures(m, gamma=self.gamma, kind="orf", feature_map="positive",
                                                       random_state=s))
        # Measured (12 seeds): RBFSampler 0.267, iid 0.244, orf 0.147, positive orf 0.458, orf 4m 0.073.
        self.assertLess(iid, 1.25 * ref, (iid, ref))
        self.assertGreater(iid, 0.6 * ref, (iid, ref))  # the same order, not a different kernel
        self.assertLess(orf, 0.8 * iid, (orf, iid))
        self.assertLess(orf, 0.8 * ref, (orf, ref))
        self.assertLess(pos, 3.0 * ref, (pos, ref))
        # More directions, smaller error (an estimator of this kernel, not of another).
        orf4 = self.mean_error(lambda s: RandomFeatures(4 * m, gamma=self.gamma, kind="orf", random_state=s))
        self.assertLess(orf4, 0.7 * orf, (orf4, orf))

    def test_positive_features_are_positive_and_dtype_is_preserved(self):
        z = RandomFeatures(20, kind="iid", feature_map="positive", random_state=0).fit_transform(self.x)
        self.assertEqual(z.shape, (150, 20))
        self.assertTrue((z > 0).all())
        z32 = RandomFeatures(20, random_state=0).fit_transform(self.x.astype(np.float32))
        self.assertEqual(z32.dtype, np.float32)
        self.assertEqual(z32.shape, (150, 40))
        z64 = RandomFeatures(20, random_state=0).fit_transform(self.x)
        np.testing.assert_allclose(z32, z64, atol=1e-5)

    def test_seed_is_lowdims_pickle_and_pipeline(self):
        est = RandomFeatures(8, gamma=self.gamma, kind="simplex", random_state=5).fit(self.x)
        direct = lowdim.RandomFeatures(map="trig_gaussian", projection="simplex", dim=self.d, directions=8, seed=5)
        np.testing.assert_array_equal(est.random_weights_, direct.projection_matrix().T)
        again = pickle.loads(pickle.dumps(est))
        np.testing.assert_array_equal(est.transform(self.x), again.transform(self.x))
        x, y = make_classification(n_samples=200, n_features=10, random_state=0)
        for approx in (RandomFeatures(50, gamma=0.1, random_state=0), Nystroem(gamma=0.1, n_components=50, random_state=0)):
            with self.subTest(approx=repr(approx)):
                search = GridSearchCV(make_pipeline(approx, LogisticRegression(max_iter=1000)),
                                      {approx.__class__.__name__.lower() + "__gamma": [0.05, 0.1]}, cv=3).fit(x, y)
                self.assertGreater(search.best_score_, 0.7)

    def test_errors_name_the_problem(self):
        with self.assertRaisesRegex(ValueError, "gamma must be a positive"):
            RandomFeatures(gamma=0).fit(self.x)
        with self.assertRaisesRegex(ValueError, "feature_map must be"):
            RandomFeatures(feature_map="relu").fit(self.x)
        with self.assertRaisesRegex(ValueError, "n_components must be a positive int"):
            RandomFeatures(n_components=0).fit(self.x)
        with self.assertRaisesRegex(ValueError, "X has 5 features, but RandomFeatures is expecting 16"):
            RandomFeatures().fit(self.x).transform(self.x[:, :5])


class ArrayLikes(unittest.TestCase):
    def test_plain_functions_take_lists_and_memoryviews(self):
        a = [[1.0, 2.0, 0.5], [3.0, 4.0, 1.0], [5.0, 6.5, 2.0], [0.0, 1.0, 7.0]]
        u, s, vt = lowdim.svd(a, rank=2)
        np.testing.assert_allclose(s, np.linalg.svd(np.array(a), compute_uv=False)[:2], rtol=1e-12)
        p = lowdim.RandomProjection(3, k=2, seed=1)
        np.testing.assert_array_equal(p.transform(a), p.transform(np.array(a)))
        np.testing.assert_array_equal(p.transform(memoryview(np.array(a))), p.transform(np.array(a)))
        with self.assertRaisesRegex(ValueError, "cannot convert the array to float64"):
            p.transform([["a", "b", "c"]])

    def test_dense_product_is_row_split_invariant(self):
        rng = np.random.default_rng(5)
        a, b = rng.standard_normal((97, 300)).astype(np.float32), rng.standard_normal((300, 41)).astype(np.float32)
        whole = lowdim.dense_product(a, b)
        self.assertEqual(whole.dtype, np.float32)
        rows = np.vstack([lowdim.dense_product(a[i:i + 1], b) for i in range(97)])
        np.testing.assert_array_equal(whole, rows)
        np.testing.assert_allclose(whole, a @ b, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(lowdim.dense_product(a, b.T.copy(), trans_b=True), whole, atol=0)


if __name__ == "__main__":
    unittest.main()
