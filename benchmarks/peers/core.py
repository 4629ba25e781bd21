"""Core layer against its peers, in one run: Gaussian fill vs std::normal_distribution
(C++, same program) and NumPy's default_rng().standard_normal; the gemm wrapper vs
a bare cblas_sgemm on the same buffers."""
import sys

import numpy as np

from common import Comparison, bench_binary, run_ours, time_peer

build = sys.argv[1] if len(sys.argv) > 1 else "build-bench"
binary = bench_binary(build, "bench_core")
ours = run_ours(binary, "BM_FillNormal|BM_StdNormal|BM_Gemm")
cmp = Comparison("core", build)

n = 1 << 24
for t, np_dtype in (("float", np.float32), ("double", np.float64)):
    fill = ours[f"BM_FillNormal<{t}>/{n}/real_time"]
    cmp.add(f"fill_normal<{t}> 2^24", fill, "std::normal_distribution (mt19937_64)",
            ours[f"BM_StdNormal<{t}>/{n}/real_time"])
    rng = np.random.default_rng(1)
    peer_s, _ = time_peer(lambda: rng.standard_normal(n, dtype=np_dtype))
    cmp.add(f"fill_normal<{t}> 2^24", fill, "numpy default_rng().standard_normal", peer_s)

for shape in ("2000/2000/2000", "100000/256/1000", "64/64/64", "8/8/8"):
    cmp.add(f"gemm wrapper m/n/k={shape}", ours[f"BM_GemmWrapper/{shape}/real_time"], "bare cblas_sgemm",
            ours[f"BM_GemmBare/{shape}/real_time"], "ratio ~1 = no overhead")
cmp.report()
