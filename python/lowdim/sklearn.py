"""scikit-learn estimators over lowdim.

Each class is a thin adapter: parameters and validation follow scikit-learn's rules
(``get_params``/``set_params``/``clone``, fitted attributes ending in ``_``, input checked by
scikit-learn's own helpers, ``n_features_in_``, ``random_state`` as int, None or
``RandomState``), and the numerical work is lowdim's. Each passes
``sklearn.utils.estimator_checks.check_estimator`` (tests/python/test_sklearn.py).

    from lowdim.sklearn import RandomProjection, PCA, Whitening, BertWhitening, RandomizedSVD, LSHNeighbors
    from lowdim.sklearn import RandomFeatures
    pipe = make_pipeline(Whitening(kind="zca"), RandomProjection(n_components=64, kind="srht"))
    nn = LSHNeighbors(n_neighbors=10, algorithm="tuned", target_recall=0.9).fit(X)

float32 input stays float32 (``preserves_dtype``); any other dtype is computed in float64.
Fitted estimators pickle (the model travels as lowdim's own archive).
"""
import os
import tempfile

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _lowdim

__all__ = ["RandomProjection", "PCA", "Whitening", "BertWhitening", "RandomizedSVD", "RandomFeatures", "LSHNeighbors"]

_FLOAT_DTYPES = (np.float64, np.float32)


def _seed(random_state):
    """lowdim's 64-bit seed from scikit-learn's random_state (int, None or RandomState): an int
    is used as given, so the same int gives the same numbers as lowdim's own seed argument."""
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"random_state must be non-negative, got {random_state}")
        return int(random_state)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


def _model_to_bytes(model):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.ldm")
        model.save(path)
        with open(path, "rb") as f:
            return f.read()


def _model_from_bytes(cls, data):
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.ldm")
        with open(path, "wb") as f:
            f.write(data)
        return cls.load(path)


class _LowdimTransformer(TransformerMixin, BaseEstimator):
    """Shared plumbing: validation, the fitted lowdim model in ``_model``, pickling."""

    _model_class = None  # the lowdim class whose save/load pickles _model

    def _check(self, X, reset):
        return self._validate_data(X, reset=reset, dtype=_FLOAT_DTYPES, ensure_min_samples=1)

    def _check_n_samples(self, X, least):
        if X.shape[0] < least:
            raise ValueError(
                f"{type(self).__name__} needs at least {least} samples, got n_samples = {X.shape[0]}")

    def transform(self, X):
        """Applies the fitted model to the rows of X (n x n_features_in_)."""
        check_is_fitted(self, "_model")
        return self._model.transform(self._check(X, reset=False))

    def inverse_transform(self, X):
        """Maps outputs back to the input space (n x n_components_ -> n x n_features_in_)."""
        check_is_fitted(self, "_model")
        X = check_array(X, dtype=_FLOAT_DTYPES)
        if X.shape[1] != self.n_components_:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__}.inverse_transform is expecting "
                f"{self.n_components_} features as input")
        return self._model.inverse_transform(X)

    def _more_tags(self):
        return {"preserves_dtype": [np.float64, np.float32]}

    def __getstate__(self):
        state = self.__dict__.copy()
        if "_model" in state:
            state["_model"] = _model_to_bytes(state["_model"])
        return state

    def __setstate__(self, state):
        if "_model" in state:
            state = dict(state)
            state["_model"] = _model_from_bytes(self._model_class, state["_model"])
        self.__dict__.update(state)


