"""Shared helpers for peer comparisons: time our C++ benchmark programs and a
peer on the same data in one run, print the ratio, save JSON.

Usage in a peer script:
    from common import Comparison, run_ours, time_peer, bench_binary
    cmp = Comparison("jl", build_dir)
    ours = run_ours(bench_binary(build_dir, "bench_jl"), "BM_Gaussian/.*", env={"LOWDIM_BENCH_DATA": path})
    cmp.add("gaussian 100000x1000 -> 256", ours["BM_Gaussian/..."], "sklearn GaussianRandomProjection", peer_s)
    cmp.report()

Times are wall-clock seconds per operation. The ratio is peer / lowdim
(> 1 means lowdim is faster).
"""
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(os.path.dirname(HERE), "results")

# Peers are measured at their best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some
# machines) hold OpenBLAS, and so NumPy, scikit-learn and lowdim, below the native kernels.
# A script started with either set runs itself again without them, before any BLAS is used.
_SLOWING = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
if any(v in os.environ for v in _SLOWING):
    _env = {k: v for k, v in os.environ.items() if k not in _SLOWING}
    print("unsetting " + ", ".join(f"{v}={os.environ[v]}" for v in _SLOWING if v in os.environ)
          + " for native OpenBLAS kernels", flush=True)
    os.execve(sys.executable, [sys.executable] + sys.argv, _env)


def cpu_model():
    """The CPU (/proc/cpuinfo): model name, family/model and vector extensions, for every
    figure to name where it came from (a VM's model name alone may say just 'AMD EPYC')."""
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "cpu family", "model", "flags") and key not in info:
                    info[key] = value.strip()
                if key == "flags":
                    break
    except OSError:
        return "unknown CPU"
    flags = info.get("flags", "").split()
    ext = ", ".join(["avx2" if "avx2" in flags else "no avx2", "avx512f" if "avx512f" in flags else "no avx512f"])
    return f"{info.get('model name', 'unknown')} (family {info.get('cpu family')}, model {info.get('model')}; {ext})"


def blas_in_use():
    """NumPy's BLAS as threadpoolctl sees it: 'openblas 0.3.21 (Zen), 2 threads'."""
    try:
        import numpy  # noqa: F401  (loads the BLAS threadpoolctl inspects)
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    parts = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')}), {i.get('num_threads')} threads"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    return "; ".join(parts) or "no BLAS loaded"


def machine_line():
    return f"CPU: {cpu_model()}, {os.cpu_count()} cores; NumPy BLAS: {blas_in_use()}"


def bench_binary(build_dir, name):
    path = os.path.join(build_dir, "benchmarks", name)
    if not os.path.exists(path):
        sys.exit(f"error: {path} not found; build with -DLOWDIM_BUILD_BENCHMARKS=ON (make bench does)")
    return path


def run_ours(binary, bench_filter, env=None, min_time=None):
    """Runs a Google Benchmark program with a filter; returns {name: seconds per iteration}
    (the median when repetitions are used, otherwise the single measurement)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        out_path = out.name
    args = [binary, f"--benchmark_filter={bench_filter}", f"--benchmark_out={out_path}",
            "--benchmark_out_format=json"]
    if min_time is not None:
        args.append(f"--benchmark_min_time={min_time}")
    full_env = dict(os.environ)
    full_env.update(env or {})
    subprocess.run(args, check=True, env=full_env, stdout=subprocess.DEVNULL)
    with open(out_path) as f:
        data = json.load(f)
    os.unlink(out_path)
    times = {}
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        times[name] = b["real_time"] * scale[b["time_unit"]]
        for key, value in b.items():  # user counters (e.g. max_rel_error) ride along
            if key not in ("real_time", "cpu_time") and isinstance(value, (int, float)):
                times.setdefault("counters", {}).setdefault(name, {})[key] = value
    return times


def time_peer(fn, repeats=3, warmup=1):
    """Median wall time of fn() over repeats (after warmup calls). Returns (seconds, last result)."""
    result = None
    for _ in range(warmup):
        result = fn()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return samples[len(samples) // 2], result


def fmt_seconds(s):
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


class Comparison:
    def __init__(self, name, build_dir):
        self.name = name
        self.build_dir = build_dir
        self.rows = []

    def add(self, case, ours_s, peer, peer_s, note=""):
        """One line: our time, the peer's, ratio = peer / ours (> 1: lowdim faster)."""
        self.rows.append({"case": case, "lowdim_s": ours_s, "peer": peer, "peer_s": peer_s,
                          "ratio": peer_s / ours_s if ours_s > 0 else float("nan"), "note": note})

    def report(self):
        print(machine_line())
        w_case = max([len(r["case"]) for r in self.rows] + [4])
        w_peer = max([len(r["peer"]) for r in self.rows] + [4])
        print(f"{'case':<{w_case}}  {'lowdim':>10}  {'peer':<{w_peer}}  {'peer time':>10}  {'ratio':>7}  note")
        for r in self.rows:
            print(f"{r['case']:<{w_case}}  {fmt_seconds(r['lowdim_s']):>10}  {r['peer']:<{w_peer}}  "
                  f"{fmt_seconds(r['peer_s']):>10}  {r['ratio']:>6.2f}x  {r['note']}")
        os.makedirs(RESULTS, exist_ok=True)
        path = os.path.join(RESULTS, f"{self.name}.json")
        meta = {"cpu": cpu_model(), "cores": os.cpu_count(), "numpy_blas": blas_in_use(),
                "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
                "openblas_l2_size": os.environ.get("OPENBLAS_L2_SIZE"), "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        with open(path + ".tmp", "w") as f:
            json.dump({"comparison": self.name, "meta": meta, "rows": self.rows}, f, indent=2)
        os.replace(path + ".tmp", path)
        print(f"(saved {os.path.relpath(path)}; ratio = peer time / lowdim time, > 1 means lowdim is faster)")
