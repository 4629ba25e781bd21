"""k-NN on Fashion-MNIST, in one run, one thread: lowdim's LSH index (simhash multi-probe with
the two-stage sketch re-ranking, a probe sweep; and the tuner's choice) against FAISS IndexLSH
(+ exact refine of the Hamming top candidates), FAISS IndexFlatL2 (exact, BLAS) and hnswlib,
and lowdim's exact_knn. 60 000 base rows, the first 2 000 test rows as queries, recall@10
against exact neighbours. Prints each curve, then queries/s at recall@10 >= 0.9 of the fastest
setting of each system and the ratios; build times on 1 and 2 threads; memory per point.

    python3 benchmarks/peers/lsh.py [build-dir]   (PYTHONPATH: the lowdim Python package)

Needs python3-faiss, python3-hnswlib and dataset-fashion-mnist (Debian)."""
import json
import os
import sys
import tempfile
import time

import numpy as np

from common import RESULTS, Comparison, machine_line

HERE = os.path.dirname(os.path.abspath(__file__))
build = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.dirname(HERE)), "build")
sys.path.insert(0, os.path.join(build, "python"))
import lowdim  # noqa: E402

TRAIN = "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"
TEST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
if not os.path.exists(TRAIN):
    sys.exit(f"skipped: {TRAIN} is missing (Debian package dataset-fashion-mnist)")
try:
    import faiss
    import hnswlib
except ImportError as e:
    sys.exit(f"skipped: {e} (Debian packages python3-faiss, python3-hnswlib)")

K, NQ, TARGET = 10, 2000, 0.9
base = lowdim.read(TRAIN, "float32")
queries = np.ascontiguousarray(lowdim.read(TEST, "float32")[:NQ])
n, d = base.shape
lowdim.set_num_threads(1)
faiss.omp_set_num_threads(1)


def timed(fn, repeats=1):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def recall(ids, truth):
    hits = sum(len(set(a[:K]) & set(b[:K])) for a, b in zip(ids, truth))
    return hits / (len(truth) * K)


curves = {}  # system -> list of {setting, recall, qps}


def add(system, setting, ids, seconds, **extra):
    r = {"setting": setting, "recall": recall(ids, truth), "qps": NQ / seconds, **extra}
    curves.setdefault(system, []).append(r)
    print(f"  {system:<22} {setting:<34} recall {r['recall']:.4f}  {r['qps']:8.0f} q/s"
          + "".join(f"  {k} {v:.4g}" if isinstance(v, float) else f"  {k} {v}" for k, v in extra.items()), flush=True)


print(machine_line())
print(f"Fashion-MNIST {n} x {d} base, {NQ} queries, recall@{K}, 1 thread")

# Exact: lowdim's blocked reproducible GEMM, and FAISS IndexFlatL2 (BLAS).
t_exact, (truth, _) = timed(lambda: lowdim.exact_knn(base, queries, K), repeats=2)
add("lowdim exact_knn", "blocked GEMM + top-k", truth, t_exact)
flat = faiss.IndexFlatL2(d)
t_flat_build, _ = timed(lambda: flat.add(base))
t_flat, (_, flat_ids) = timed(lambda: flat.search(queries, K), repeats=2)
add("faiss IndexFlatL2", "exact", flat_ids, t_flat)

# lowdim LSH: FALCONN's setting (20 tables x 16 bits, centred) with a 64-d sketch re-ranking.
builds = {}
for threads in (1, 2):
    lowdim.set_num_threads(threads)
    builds[threads], index = timed(lambda: lowdim.LshIndex.build(base, tables=20, hashes=16, sketch_dim=64, seed=1))
lowdim.set_num_threads(1)
lowdim_bytes = index.memory_bytes / n
for probes in (100, 140, 200, 260, 320, 480):
    t, (ids, _, stats) = timed(lambda: index.knn(queries, k=K, probes=probes), repeats=2)
    add("lowdim LSH simhash", f"20x16, sketch 64, {probes} probes", ids, t,
        candidates=float(np.mean(stats["unique_candidates"])))
t, (ids, _, stats) = timed(lambda: index.knn(queries, k=K, target_recall=TARGET), repeats=1)
add("lowdim LSH adaptive", f"20x16, sketch 64, target {TARGET}", ids, t, probes=float(np.mean(stats["probes"])))

# The tuner: K, L and probes for recall 0.9 within 2x the data's bytes.
t_tune, (tuned, report) = timed(lambda: lowdim.LshIndex.tune(base, k=K, target_recall=TARGET,
                                                               memory_bytes=2 * base.nbytes, sketch_dim=64, seed=1))
print(f"  tuner: {report['tables']} tables x {report['hashes']} hashes, {report['probes']} probes, held-out recall "
      f"{report['recall']:.4f} (model {report['model_recall']:.4f}); {t_tune:.1f} s with the build; "
      f"{report['memory_bytes'] / n:.0f} bytes/point")
