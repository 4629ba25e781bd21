"""The spectrum families of the randomized-SVD accuracy table, shared by test_rsvd.py and the
C++ table in tests/rsvd_test.cpp (whose thresholds were measured with this file: run it as a
script to print them). Each family gives sigma_i for i = 0 .. r - 1."""
import numpy as np

SHAPES = ((600, 300), (300, 600), (300, 300))  # tall, wide, square: r = 300
RANKS = (10, 32, 50)  # below, at and above the Krylov block size (32)


def families(r):
    i = np.arange(r, dtype=np.float64)
    return {
        "poly 1/2": (1 + i) ** -0.5,
        "poly 1": (1 + i) ** -1.0,
        "poly 2": (1 + i) ** -2.0,
        "exp fast": np.exp(-i / 4),
        "exp slow": np.exp(-i / 30),
        "step": np.where(i < 20, 1.0, 1e-3),
        "flat plus noise": np.where(i < 20, 1.0, 0.0) + 1e-2 * np.sqrt(1 - i / r),
        "rank deficient": np.where(i < 25, 0.9 ** i, 0.0),
    }


def matrix(m, n, sigma, seed, dtype):
    """U diag(sigma) V^T with random orthonormal U, V, in float64, then rounded to dtype."""
    rng = np.random.default_rng(seed)
    r = min(m, n)
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    return np.ascontiguousarray(((u * sigma) @ v.T).astype(dtype))


def sigma_error(s, exact, dtype):
    """max_i |s_i - exact_i| / exact_i over the k values, where a difference below
    100 eps ||A||_2 counts as 0: that is rounding, all LAPACK's own SVD guarantees."""
    k = len(s)
    diff = np.abs(np.asarray(s, dtype=np.float64) - exact[:k])
    floor = 100 * np.finfo(dtype).eps * exact[0]
    diff = np.where(diff > floor, diff, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(diff > 0, diff / exact[:k], 0.0)
    return float(np.max(rel))


def residual(a, u, s, vt):
    """||A - U diag(s) Vt||_F / ||A||_F in float64."""
    a64 = a.astype(np.float64)
    rec = (u.astype(np.float64) * np.asarray(s, dtype=np.float64)) @ vt.astype(np.float64)
    return float(np.linalg.norm(a64 - rec) / np.linalg.norm(a64))


def sklearn_defaults(a, k):
    from sklearn.utils.extmath import randomized_svd
    return randomized_svd(a, k, random_state=0)  # n_oversamples=10, n_iter='auto', normalizer 'auto' (LU)


if __name__ == "__main__":
    # Prints the C++ table rows: scikit-learn's errors on each row (one draw each).
    for dtype, tname in ((np.float32, "float"), (np.float64, "double")):
        for m, n in SHAPES:
            for fi, (name, sigma) in enumerate(families(min(m, n)).items()):
                a = matrix(m, n, sigma, 100 + fi, dtype)
                exact = np.linalg.svd(a.astype(np.float64), compute_uv=False)
                for k in RANKS:
                    u, s, vt = sklearn_defaults(a, k)
                    print(f'      {{"{name}", {m}, {n}, {k}, {sigma_error(s, exact, dtype):.2e}, '
                          f'{residual(a, u, s, vt):.17g}}},  // {tname}')