class RandomProjection(_LowdimTransformer):
    """Johnson-Lindenstrauss random projection, as scikit-learn's GaussianRandomProjection and
    SparseRandomProjection, over every lowdim sketch kind.

    Parameters
    ----------
    n_components : int or 'auto'
        Target dimension k. 'auto' takes lowdim.min_dim(n_samples, eps) (the JL bound, rounded
        up), and refuses a k above n_features as scikit-learn does.
    eps : float
        Distortion for n_components='auto', in (0, 1).
    kind : str
        Sketch kind: gaussian, rademacher, sparse, srht, countsketch, orthogonal, ...
        (lowdim.sketch_kinds()).
    density : float or 'auto'
        Density of rademacher / sparse ('auto': the kind's default). Other kinds refuse a value.
    random_state : int, RandomState or None

    Attributes
    ----------
    n_components_ : int
    components_ : ndarray (n_components_, n_features_in_), the matrix S (y = S x)
    n_features_in_ : int
    """

    _model_class = _lowdim.RandomProjection

    def __init__(self, n_components="auto", *, eps=0.1, kind="gaussian", density="auto", random_state=None):
        self.n_components = n_components
        self.eps = eps
        self.kind = kind
        self.density = density
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draws the projection for X's n_features (and, for n_components="auto", its n_samples). Returns self."""
        X = self._check(X, reset=True)
        n, d = X.shape
        if isinstance(self.n_components, str):
            if self.n_components != "auto":
                raise ValueError(f"n_components must be a positive int or 'auto', got {self.n_components!r}")
            if not 0 < self.eps < 1:
                raise ValueError(f"eps must be in (0, 1), got {self.eps}")
            k = _lowdim.min_dim(max(n, 2), self.eps)
            if k > d:
                raise ValueError(
                    f"eps={self.eps} and n_samples={n} lead to a target dimension of {k} which is larger than "
                    f"the original space with n_features={d}")
        else:
            k = int(self.n_components)
            if k <= 0:
                raise ValueError(f"n_components must be a positive int or 'auto', got {self.n_components!r}")
        density = 0.0 if isinstance(self.density, str) and self.density == "auto" else float(self.density)
        self._model = _lowdim.RandomProjection(d, k=k, kind=self.kind, seed=_seed(self.random_state),
                                               density=density)
        self.n_components_ = k
        return self

    @property
    def components_(self):
        check_is_fitted(self, "_model")
        return self._model.sketch.materialize("float64")


class PCA(_LowdimTransformer):
    """Principal component analysis, as scikit-learn's PCA without whitening (see Whitening).

    Parameters
    ----------
    n_components : int or None
        Components kept; None keeps min(n_samples - 1, n_features).
    svd_solver : 'exact' or 'randomized'
        exact: eigendecomposition of the covariance; randomized: a single-pass sketch, then
        Rayleigh-Ritz (needs n_components).
    random_state : int, RandomState or None (randomized solver)

    Attributes
    ----------
    components_, explained_variance_, explained_variance_ratio_, singular_values_, mean_,
    n_components_, n_samples_, n_features_in_ — as scikit-learn's PCA (components signed so
    that the entry of largest magnitude is positive).
    """

    _model_class = _lowdim.Pca

    def __init__(self, n_components=None, *, svd_solver="exact", random_state=None):
        self.n_components = n_components
        self.svd_solver = svd_solver
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fits the mean and the components on the rows of X. Returns self."""
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fits on X and returns the transformed X (computed once, not fit then transform)."""
        return self._fit(X).transform(self._check(X, reset=False))

    def _fit(self, X):
        X = self._check(X, reset=True)
        self._check_n_samples(X, 2)
        n, d = X.shape
        if self.svd_solver not in ("exact", "randomized"):
            raise ValueError(f"svd_solver must be 'exact' or 'randomized', got {self.svd_solver!r}")
        k = min(n - 1, d) if self.n_components is None else int(self.n_components)
        if not 1 <= k <= min(n, d):
            raise ValueError(f"n_components={k} must be between 1 and min(n_samples, n_features)={min(n, d)}")
        if self.svd_solver == "exact":
            model = _lowdim.Pca.fit(X, k=k)
        else:
            model = _lowdim.Pca.fit(X, k=k, solver="randomized", seed=_seed(self.random_state))
        self._model = model
        self.n_components_ = model.output_dim
        self.n_samples_ = n
        self.components_ = model.components
        self.explained_variance_ = model.explained_variance
        self.explained_variance_ratio_ = model.explained_variance_ratio
        self.singular_values_ = model.singular_values
        self.mean_ = model.mean
        return model


