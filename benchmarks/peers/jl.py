"""JL random projection against scikit-learn, on the same data in one run (issue 3's targets):
  - gaussian 100 000 x 1 000 float32 -> 256: lowdim vs a bare OpenBLAS sgemm of the same shapes
    (ratio >= 0.8 wanted: within 1.25x) and vs GaussianRandomProjection.fit_transform (>= 1.5x);
  - sparse (density 1/sqrt(d)) vs SparseRandomProjection.fit_transform on the same data (>= 5x);
  - srht vs gaussian at d = 1 024, k = 256 (srht faster);
  - memory: `lowdim project` of a memory-mapped 1 000 x 200 000 float32 .npy to k = 256, peak RSS
    (getrusage of the child) minus input and output sizes (< 100 MB wanted).
The data are generated once here and saved as .npy; the C++ benchmark reads them (LOWDIM_BENCH_DATA).
sklearn gets float32 input and keeps float32 output (its default since 1.2: components in the input dtype).
"""
import os
import subprocess
import sys
import time

import numpy as np

from common import Comparison, bench_binary, run_ours, time_peer

N, D, D2, K = 100_000, 1_000, 1_024, 256
MEM_N, MEM_D = 1_000, 200_000

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
binary = bench_binary(build, "bench_jl")
data_dir = os.path.join(build, "bench-data")
os.makedirs(data_dir, exist_ok=True)


def ensure(path, rows, cols, seed):
    if not os.path.exists(path) or np.load(path, mmap_mode="r").shape != (rows, cols):
        rng = np.random.default_rng(seed)
        np.save(path + ".tmp.npy", rng.standard_normal((rows, cols), dtype=np.float32))
        os.replace(path + ".tmp.npy", path)


data_path = os.path.join(data_dir, f"jl_{N}x{D}.npy")
data_1024 = os.path.join(data_dir, f"jl_{N}x{D2}.npy")
ensure(data_path, N, D, 1)
ensure(data_1024, N, D2, 2)

ours = run_ours(binary, "BM_", env={"LOWDIM_BENCH_DATA": data_path, "LOWDIM_BENCH_DATA_1024": data_1024})


def pick(prefix):
    for name, t in ours.items():
        if name != "counters" and name.split("/")[0] == prefix:
            return t
    raise KeyError(prefix)


t_gauss, t_sgemm, t_sparse = pick("BM_Gaussian"), pick("BM_BareSgemm"), pick("BM_Sparse")
t_srht, t_gauss1024 = pick("BM_Srht1024"), pick("BM_Gaussian1024")

from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection  # noqa: E402

x = np.load(data_path)
sk_gauss, y_g = time_peer(lambda: GaussianRandomProjection(n_components=K, random_state=0).fit_transform(x),
                          repeats=3, warmup=1)
sk_sparse, y_s = time_peer(lambda: SparseRandomProjection(n_components=K, random_state=0).fit_transform(x),
                           repeats=3, warmup=1)
assert y_g.dtype == np.float32 and y_g.shape == (N, K)
del x, y_g, y_s

# Memory: peak RSS of `lowdim project` on a memory-mapped 1 000 x 200 000 float32 file.
mem_in = os.path.join(data_dir, f"jl_mem_{MEM_N}x{MEM_D}.npy")
mem_out = os.path.join(data_dir, "jl_mem_out.npy")
ensure(mem_in, MEM_N, MEM_D, 3)
lowdim = os.path.join(build, "lowdim")
mem_rows = []
if os.path.exists(lowdim):
    for kind in ("gaussian", "sparse", "srht"):
        # Peak RSS of the lowdim process alone. GNU time forks from a small process; a child
        # forked from this Python process would inherit its RSS in ru_maxrss before exec.
        cmd = [lowdim, "project", "--input", mem_in, "--output", mem_out, "--kind", kind, "--k", str(K)]
        if os.path.exists("/usr/bin/time"):
            r = subprocess.run(["/usr/bin/time", "-f", "%M"] + cmd, check=True, capture_output=True, text=True)
            peak_mb = int(r.stderr.strip().splitlines()[-1]) / 1024
        else:
            child = subprocess.Popen(cmd)
            _, status, usage = os.wait4(child.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                sys.exit("lowdim project failed")
            peak_mb = usage.ru_maxrss / 1024  # an upper bound (includes the pre-exec RSS)
        in_mb = os.path.getsize(mem_in) / 2**20
        out_mb = os.path.getsize(mem_out) / 2**20
        mem_rows.append((kind, peak_mb, in_mb, out_mb, peak_mb - in_mb - out_mb))
    os.unlink(mem_out)

# End to end, file to file, each in a fresh process: `lowdim project` against a scikit-learn
# script that loads the .npy, projects and saves (best of 3 each).
def best_wall(cmd, repeats=3):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


e2e = None
if os.path.exists(lowdim):
    e2e_out = os.path.join(data_dir, "jl_e2e_out.npy")
    ours_e2e = best_wall([lowdim, "project", "--input", data_path, "--output", e2e_out, "--kind", "gaussian",
                          "--k", str(K), "--quiet"])
    script = ("import numpy as np, sys; from sklearn.random_projection import GaussianRandomProjection as G; "
              f"x = np.load({data_path!r}); np.save({e2e_out!r}, G(n_components={K}, random_state=0).fit_transform(x))")
    peer_e2e = best_wall([sys.executable, "-c", script])
    os.unlink(e2e_out)
    e2e = (ours_e2e, peer_e2e)

cmp = Comparison("jl", build)
case = f"{N}x{D} f32 -> {K}"
if e2e:
    cmp.add(f"lowdim project {case}, file to file", e2e[0], "python: np.load + GaussianRandomProjection + np.save",
            e2e[1], "target: >= 2.5x")
cmp.add(f"gaussian {case}", t_gauss, "bare sgemm, same shapes (OpenBLAS)", t_sgemm, "target: ratio >= 0.80 (within 1.25x)")
cmp.add(f"gaussian {case}", t_gauss, "sklearn GaussianRandomProjection.fit_transform", sk_gauss, "target: >= 1.5x")
cmp.add(f"sparse {case}", t_sparse, "sklearn SparseRandomProjection.fit_transform", sk_sparse, "target: >= 5x")
cmp.add(f"srht {N}x{D2} f32 -> {K}", t_srht, "lowdim gaussian, same data", t_gauss1024, "target: > 1x")
cmp.report()
for kind, peak, in_mb, out_mb, extra in mem_rows:
    verdict = "ok" if extra < 100 else "OVER"
    print(f"memory: lowdim project --kind {kind} {MEM_N}x{MEM_D} f32 (mmap) -> {K}: peak RSS {peak:.0f} MB = "
          f"input {in_mb:.0f} MB + output {out_mb:.1f} MB + {extra:.1f} MB extra (target < 100 MB: {verdict})")
