#!/usr/bin/env python3
"""lowdim's distributed rSVD (mpirun -np P lowdim svd) against the single-process lowdim and
Dask's svd_compressed with P worker processes, on the issue-13 anchor: a 20000 x 5000 float64
matrix with singular values exp(-i/30) (the first 600; the rest are below 2e-9 and set to 0, so
the matrix can be built in seconds), rank 100.

    python3 benchmarks/peers/mpi.py BUILD_DIR [--rows 20000] [--cols 5000] [--rank 100] [--repeat 1]

Prints, per configuration, the wall time of the whole command (start-up, reading, the SVD, the
error check, writing U/S/V), the time of the SVD itself where the program reports it, the largest
relative error of the k singular values, and the bytes each rank sent (lowdim's counting
communicator). Ratios are from this one run: the machine is shared.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import blas_in_use, cpu_model  # noqa: E402

import numpy as np  # noqa: E402


def make_matrix(path, m, n, r, seed=0):
    rng = np.random.default_rng(seed)
    s = np.exp(-np.arange(r) / 30.0)
    u, _ = np.linalg.qr(rng.standard_normal((m, r)))
    v, _ = np.linalg.qr(rng.standard_normal((n, r)))
    np.save(path, (u * s) @ v.T)
    return s


def run_lowdim(build, ranks, path, k, q, out, mpi=True):
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl_vader_single_copy_mechanism="none")
    cmd = [os.path.join(build, "lowdim"), "svd", "-i", path, "--rank", str(k), "-q", str(q), "-o", out, "--json"]
    if mpi:
        env.update(OMP_NUM_THREADS=str(max(1, os.cpu_count() // ranks)),
                   OPENBLAS_NUM_THREADS=str(max(1, os.cpu_count() // ranks)))
        cmd = ["mpirun", "--oversubscribe", "-np", str(ranks)] + cmd
    else:
        cmd += ["--method", "rsvd"]
    start = time.perf_counter()
    text = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    wall = time.perf_counter() - start
    return wall, json.loads(text)


def dask_svd(path, workers, k, q):
    import dask.array as da
    from dask.distributed import Client, LocalCluster
    a = np.load(path, mmap_mode="r")
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True) as cluster, Client(cluster):
        x = da.from_array(np.asarray(a), chunks=(a.shape[0] // workers, a.shape[1]))
        x = x.persist()
        start = time.perf_counter()
        _, s, _ = da.linalg.svd_compressed(x, k=k, n_power_iter=q, seed=0)
        s = s.compute()
        return time.perf_counter() - start, s


def main():
    p = argparse.ArgumentParser()
    p.add_argument("build")
    p.add_argument("--rows", type=int, default=20000)
    p.add_argument("--cols", type=int, default=5000)
    p.add_argument("--rank", type=int, default=100)
    p.add_argument("--repeat", type=int, default=1)
    args = p.parse_args()
    print(f"CPU: {cpu_model()}; BLAS: {blas_in_use()}")
    k = args.rank
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "a.npy")
        s = make_matrix(path, args.rows, args.cols, min(600, args.cols))
        err = lambda got: float(np.max(np.abs(np.asarray(got)[:k] - s[:k]) / s[:k]))  # noqa: E731
        rows = []
        for q in (2, 4):
            best = lambda f: min((f() for _ in range(args.repeat)), key=lambda t: t[0])  # noqa: E731
            wall, res = best(lambda: run_lowdim(args.build, 1, path, k, q, os.path.join(tmp, "one"), mpi=False))
            rows.append((f"lowdim svd --method rsvd (1 process), q={q}", wall, None, err(res["singular_values"]), ""))
            for ranks in (1, 2, 4):
                wall, res = best(lambda: run_lowdim(args.build, ranks, path, k, q, os.path.join(tmp, "p")))
                rows.append((f"mpirun -np {ranks} lowdim svd, q={q}", wall, res["seconds"],
                             err(res["singular_values"]), str(res["bytes_sent_per_rank"])))
            for workers in (2, 4):
                seconds, got = best(lambda: dask_svd(path, workers, k, q))
                rows.append((f"dask svd_compressed, {workers} workers x 1 thread, q={q}", None, seconds, err(got), ""))
        print(f"{args.rows} x {args.cols} float64, sigma_i = exp(-i/30), rank {k}")
        print(f"{'method':<52} {'wall s':>7} {'svd s':>7} {'max rel err sigma':>18}  bytes sent per rank")
        for name, wall, svd_s, e, sent in rows:
            w = f"{wall:7.2f}" if wall is not None else f"{'-':>7}"
            t = f"{svd_s:7.2f}" if svd_s is not None else f"{'-':>7}"
            print(f"{name:<52} {w} {t} {e:18.2e}  {sent}")


if __name__ == "__main__":  # Dask's workers start by spawn
    main()