class Whitening(_LowdimTransformer):
    """Whitening y = (x - mean) W with cov(y) = I: kinds pca, zca, cholesky, zca-cor, pca-cor
    (Kessy, Lewin & Strimmer 2018).

    Parameters
    ----------
    kind : str
    n_components : int or None
        Dimensions kept by the pca and pca-cor kinds (None: all); the other kinds keep all.
    epsilon : float
        Added to the eigenvalues (regularisation of tiny ones).
    normalize : bool
        L2-normalise every output row.

    Attributes
    ----------
    mean_ : ndarray (n_features_in_,)
    whitening_matrix_ : ndarray (n_features_in_, n_components_), the W of y = (x - mean_) W
    n_components_ : int
    """

    _model_class = _lowdim.Whitening

    def __init__(self, kind="zca", *, n_components=None, epsilon=0.0, normalize=False):
        self.kind = kind
        self.n_components = n_components
        self.epsilon = epsilon
        self.normalize = normalize

    def _more_tags(self):
        tags = super()._more_tags()
        if getattr(self, "kind", "pca") not in ("pca", "pca-cor"):  # BertWhitening is pca
            # These checks set n_components = 1, which only the pca kinds take.
            reason = (f"the check sets n_components=1; kind={self.kind!r} keeps all dimensions and refuses it "
                      "(run with kind='pca' for these checks)")
            tags["_xfail_checks"] = {name: reason for name in (
                "check_methods_subset_invariance", "check_methods_sample_order_invariance",
                "check_fit2d_predict1d", "check_dont_overwrite_parameters", "check_dict_unchanged")}
        return tags

    def fit(self, X, y=None):
        """Fits the mean and the whitening matrix on the rows of X. Returns self."""
        X = self._check(X, reset=True)
        self._check_n_samples(X, 2)
        k = 0 if self.n_components is None else int(self.n_components)
        self._model = _lowdim.Whitening.fit(X, kind=self.kind, k=k, epsilon=self.epsilon, normalize=self.normalize)
        self._set_fitted()
        return self

    def _set_fitted(self):
        self.n_components_ = self._model.output_dim
        self.mean_ = self._model.mean
        self.whitening_matrix_ = self._model.matrix


class BertWhitening(Whitening):
    """BERT-whitening (Su et al. 2021): PCA whitening keeping n_components dimensions, optionally
    L2-normalised — the post-processing of sentence embeddings.

    Parameters
    ----------
    n_components : int or None
        Dimensions kept (256 is the paper's usual choice for 768-dimensional embeddings);
        None keeps all.
    normalize : bool
    fast : bool
        float32 input: sum the covariance in float panels (about 1.8x faster, ~1e-5 relative).
    """

    def __init__(self, n_components=None, *, normalize=False, fast=False):
        self.n_components = n_components
        self.normalize = normalize
        self.fast = fast

    def fit(self, X, y=None):
        """Fits the mean and the n_components-dimensional PCA whitening on the rows of X. Returns self."""
        X = self._check(X, reset=True)
        self._check_n_samples(X, 2)
        k = X.shape[1] if self.n_components is None else int(self.n_components)
        if self.fast and X.dtype != np.float32:
            raise ValueError("fast=True sums float32 input in float panels; the input here is "
                             f"{X.dtype}, which is summed in double anyway")
        self._model = _lowdim.bert_whitening(X, k=k, normalize=self.normalize, fast=self.fast)
        self._set_fitted()
        return self


class RandomizedSVD(_LowdimTransformer):
    """Truncated SVD by lowdim's randomized solvers, as scikit-learn's TruncatedSVD
    (no centring): transform(X) = X V, fit_transform(X) = U diag(s).

    Parameters
    ----------
    n_components : int
    method : 'krylov' (default: block Krylov, depth by a residual check), 'rsvd', 'qb',
        'single-pass'
    tol : float
        Fixed-accuracy target for method='qb' (n_components is then an upper bound).
    n_oversamples, n_iter : int or None (None: the method's default; an option the method
        does not use is refused)
    random_state : int, RandomState or None

    Attributes
    ----------
    components_ : ndarray (n_components_, n_features_in_), V^T
    singular_values_, explained_variance_, explained_variance_ratio_, n_components_
    """

    def __init__(self, n_components=2, *, method="krylov", tol=0.0, n_oversamples=None, n_iter=None,
                 random_state=None):
        self.n_components = n_components
        self.method = method
        self.tol = tol
        self.n_oversamples = n_oversamples
        self.n_iter = n_iter
        self.random_state = random_state

    def fit(self, X, y=None):
        """Fits the top n_components right singular vectors of X (not centred). Returns self."""
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        """Fits on X and returns the transformed X (computed once, not fit then transform)."""
        X = self._check(X, reset=True)
        n, d = X.shape
        k = int(self.n_components)
        if not 1 <= k <= min(n, d):
            raise ValueError(f"n_components={k} must be between 1 and min(n_samples, n_features)={min(n, d)}; "
                             f"got n_samples = {n}, n_features = {d}")
        u, s, vt = _lowdim.svd(X, rank=k, method=self.method, seed=_seed(self.random_state), tol=self.tol,
                               oversampling=-1 if self.n_oversamples is None else int(self.n_oversamples),
                               power_iterations=-1 if self.n_iter is None else int(self.n_iter))
        self.components_ = vt
        self.singular_values_ = s
        self.n_components_ = s.shape[0]
        x_new = u * s
        total = X.var(axis=0, dtype=np.float64).sum()
        self.explained_variance_ = x_new.var(axis=0, dtype=np.float64)
        self.explained_variance_ratio_ = self.explained_variance_ / total if total > 0 else \
            np.zeros_like(self.explained_variance_)
        self._model = None  # fitted state is the arrays above
        return x_new

    def transform(self, X):
        check_is_fitted(self, "components_")
        X = self._check(X, reset=False)
        return _lowdim.dense_product(X, self.components_.astype(X.dtype, copy=False), trans_b=True)

    def inverse_transform(self, X):
        check_is_fitted(self, "components_")
        X = check_array(X, dtype=_FLOAT_DTYPES)
        if X.shape[1] != self.n_components_:
            raise ValueError(f"X has {X.shape[1]} features, but RandomizedSVD.inverse_transform is expecting "
                             f"{self.n_components_} features as input")
        return _lowdim.dense_product(X, self.components_.astype(X.dtype, copy=False))

    def __getstate__(self):
        return self.__dict__.copy()

    def __setstate__(self, state):
        self.__dict__.update(state)


