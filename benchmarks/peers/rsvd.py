"""Randomized SVD against scikit-learn's randomized_svd, in one run, on the same matrices.

Main case (issue 4, item 9): A = 20 000 x 5 000 float64, sigma_i = exp(-i/30) for i < 200,
0 after; rank 100. scikit-learn with its defaults (n_oversamples=10, n_iter='auto' -> 7,
power_iteration_normalizer='auto' -> LU). Accuracy = max relative error of the top 100
singular values (known exactly). Also float32, a tall 1 000 000 x 200 and a wide
200 x 1 000 000 float64 matrix (sigma_i = exp(-i/10), rank 20); scikit-learn runs those
once each (about 10 s apiece), so the whole script takes a few minutes.

The test matrices are U·diag(sigma)·Vᵀ with U, V orthonormalised by CholeskyQR2 (two
rounds of R = chol(GᵀG), G <- G·R⁻¹ on a Gaussian G, whose condition number is ~1.1, so Q
is orthonormal to rounding): NumPy's Householder QR of a 10^6 x 200 block takes ~50 s here,
CholeskyQR2 about 2 s.

Prints the comparison table (ratio = sklearn time / lowdim time) and, for the main case, the
time-against-accuracy table of every lowdim method with its time as a multiple of the bare
GEMM time of the passes it made. Usage: rsvd.py BUILD_DIR [--quick] (--quick: main case only).
"""
import os
import sys
import tempfile

import numpy as np
from scipy.linalg import solve_triangular
from sklearn.utils.extmath import randomized_svd

from common import Comparison, bench_binary, fmt_seconds, run_ours, time_peer

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
quick = "--quick" in sys.argv
binary = bench_binary(build, "bench_rsvd")
LONG = 1_000_000  # the long side of the tall and wide cases (bench_rsvd.cpp's kTall, kWide)


def orthonormal(rng, m, r):
    q = rng.standard_normal((m, r))
    for _ in range(2):
        chol = np.linalg.cholesky(q.T @ q)
        q = solve_triangular(chol, q.T, lower=True).T
    return np.ascontiguousarray(q)


def make(m, n, support, decay, seed):
    rng = np.random.default_rng(seed)
    u = orthonormal(rng, m, support)
    v = orthonormal(rng, n, support)
    s = np.exp(-np.arange(support) / decay)
    return np.ascontiguousarray((u * s) @ v.T), s


def max_rel_err(got, exact, k):
    return float(np.max(np.abs(got[:k] - exact[:k]) / exact[:k]))


def sklearn_case(a, k, exact, repeats):
    def run():
        return randomized_svd(a, k, random_state=0)

    seconds, (_, s, _) = time_peer(run, repeats=repeats, warmup=0)
    return seconds, max_rel_err(s, exact, k)


cmp = Comparison("rsvd", build)
tmp = tempfile.mkdtemp(prefix="lowdim-rsvd-")
env = {}
try:
    a, exact = make(20000, 5000, 200, 30.0, 1)
    env["LOWDIM_BENCH_DATA_MAIN"] = os.path.join(tmp, "main.npy")
    np.save(env["LOWDIM_BENCH_DATA_MAIN"], a)
    sk_s, sk_err = sklearn_case(a, 100, exact, repeats=2)
    a32 = a.astype(np.float32)
    sk32_s, sk32_err = sklearn_case(a32, 100, exact, repeats=2)
    del a, a32

    pattern = "BM_Rsvd<|BM_Krylov<|BM_Default<|BM_Qb|BM_GemmPass"
    if not quick:
        tall, exact_tall = make(LONG, 200, 200, 10.0, 2)
        env["LOWDIM_BENCH_DATA_TALL"] = os.path.join(tmp, "tall.npy")
        np.save(env["LOWDIM_BENCH_DATA_TALL"], tall)
        skt_s, skt_err = sklearn_case(tall, 20, exact_tall, repeats=1)
        wide = np.ascontiguousarray(tall.T)
        del tall
        env["LOWDIM_BENCH_DATA_WIDE"] = os.path.join(tmp, "wide.npy")
        np.save(env["LOWDIM_BENCH_DATA_WIDE"], wide)
        skw_s, skw_err = sklearn_case(wide, 20, exact_tall, repeats=1)
        del wide
        pattern += "|BM_Tall|BM_Wide"
    ours = run_ours(binary, pattern, env=env)
finally:
    for name in ("main.npy", "tall.npy", "wide.npy"):
        path = os.path.join(tmp, name)
        if os.path.exists(path):
            os.unlink(path)
    os.rmdir(tmp)

counters = ours.get("counters", {})


def entry(name):
    key = f"{name}/iterations:1/real_time"
    return ours[key], counters.get(key, {})


def add(case, name, peer, peer_s, peer_err):
    t, c = entry(name)
    note = f"max rel err {c['max_rel_err']:.1e} vs {peer_err:.1e}; {int(c['passes'])} passes, " \
           f"{int(c.get('iterations', 0))} iterations, {t / c['gemm_s']:.2f}x bare GEMM"
    cmp.add(case, t, peer, peer_s, note)


sk = "sklearn randomized_svd (defaults)"
add("20000x5000 f64 k=100 default (krylov, adaptive)", "BM_Default<double>", sk, sk_s, sk_err)
add("20000x5000 f64 k=100 krylov b=32 i=6", "BM_Krylov<double>/32/6", sk, sk_s, sk_err)
add("20000x5000 f64 k=100 rsvd q=7 (= sklearn)", "BM_Rsvd<double>/7", sk, sk_s, sk_err)
add("20000x5000 f32 k=100 default (krylov, adaptive)", "BM_Default<float>", sk, sk32_s, sk32_err)
add("20000x5000 f32 k=100 rsvd q=7 (= sklearn)", "BM_Rsvd<float>/7", sk, sk32_s, sk32_err)
if not quick:
    add(f"{LONG}x200 f64 k=20 default", "BM_TallDefault", sk, skt_s, skt_err)
    add(f"{LONG}x200 f64 k=20 rsvd q=7", "BM_TallRsvd/7", sk, skt_s, skt_err)
    add(f"200x{LONG} f64 k=20 default", "BM_WideDefault", sk, skw_s, skw_err)
    add(f"200x{LONG} f64 k=20 rsvd q=7", "BM_WideRsvd/7", sk, skw_s, skw_err)
cmp.report()

print("\nTime against accuracy, 20000 x 5000 float64, rank 100 (one run each):")
print(f"{'method':<34} {'time':>9} {'max rel err':>12} {'passes':>6} {'x GEMM':>7} {'vs sklearn':>10}")
print(f"{'sklearn randomized_svd defaults':<34} {fmt_seconds(sk_s):>9} {sk_err:>12.1e} {16:>6} {'':>7} {1.0:>9.2f}x")
rows = []
for key, t in ours.items():
    if key == "counters" or "GemmPass" in key or "Tall" in key or "Wide" in key or "<float>" in key:
        continue
    c = counters.get(key, {})
    label = key.replace("/iterations:1/real_time", "").replace("BM_", "")
    rows.append((label, t, c.get("max_rel_err", float("nan")), c.get("passes", 0), t / c["gemm_s"]))
for label, t, err, passes, over in rows:
    print(f"{label:<34} {fmt_seconds(t):>9} {err:>12.1e} {int(passes):>6} {over:>7.2f} {sk_s / t:>9.2f}x")
for w in (16, 32, 64, 110):
    key = f"BM_GemmPass/{w}/iterations:1/real_time"
    if key in counters:
        print(f"bare GEMM pass of width {w}: {fmt_seconds(counters[key]['pass_s'])}")
