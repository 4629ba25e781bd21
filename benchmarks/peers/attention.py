"""Random-feature attention against PyTorch, in one run: one head, d = 64, m = 256, float32,
L in {1k, 4k, 16k} (add 65536 with --long), best of 3, extra peak resident memory.

  lowdim      exact softmax (blocked, online softmax), bidirectional and causal;
              FAVOR+ (ORF) bidirectional and causal (chunked scan, chunk 128).
  PyTorch     exact softmax attention (q k^T, softmax, @ v; causal by a mask);
              the same FAVOR+ with lowdim's W, bidirectional;
              causal by the prefix-sum formulation performer-pytorch uses on CPU (cumsum of
              outer products, O(L m d) memory), and by a chunked loop (chunk 256).

torch threads are set to the core count. lowdim runs through its Python module (the C++
library, GIL released). Accuracy (MSE against the exact output, float64 reference) is printed
next to each FAVOR+ time. Usage: python3 attention.py BUILD_DIR [--long]
"""
import math
import os
import sys
import threading
import time

import numpy as np

from common import Comparison, fmt_seconds, machine_line

build = sys.argv[1] if len(sys.argv) > 1 and not sys.argv[1].startswith("--") else "build"
sys.path.insert(0, os.path.join(build, "python"))
import lowdim  # noqa: E402
import torch  # noqa: E402

LONG = "--long" in sys.argv
D, M = 64, 256
LENGTHS = [1024, 4096, 16384] + ([65536] if LONG else [])
torch.set_num_threads(os.cpu_count())
lowdim.set_num_threads(os.cpu_count())
PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measure(fn, repeats=3):
    """(best seconds, extra peak resident bytes, last result)."""
    best, extra, result = math.inf, 0, None
    for _ in range(repeats):
        result = None
        base = rss()
        peak = [base]
        done = threading.Event()

        def sample():
            while not done.is_set():
                peak[0] = max(peak[0], rss())
                time.sleep(0.001)
        t = threading.Thread(target=sample)
        t.start()
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        done.set()
        t.join()
        extra = max(extra, max(peak[0], rss()) - base)
    return best, extra, result