class RandomFeatures(TransformerMixin, BaseEstimator):
    """Random features of the Gaussian (RBF) kernel exp(-gamma ||x - y||^2), as scikit-learn's
    RBFSampler (and usable where Nystroem is, e.g. before a linear model in a Pipeline), over
    lowdim's random-feature maps: transform(X) @ transform(Y).T estimates the kernel matrix.

    Parameters
    ----------
    n_components : int
        m, the random directions (rows of W). The trigonometric map gives 2m output features
        ([cos Wx, sin Wx] / sqrt(m), Rahimi & Recht), the positive map m.
    gamma : float
        The kernel's exp(-gamma ||x - y||^2), > 0.
    kind : 'iid', 'orf', 'sorf' or 'simplex'
        How W is drawn (lowdim.RandomFeatures' projection): independent Gaussian rows (as
        RBFSampler), orthogonal random features (blocks of orthogonal rows with Gaussian row
        norms: unbiased, lower variance), structured ORF (H D1 H D2 H D3 blocks, O(d log d) per
        row, fixed row norms: a small bias) or simplex random features (needs n_features >= 2).
    feature_map : 'trigonometric' or 'positive'
        trigonometric: lowdim's trig_gaussian map; positive: FAVOR+ features of the softmax
        kernel exp(2 gamma x.y), each row times exp(-gamma ||x||^2), which estimate the same
        Gaussian kernel with positive features (larger variance when gamma ||x||^2 is large).
    random_state : int, RandomState or None
        An int is lowdim's seed as given (lowdim.RandomFeatures(seed=...)).

    Attributes
    ----------
    n_features_in_ : int
    n_features_out_ : int, the output dimension (2 n_components or n_components)
    seed_ : int, the seed W was drawn from
    random_weights_ : ndarray (n_features_in_, n_components), W^T (unscaled: the map is applied
        to sqrt(2 gamma) x)
    """

    _MAPS = {"trigonometric": "trig_gaussian", "positive": "positive"}

    def __init__(self, n_components=100, *, gamma=1.0, kind="orf", feature_map="trigonometric", random_state=None):
        self.n_components = n_components
        self.gamma = gamma
        self.kind = kind
        self.feature_map = feature_map
        self.random_state = random_state

    def fit(self, X, y=None):
        """Draws W for X's n_features (only the shape of X is used). Returns self."""
        X = self._validate_data(X, reset=True, dtype=_FLOAT_DTYPES, ensure_min_samples=1)
        if not isinstance(self.n_components, (int, np.integer)) or isinstance(self.n_components, bool) \
                or self.n_components < 1:
            raise ValueError(f"n_components must be a positive int, got {self.n_components!r}")
        if not isinstance(self.gamma, (int, float, np.integer, np.floating)) or not self.gamma > 0 \
                or not np.isfinite(self.gamma):
            raise ValueError(f"gamma must be a positive finite number, got {self.gamma!r}")
        if self.feature_map not in self._MAPS:
            raise ValueError(f"feature_map must be 'trigonometric' or 'positive', got {self.feature_map!r}")
        self.seed_ = _seed(self.random_state)
        self._features = self._make(X.shape[1])
        self.n_features_out_ = self._features.features
        return self

    def _make(self, n_features):
        return _lowdim.RandomFeatures(map=self._MAPS[self.feature_map], projection=self.kind, dim=int(n_features),
                                      directions=int(self.n_components), seed=self.seed_)

    def transform(self, X):
        """The random features of the rows of X (n x n_features_out_); float32 stays float32."""
        check_is_fitted(self, "_features")
        X = self._validate_data(X, reset=False, dtype=_FLOAT_DTYPES)
        return self._features.transform(X, scale=float(np.sqrt(2.0 * self.gamma)),
                                        gaussian=self.feature_map == "positive")

    @property
    def random_weights_(self):
        check_is_fitted(self, "_features")
        return self._features.projection_matrix().T

    def _more_tags(self):
        return {"preserves_dtype": [np.float64, np.float32]}

    def __getstate__(self):
        state = self.__dict__.copy()
        state.pop("_features", None)  # redrawn from seed_ (the same W, bit for bit)
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        if "seed_" in state:
            self._features = self._make(self.n_features_in_)