t, (ids, _, _) = timed(lambda: tuned.knn(queries, k=K, probes=report["probes"]), repeats=2)
add("lowdim LSH tuned", f"{report['tables']}x{report['hashes']}, {report['probes']} probes", ids, t)

# FAISS IndexLSH: an exhaustive Hamming scan, then the exact distances of its top k_factor*k.
# rotate_data and train_thresholds (per-dimension medians): the pixels are all >= 0, so the
# default thresholds at 0 would make every bit of an untrained index nearly constant.
for nbits in (512, 1024):
    lsh = faiss.IndexLSH(d, nbits, True, True)
    refine = faiss.IndexRefineFlat(lsh)

    def build_faiss_lsh():
        refine.train(base)
        refine.add(base)

    t_build, _ = timed(build_faiss_lsh)
    for factor in (5, 10, 20, 50):
        refine.k_factor = factor
        t, (_, ids) = timed(lambda: refine.search(queries, K), repeats=1)
        add("faiss IndexLSH", f"{nbits} bits, refine top {factor * K}", ids, t, build_s=t_build)

# hnswlib, M = 16, ef_construction = 200: build on 1 and 2 threads, then an ef sweep.
hnsw_build = {}
for threads in (1, 2):
    h = hnswlib.Index(space="l2", dim=d)
    h.init_index(max_elements=n, M=16, ef_construction=200, random_seed=1)
    h.set_num_threads(threads)
    hnsw_build[threads], _ = timed(lambda: h.add_items(base, np.arange(n)))
h.set_num_threads(1)
with tempfile.TemporaryDirectory() as tmp:
    h.save_index(os.path.join(tmp, "h.bin"))
    hnsw_bytes = os.path.getsize(os.path.join(tmp, "h.bin")) / n
for ef in (10, 20, 40, 80):
    h.set_ef(max(ef, K))
    t, (ids, _) = timed(lambda: h.knn_query(queries, k=K), repeats=2)
    add("hnswlib", f"M 16, ef {max(ef, K)}", ids, t)


def best_at(system):
    ok = [r for r in curves[system] if r["recall"] >= TARGET]
    return max(ok, key=lambda r: r["qps"]) if ok else None


print(f"\nFastest setting at recall@{K} >= {TARGET} (queries/s, one thread):")
ours = max((best_at(s) for s in curves if s.startswith("lowdim LSH") and best_at(s)), key=lambda r: r["qps"])
print(f"  lowdim LSH: {ours['setting']}: recall {ours['recall']:.4f}, {ours['qps']:.0f} q/s")
cmp = Comparison("lsh", build)
for peer in ("faiss IndexLSH", "faiss IndexFlatL2", "hnswlib", "lowdim exact_knn"):
    b = best_at(peer)
    if b is None:
        print(f"  {peer}: no setting reaches recall {TARGET}")
        continue
    print(f"  {peer}: {b['setting']}: recall {b['recall']:.4f}, {b['qps']:.0f} q/s; lowdim / peer = "
          f"{ours['qps'] / b['qps']:.2f}x")
    cmp.add(f"seconds per query at recall@{K} >= {TARGET}", 1 / ours["qps"], f"{peer} ({b['setting']})",
            1 / b["qps"], f"recall {ours['recall']:.3f} vs {b['recall']:.3f}")
print(f"\nBuild: lowdim LSH 20x16 + sketch {builds[1]:.2f} s (1 thread), {builds[2]:.2f} s (2 threads); hnswlib "
      f"{hnsw_build[1]:.2f} s (1 thread), {hnsw_build[2]:.2f} s (2 threads): hnswlib / lowdim = "
      f"{hnsw_build[1] / builds[1]:.1f}x and {hnsw_build[2] / builds[2]:.1f}x")
print(f"Memory per point: lowdim index {lowdim_bytes:.0f} bytes (data {4 * d}, tables "
      f"{index.table_bytes_per_point:.0f}, sketch {index.sketch_dim}); hnswlib {hnsw_bytes:.0f} bytes (saved index)")
cmp.add("build 60000 x 784, 1 thread", builds[1], "hnswlib M16 efC200", hnsw_build[1])
cmp.add("build 60000 x 784, 2 threads", builds[2], "hnswlib M16 efC200", hnsw_build[2])
cmp.report()
os.makedirs(RESULTS, exist_ok=True)
with open(os.path.join(RESULTS, "lsh_curves.json"), "w") as f:
    json.dump({"machine": machine_line(), "k": K, "queries": NQ, "curves": curves,
               "build_seconds": {"lowdim": builds, "hnswlib": hnsw_build},
               "bytes_per_point": {"lowdim": lowdim_bytes, "hnswlib": hnsw_bytes}}, f, indent=2)
