"""BERT-whitening of 100 000 x 768 float32 sentence-vector-like data to k = 256, against
  - the NumPy reference of Su et al. 2021 (np.cov + np.linalg.svd + product, their code), and
  - scikit-learn's PCA(n_components=256, whiten=True).fit_transform,
on the same data in one run. The data are generated once here and saved as .npy; the C++
benchmark reads that file (LOWDIM_BENCH_DATA) and writes its output (LOWDIM_BENCH_OUTPUT),
from which the maximum absolute difference to the NumPy float64 result is computed.

Signs: eigenvectors are defined up to sign; both results are brought to lowdim's documented
convention (the entry of largest magnitude of each eigenvector is positive) before comparing.
"""
import os
import subprocess
import sys
import time

import numpy as np

from common import Comparison, bench_binary, run_ours, time_peer

N, D, K = 100_000, 768, 256

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
binary = bench_binary(build, "bench_whitening")
data_dir = os.path.join(build, "bench-data")
os.makedirs(data_dir, exist_ok=True)
data_path = os.path.join(data_dir, f"whitening_{N}x{D}.npy")
out_prefix = os.path.join(data_dir, "whitening_ours")


def make_data():
    # Anisotropic like BERT vectors: a decaying spectrum and a large common mean.
    rng = np.random.default_rng(2021)
    q, _ = np.linalg.qr(rng.standard_normal((D, D)))
    spectrum = 1.0 / (1.0 + 0.05 * np.arange(D))
    mixing = (q * spectrum).astype(np.float32)
    z = rng.standard_normal((N, D), dtype=np.float32)
    mean = rng.uniform(-1, 1, D).astype(np.float32)
    x = z @ mixing.T + mean
    np.save(data_path + ".tmp.npy", x.astype(np.float32))
    os.replace(data_path + ".tmp.npy", data_path)


if not os.path.exists(data_path) or np.load(data_path, mmap_mode="r").shape != (N, D):
    make_data()
x = np.load(data_path)


# Su et al.'s code (github.com/bojone/BERT-whitening), verbatim in substance.
def compute_kernel_bias(vecs, n_components):
    mu = vecs.mean(axis=0, keepdims=True)
    cov = np.cov(vecs.T)
    u, s, vh = np.linalg.svd(cov)
    W = np.dot(u, np.diag(1 / np.sqrt(s)))
    return W[:, :n_components], -mu


def bert_whitening_numpy(vecs):
    kernel, bias = compute_kernel_bias(vecs, K)
    return (vecs + bias).dot(kernel)


def sklearn_pca_whiten(vecs):
    from sklearn.decomposition import PCA
    return PCA(n_components=K, whiten=True).fit_transform(vecs)


ours = run_ours(binary, "BM_BertWhitening", env={"LOWDIM_BENCH_DATA": data_path, "LOWDIM_BENCH_OUTPUT": out_prefix})
ours_double = ours["BM_BertWhitening/0/min_time:2.000/real_time"]
ours_fast = ours["BM_BertWhitening/1/min_time:2.000/real_time"]

# Accuracy: the same recipe in float64 throughout, signs brought to lowdim's convention.
x64 = x.astype(np.float64)
mu64 = x64.mean(axis=0, keepdims=True)
u, s, _ = np.linalg.svd(np.cov(x64.T))
u = u[:, :K]
u *= np.sign(u[np.abs(u).argmax(axis=0), np.arange(K)])
reference = (x64 - mu64) @ (u / np.sqrt(s[:K]))
del x64
scale = np.abs(reference).max()
errors = {}
for label, suffix in (("double_precision", ".double.npy"), ("block_float", ".block_float.npy")):
    y = np.load(out_prefix + suffix)
    errors[label] = np.abs(y.astype(np.float64) - reference).max()
    os.unlink(out_prefix + suffix)

numpy_s, y_np = time_peer(lambda: bert_whitening_numpy(x), repeats=3, warmup=0)
sklearn_s, _ = time_peer(lambda: sklearn_pca_whiten(x), repeats=3, warmup=0)

# End to end, file to file, fresh processes (best of 3): `lowdim whiten fit` + `whiten apply`
# (default double scatter) against a NumPy script that loads, fits (Su et al.), projects and saves.
def best_wall(cmds, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


lowdim_cli = os.path.join(build, "lowdim")
e2e = None
if os.path.exists(lowdim_cli):
    model, e2e_out = os.path.join(data_dir, "whitening_e2e.ldm"), os.path.join(data_dir, "whitening_e2e.npy")
    ours_e2e = best_wall([[lowdim_cli, "whiten", "fit", "--input", data_path, "--kind", "pca", "--k", str(K),
                           "--model", model, "--quiet"],
                          [lowdim_cli, "whiten", "apply", "--model", model, "--input", data_path, "--output", e2e_out,
                           "--quiet"]])
    script = ("import numpy as np; x = np.load(%r); mu = x.mean(axis=0, keepdims=True); "
              "u, s, vh = np.linalg.svd(np.cov(x.T)); w = (u / np.sqrt(s))[:, :%d]; "
              "np.save(%r, ((x - mu).dot(w)).astype(np.float32))") % (data_path, K, e2e_out)
    peer_e2e = best_wall([[sys.executable, "-c", script]])
    for f in (model, e2e_out):
        os.unlink(f)
    e2e = (ours_e2e, peer_e2e)

cmp = Comparison("whitening", build)
case = f"bert-whitening {N}x{D} f32 -> {K}"
if e2e:
    cmp.add(case + ", file to file (whiten fit + apply)", e2e[0], "python: np.load + Su et al. + np.save", e2e[1],
            "target: >= 2.5x")
note_d = f"max |y - y_np64| = {errors['double_precision']:.2e} (max |y| {scale:.1f})"
note_f = f"max |y - y_np64| = {errors['block_float']:.2e} (max |y| {scale:.1f})"
cmp.add(case + " [double scatter]", ours_double, "numpy (Su et al.: np.cov + svd + dot)", numpy_s, note_d)
cmp.add(case + " [double scatter]", ours_double, "sklearn PCA(whiten=True)", sklearn_s, note_d)
cmp.add(case + " [float panels]", ours_fast, "numpy (Su et al.: np.cov + svd + dot)", numpy_s, note_f)
cmp.add(case + " [float panels]", ours_fast, "sklearn PCA(whiten=True)", sklearn_s, note_f)
cmp.report()