class LSHNeighbors(BaseEstimator):
    """Approximate nearest neighbours by lowdim's LSH index, as scikit-learn's NearestNeighbors
    (fit, kneighbors, kneighbors_graph).

    Parameters
    ----------
    n_neighbors : int
        Neighbours returned by default.
    algorithm : 'lsh', 'tuned', 'brute' or 'auto'
        lsh: an index of n_tables tables of n_hashes functions, queried with n_probes probes
        (or adaptively, with target_recall); tuned: lowdim's tuner picks the tables, hashes and
        probes for target_recall on held-out rows within memory_bytes (it needs at least about
        80 samples); brute: exact search (lowdim.exact_knn, blocked GEMM); auto: brute below 2000
        samples, lsh otherwise.
    family : 'simhash', 'cross_polytope' or 'pstable'
    n_tables, n_hashes : int
        L and K of algorithm='lsh' (n_hashes None: 16 simhash, 2 cross_polytope, 12 pstable).
    n_probes : int or None
        Buckets probed per query (>= n_tables; None: 8 per table, or the tuner's choice).
    target_recall : float or None
        lsh: adaptive queries that stop once the collision model's recall reaches it (n_probes
        caps); tuned: the recall the tuner aims at (default 0.9).
    metric : 'euclidean', 'cosine' or 'inner_product'
    sketch_dim : int
        Two-stage re-ranking on a JL sketch of this dimension (0: exact re-ranking only).
    memory_bytes : int
        algorithm='tuned': budget of the index, data included (0: none).
    random_state : int, RandomState or None

    Attributes
    ----------
    n_samples_fit_ : int
    n_features_in_ : int
    effective_metric_ : str
    tuning_ : dict or None (algorithm='tuned': the tuner's report)
    """

    def __init__(self, n_neighbors=5, *, algorithm="auto", family="simhash", n_tables=20, n_hashes=None,
                 n_probes=None, target_recall=None, metric="euclidean", sketch_dim=0, memory_bytes=0,
                 random_state=None):
        self.n_neighbors = n_neighbors
        self.algorithm = algorithm
        self.family = family
        self.n_tables = n_tables
        self.n_hashes = n_hashes
        self.n_probes = n_probes
        self.target_recall = target_recall
        self.metric = metric
        self.sketch_dim = sketch_dim
        self.memory_bytes = memory_bytes
        self.random_state = random_state

    def fit(self, X, y=None):
        """Indexes the rows of X (n_samples x n_features). Returns self."""
        X = self._validate_data(X, reset=True, dtype=_FLOAT_DTYPES, ensure_min_samples=1)
        if self.algorithm not in ("auto", "lsh", "tuned", "brute"):
            raise ValueError(f"algorithm must be 'auto', 'lsh', 'tuned' or 'brute', got {self.algorithm!r}")
        if self.metric not in ("euclidean", "cosine", "inner_product"):
            raise ValueError(f"metric must be 'euclidean', 'cosine' or 'inner_product', got {self.metric!r}")
        if not isinstance(self.n_neighbors, (int, np.integer)) or self.n_neighbors < 1:
            raise ValueError(f"n_neighbors must be a positive integer, got {self.n_neighbors!r}")
        algorithm = self.algorithm
        if algorithm == "auto":
            algorithm = "brute" if X.shape[0] < 2000 else "lsh"
        seed = _seed(self.random_state)
        self.tuning_ = None
        self._probes = 0
        self._target = 0.0
        self._fit_X = X
        if algorithm == "brute":
            self._index = None
        elif algorithm == "tuned":
            target = 0.9 if self.target_recall is None else float(self.target_recall)
            self._index, self.tuning_ = _lowdim.LshIndex.tune(
                X, k=int(self.n_neighbors), target_recall=target, memory_bytes=int(self.memory_bytes),
                family=self.family, metric=self.metric, sketch_dim=int(self.sketch_dim), seed=seed)
            self._probes = int(self.tuning_["probes"]) if self.n_probes is None else int(self.n_probes)
        else:
            hashes = self.n_hashes
            if hashes is None:
                hashes = {"simhash": 16, "cross_polytope": 2, "cross-polytope": 2, "pstable": 12}.get(self.family, 16)
            self._index = _lowdim.LshIndex.build(X, family=self.family, tables=int(self.n_tables), hashes=int(hashes),
                                                 seed=seed, metric=self.metric, sketch_dim=int(self.sketch_dim))
            self._probes = 8 * int(self.n_tables) if self.n_probes is None else int(self.n_probes)
            self._target = 0.0 if self.target_recall is None else float(self.target_recall)
            if self._target:
                self._probes = 0 if self.n_probes is None else int(self.n_probes)
        self._algorithm = algorithm
        self.n_samples_fit_ = X.shape[0]
        self.effective_metric_ = self.metric
        return self

    def kneighbors(self, X=None, n_neighbors=None, return_distance=True):
        """The n_neighbors nearest indexed rows of each row of X: (distances, indices), both
        n_queries x n_neighbors and ascending, or indices alone. X=None: the neighbours of each
        indexed row, itself excluded (as scikit-learn)."""
        check_is_fitted(self, "n_samples_fit_")
        k = self.n_neighbors if n_neighbors is None else n_neighbors
        if not isinstance(k, (int, np.integer)) or k <= 0:
            raise ValueError(f"Expected n_neighbors > 0. Got {k!r}")
        k = int(k)
        self_query = X is None
        if self_query:
            X = self._fit_X
            k_ask = k + 1
        else:
            X = self._validate_data(X, reset=False, dtype=_FLOAT_DTYPES)
            k_ask = k
        if k_ask > self.n_samples_fit_:
            raise ValueError(f"Expected n_neighbors <= n_samples_fit, but n_neighbors = {k_ask}, n_samples_fit = "
                             f"{self.n_samples_fit_}, n_samples = {X.shape[0]}")
        if self._index is None:
            ids, dist = _lowdim.exact_knn(self._fit_X, X, k=k_ask, metric=self.metric)
        else:
            ids, dist, _ = self._index.knn(X, k=k_ask, probes=self._probes, target_recall=self._target)
        if self_query:
            ids, dist = _drop_self(ids, dist, k)
        return (dist, ids) if return_distance else ids

    def kneighbors_graph(self, X=None, n_neighbors=None, mode="connectivity"):
        """The k-neighbours graph as a sparse CSR matrix (n_queries x n_samples_fit): 1 per
        neighbour (mode='connectivity') or its distance (mode='distance')."""
        from scipy.sparse import csr_matrix
        if mode not in ("connectivity", "distance"):
            raise ValueError(f"Unsupported mode, must be one of 'connectivity' or 'distance' but got {mode!r} instead")
        dist, ids = self.kneighbors(X, n_neighbors, return_distance=True)
        rows, k = ids.shape
        data = np.ones(rows * k) if mode == "connectivity" else dist.ravel().astype(np.float64)
        return csr_matrix((data, ids.ravel(), np.arange(0, rows * k + 1, k)), shape=(rows, self.n_samples_fit_))

    def fit_index_bytes(self):
        """Bytes the fitted index holds (data included); 0 for algorithm='brute'."""
        check_is_fitted(self, "n_samples_fit_")
        return 0 if self._index is None else self._index.memory_bytes

    def __getstate__(self):
        state = self.__dict__.copy()
        if state.get("_index") is not None:
            state["_index"] = _model_to_bytes(state["_index"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_index"), bytes):
            state = dict(state)
            state["_index"] = _model_from_bytes(_lowdim.LshIndex, state["_index"])
        self.__dict__.update(state)


def _drop_self(ids, dist, k):
    """Each row without its own index (row i is the query of indexed row i), k kept."""
    rows = np.arange(ids.shape[0])[:, None]
    keep = ids != rows
    # A row whose own index is absent keeps its first k.
    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(ids, order, 1), np.take_along_axis(dist, order, 1)