# ---- PyTorch peers
def torch_exact(q, k, v, causal):
    s = (q @ k.T) / math.sqrt(q.shape[1])
    if causal:
        s = s.masked_fill(torch.ones(s.shape, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def torch_features(x, w, is_query):
    """FAVOR+ positive features as performer-pytorch's softmax_kernel (query: per-row max;
    key: max over the whole sequence)."""
    x = x * (x.shape[1] ** -0.25)
    z = x @ w.T
    diag = (x * x).sum(-1, keepdim=True) / 2
    stab = z.amax(dim=-1, keepdim=True) if is_query else z.amax()
    return torch.exp(z - diag - stab) / math.sqrt(w.shape[0])


def torch_favor(q, k, v, w):
    pq, pk = torch_features(q, w, True), torch_features(k, w, False)
    kv = pk.T @ v
    return (pq @ kv) / (pq @ pk.sum(0)).unsqueeze(-1)


def torch_favor_prefix(q, k, v, w):
    pq, pk = torch_features(q, w, True), torch_features(k, w, False)
    kv = torch.cumsum(pk.unsqueeze(2) * v.unsqueeze(1), dim=0)  # L x m x d
    num = torch.einsum("lm,lmd->ld", pq, kv)
    den = (pq * torch.cumsum(pk, dim=0)).sum(-1, keepdim=True)
    return num / den


def torch_favor_chunked(q, k, v, w, chunk=256):
    pq, pk = torch_features(q, w, True), torch_features(k, w, False)
    m, d = pk.shape[1], v.shape[1]
    s = torch.zeros(m, d)
    z = torch.zeros(m)
    out = torch.empty(q.shape[0], d)
    mask = torch.ones(chunk, chunk).tril()
    for a in range(0, q.shape[0], chunk):
        qc, kc, vc = pq[a:a + chunk], pk[a:a + chunk], v[a:a + chunk]
        n = qc.shape[0]
        att = (qc @ kc.T) * mask[:n, :n]
        num = qc @ s + att @ vc
        den = qc @ z + att.sum(-1)
        out[a:a + n] = num / den.unsqueeze(-1)
        s += kc.T @ vc
        z += kc.sum(0)
    return out


def mse(a, b):
    return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def main():
    print(machine_line())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; lowdim {lowdim.__version__}, "
          f"dense kernel {lowdim.dense_kernel_isa()}")
    feats = lowdim.RandomFeatures("positive", "orf", dim=D, directions=M, seed=0)
    w = torch.from_numpy(feats.projection_matrix().astype(np.float32))
    cmp = Comparison("attention", build)
    table = []
    crossover = None
    for L in LENGTHS:
        rng = np.random.default_rng(L)
        q, k, v = (rng.standard_normal((L, D), dtype=np.float32) for _ in range(3))
        tq, tk, tv = (torch.from_numpy(a) for a in (q, k, v))
        row = {"L": L}
        exact_ok = L <= 16384
        if exact_ok:
            ref = {c: softmax_ref(q, k, v, c) for c in (False, True)} if L <= 4096 else None
        for causal in (False, True):
            tag = "causal" if causal else "bidirectional"
            ld_exact = measure(lambda: lowdim.softmax_attention(q, k, v, causal=causal)) if exact_ok else None
            t_exact = measure(lambda: torch_exact(tq, tk, tv, causal)) if exact_ok else None
            ld_favor = measure(lambda: lowdim.linear_attention(feats, q, k, v, causal=causal))
            if causal:
                t_prefix = measure(lambda: torch_favor_prefix(tq, tk, tv, w), repeats=1) if L <= 16384 else None
                t_chunk = measure(lambda: torch_favor_chunked(tq, tk, tv, w))
            else:
                t_favor = measure(lambda: torch_favor(tq, tk, tv, w))
            exact_out = ld_exact[2] if ld_exact else None
            acc = mse(ld_favor[2], exact_out) if exact_out is not None else float("nan")
            if ld_exact:
                cmp.add(f"exact {tag} L={L}", ld_exact[0], "torch exact", t_exact[0],
                        f"extra mem {ld_exact[1] / 2**20:.0f} MB vs {t_exact[1] / 2**20:.0f} MB")
                if ref is not None:
                    assert mse(exact_out, ref[causal]) < 1e-10
            if causal:
                if t_prefix:
                    cmp.add(f"favor+ causal L={L}", ld_favor[0], "torch prefix sums", t_prefix[0],
                            f"mem {ld_favor[1] / 2**20:.0f} MB vs {t_prefix[1] / 2**20:.0f} MB; MSE vs exact {acc:.2e}")
                cmp.add(f"favor+ causal L={L}", ld_favor[0], "torch chunked loop", t_chunk[0],
                        f"mem {ld_favor[1] / 2**20:.0f} MB vs {t_chunk[1] / 2**20:.0f} MB; "
                        f"torch MSE vs ours {mse(t_chunk[2], ld_favor[2]):.1e}")
            else:
                cmp.add(f"favor+ bidirectional L={L}", ld_favor[0], "torch FAVOR+", t_favor[0],
                        f"mem {ld_favor[1] / 2**20:.0f} MB vs {t_favor[1] / 2**20:.0f} MB; MSE vs exact {acc:.2e}")
                if ld_exact and crossover is None and ld_favor[0] < t_exact[0]:
                    crossover = L
            row[tag] = {"lowdim_exact": ld_exact[0] if ld_exact else None, "lowdim_favor": ld_favor[0]}
        table.append(row)
    cmp.report()
    print(f"crossover: lowdim FAVOR+ (bidirectional) beats torch exact attention from L = {crossover} on "
          f"(of {LENGTHS})" if crossover else "crossover: none in the lengths measured")


def softmax_ref(q, k, v, causal):
    q, k, v = (a.astype(np.float64) for a in (q, k, v))
    s = q @ k.T / math.sqrt(q.shape[1])
    if causal:
        s = np.where(np.tril(np.ones(s.shape, bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    return (p / p.sum(-1, keepdims=True)) @ v


if __name__ == "__main__":
    main()
