"""lowdim: dimensionality reduction and randomized linear algebra on the Johnson-Lindenstrauss lemma.

NumPy arrays (or anything ``numpy.asarray`` takes) in and out; rows are samples (n x d).
float32 input runs in float32, other dtypes in float64. The GIL is released during work,
and the same seed gives the same numbers on any number of threads. Errors are
``lowdim.InvalidArgument`` (a ``ValueError``), ``lowdim.IoError`` (an ``OSError``) and
``lowdim.NumericalError``, with messages that name the function and the values.

Modules: random projection (``RandomProjection``, ``Sketch``, ``min_dim``,
``measure_distortion``), randomized SVD (``svd``), whitening and PCA (``Whitening``,
``bert_whitening``, ``Pca``), nearest neighbours (``exact_knn``, ``LshHasher``, ``LshIndex``),
random-feature attention (``RandomFeatures``, ``softmax_attention``, ``linear_attention``,
``RecurrentAttention``, ``apply_rope``), files (``read``, ``write_npy``). scikit-learn estimators are in
``lowdim.sklearn``.
"""
from . import _lowdim
from ._lowdim import *  # noqa: F401,F403
from ._lowdim import __version__  # noqa: F401

__all__ = [name for name in dir(_lowdim) if not name.startswith("_")]
