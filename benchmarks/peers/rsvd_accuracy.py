"""Randomized SVD accuracy, lowdim's default against scikit-learn's randomized_svd defaults,
per spectrum family (tests/python/rsvd_spectra.py): the worst relative error of the k singular
values and the worst ||A - U S V^T||_F / ||A||_F over tall, wide and square shapes, ranks below,
at and above the Krylov block size, float32 and float64 (18 matrices per family).

    /usr/bin/python3 benchmarks/peers/rsvd_accuracy.py [BUILD_DIR]   (default: build)
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "build")
sys.path.insert(0, os.path.join(build, "python"))
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "python"))
import lowdim  # noqa: E402
from rsvd_spectra import RANKS, SHAPES, families, matrix, residual, sigma_error, sklearn_defaults  # noqa: E402


def main():
    print(f"{'family':<16} {'sigma err lowdim':>16} {'sklearn':>10} {'residual lowdim':>16} {'sklearn':>10}"
          f" {'worse cases':>11}")
    total_worse = 0
    for fi, name in enumerate(families(300)):
        worst = [0.0, 0.0, 0.0, 0.0]
        worse = 0
        for dtype in (np.float32, np.float64):
            for m, n in SHAPES:
                sigma = families(min(m, n))[name]
                a = matrix(m, n, sigma, 100 + fi, dtype)
                exact = np.linalg.svd(a.astype(np.float64), compute_uv=False)
                for k in RANKS:
                    u, s, vt = lowdim.svd(a, rank=k)
                    su, ss, svt = sklearn_defaults(a, k)
                    e = (sigma_error(s, exact, dtype), sigma_error(ss, exact, dtype), residual(a, u, s, vt),
                         residual(a, su, ss, svt))
                    worst = [max(w, x) for w, x in zip(worst, e)]
                    # Worse than scikit-learn beyond rounding of the same size.
                    floor = 10 * np.finfo(dtype).eps
                    worse += e[0] > max(e[1] * 1.5, floor) or e[2] > e[3] * (1 + 1e-3) + floor
        total_worse += worse
        print(f"{name:<16} {worst[0]:>16.2e} {worst[1]:>10.2e} {worst[2]:>16.3e} {worst[3]:>10.3e} {worse:>11}")
    print(f"cases where lowdim's default is less accurate than scikit-learn's: {total_worse}")


if __name__ == "__main__":
    main()
