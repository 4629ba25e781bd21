# lowdim svd CLI tests. Included by tests/CMakeLists.txt (registration); also run as a ctest
# script (cmake -P) that runs the CLI once and checks its exit status, its output and, with
# ABSENT, that no output file of a failed run exists.
if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  lowdim_cli_run()
  lowdim_cli_expect()
  if(ABSENT)
    foreach(suffix _U.npy _S.npy _Vt.npy _U.npy.partial _S.npy.partial _Vt.npy.partial)
      if(EXISTS "${ABSENT}${suffix}")
        message(FATAL_ERROR "lowdim ${args} failed but left ${ABSENT}${suffix} behind")
      endif()
    endforeach()
  endif()
  return()
endif()

if(NOT TARGET lowdim_cli)
  return()
endif()
# Fixtures and the numerical check of the written factors use NumPy (Debian's python3-numpy).
find_program(LOWDIM_SVD_PYTHON python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(NOT LOWDIM_SVD_PYTHON)
  message(STATUS "cli_svd tests skipped: /usr/bin/python3 not found")
  return()
endif()
execute_process(COMMAND ${LOWDIM_SVD_PYTHON} -c "import numpy" RESULT_VARIABLE _numpy_status OUTPUT_QUIET ERROR_QUIET)
if(NOT _numpy_status EQUAL 0)
  message(STATUS "cli_svd tests skipped: python3 has no numpy")
  return()
endif()

set(_svd_dir ${CMAKE_CURRENT_BINARY_DIR}/svd-cli)
# a.npy: 60 × 40 float64 with σ_i = exp(−i/3); a32.npy its float32 copy; nan.npy has a NaN at
# row 2, column 3; empty.npy is 0 × 5; big32.npy is 3e37·a in float32 (σ_1 = 3e37 < FLT_MAX) and
# huge32.npy a float32 matrix of 3e38 (σ_1 = 3e38·√2400, beyond FLT_MAX).
add_test(NAME cli_svd_fixtures COMMAND ${LOWDIM_SVD_PYTHON} -c "
import numpy as np, os, sys
d = sys.argv[1]
os.makedirs(d, exist_ok=True)
for f in os.listdir(d): os.remove(os.path.join(d, f))
rng = np.random.default_rng(0)
u, _ = np.linalg.qr(rng.standard_normal((60, 40)))
v, _ = np.linalg.qr(rng.standard_normal((40, 40)))
a = (u * np.exp(-np.arange(40) / 3.0)) @ v.T
np.save(os.path.join(d, 'a.npy'), a)
np.save(os.path.join(d, 'a32.npy'), a.astype(np.float32))
b = a.copy(); b[2, 3] = np.nan
np.save(os.path.join(d, 'nan.npy'), b)
np.save(os.path.join(d, 'empty.npy'), np.zeros((0, 5)))
np.save(os.path.join(d, 'big32.npy'), (a * 3e37).astype(np.float32))
np.save(os.path.join(d, 'huge32.npy'), np.full((60, 40), 3e38, dtype=np.float32))
" ${_svd_dir})
set_tests_properties(cli_svd_fixtures PROPERTIES FIXTURES_SETUP svd_files)

# cli_svd_case(NAME STATUS REGEX ABSENT_PREFIX ARG...)
function(cli_svd_case name status regex absent)
  string(REPLACE ";" "|" args "${ARGN}")
  add_test(NAME cli_svd_${name}
    COMMAND ${CMAKE_COMMAND} -DCLI=$<TARGET_FILE:lowdim_cli> "-DARGS=${args}" -DEXPECT_STATUS=${status}
            "-DEXPECT=${regex}" "-DABSENT=${absent}" -P ${CMAKE_CURRENT_LIST_FILE})
  set_tests_properties(cli_svd_${name} PROPERTIES FIXTURES_REQUIRED svd_files TIMEOUT 120)
endfunction()

set(d ${_svd_dir})
cli_svd_case(help 0 "Usage: lowdim svd .*--rank.*--tol.*--method.*--out" "" svd --help)
cli_svd_case(rank 0 "svd of 60 x 40 float64 by krylov: rank 4, 4 passes over A, 2 Krylov blocks \\(depth chosen by the residual check\\)\nsingular values:\n +1 +1\n +2 +0.716531310[0-9]*\n +3 +0.51341711[0-9]*\n +4 +0.36787944[0-9]*\nerror \\|\\|A - U S Vt\\|\\|_F = 0.3778[0-9]* \\(relative 0.2635[0-9]*\\), computed\nwrote .*krylov_U.npy \\(60 x 4\\), .*krylov_S.npy \\(4\\), .*krylov_Vt.npy \\(4 x 40\\)"
  "" svd --input ${d}/a.npy --rank 4 --out ${d}/krylov)
cli_svd_case(rsvd 0 "by rsvd: rank 5, 6 passes over A, 2 power iterations\n.*\n +5 +0.26359[0-9]*\n" "" svd --input ${d}/a.npy --rank 5 --method rsvd -q 2 -p 5 --seed 7 --out ${d}/rsvd)
cli_svd_case(qb_float32 0 "svd of 60 x 40 float32 by qb: rank 1[0-9],.*\\(relative 0.00[0-9]+\\), computed"
  "" svd --input ${d}/a32.npy --tol 0.01 --out ${d}/qb)
cli_svd_case(qb_max_rank 0 "by qb: rank 5,.*note: tol 0.1 not reached: stopped at the maximum rank 5" ""
  svd --input ${d}/a.npy --tol 0.1 --rank 5 --out ${d}/qbmax)
cli_svd_case(single_pass 0 "by single-pass: rank 3, 1 pass over A.*, estimated \\(independent Gaussian sketch\\)" ""
  svd --input ${d}/a.npy --rank 3 --method single-pass --out ${d}/single)
cli_svd_case(srht_json 0 "\\{\"method\": \"krylov\", \"rows\": 60, \"cols\": 40, \"dtype\": \"float64\", \"rank\": 2, \"passes\": 4, \"iterations\": 2, \"singular_values\": \\[(1(\\.0+[0-9]*)?|0\\.9999999999999[0-9]*), 0\\.71653131[0-9]*\\], \"error\": [0-9.e-]+, \"relative_error\": [0-9.e-]+, \"error_kind\": \"computed\""
  "" svd --input ${d}/a.npy --rank 2 --sketch srht --json --out ${d}/srht)

# Extreme but finite input: the right factors (σ scaled), or a clear error when float cannot hold σ.
cli_svd_case(big_float32 0 "svd of 60 x 40 float32 by krylov: rank 3,.*\n +1 +(3e\\+37|2\\.99999[0-9]*e\\+37|3\\.00000[0-9]*e\\+37)\n +2 +2\\.1495[0-9]*e\\+37\n"
  "" svd --input ${d}/big32.npy --rank 3 --out ${d}/big32)
cli_svd_case(huge_float32 2 "lowdim: block_krylov_svd: singular value 1\\.47[0-9]*e\\+40 exceeds the largest float" ${d}/huge32
  svd --input ${d}/huge32.npy --rank 2 --out ${d}/huge32)
# Every option a method does not use is refused, by name (none is accepted and ignored).
cli_svd_case(krylov_oversampling 2 "lowdim: svd: oversampling is not used by method krylov" ${d}/opt
  svd --input ${d}/a.npy --rank 4 --oversampling 5 --out ${d}/opt)
cli_svd_case(qb_oversampling 2 "lowdim: svd: oversampling is not used by method qb" ${d}/opt
  svd --input ${d}/a.npy --tol 0.1 -p 5 --out ${d}/opt)
cli_svd_case(rsvd_block_size 2 "lowdim: svd: block_size is not used by method rsvd" ${d}/opt
  svd --input ${d}/a.npy --rank 4 --method rsvd --block-size 8 --out ${d}/opt)
cli_svd_case(single_pass_q 2 "lowdim: svd: power_iterations is not used by method single-pass" ${d}/opt
  svd --input ${d}/a.npy --rank 4 --method single-pass -q 2 --out ${d}/opt)
cli_svd_case(single_pass_b 2 "lowdim: svd: block_size is not used by method single-pass" ${d}/opt
  svd --input ${d}/a.npy --rank 4 --method single-pass -b 8 --out ${d}/opt)
cli_svd_case(single_pass_sketch 2 "lowdim: svd: sketch srht is not used by method single-pass" ${d}/opt
  svd --input ${d}/a.npy --rank 4 --method single-pass --sketch srht --out ${d}/opt)
# …and the ones a method uses act: krylov's -q caps the blocks, single-pass's -p sizes the sketch.
cli_svd_case(krylov_q 0 "by krylov: rank 4, 2 passes over A, 1 Krylov block " "" svd --input ${d}/a.npy --rank 4 -q 1 -b 8 --out ${d}/kq)

cli_svd_case(rank_too_big 2 "lowdim: block_krylov_svd: rank 60 exceeds min\\(rows, cols\\) = 40" ${d}/big
  svd --input ${d}/a.npy --rank 60 --out ${d}/big)
cli_svd_case(rsvd_rank_too_big 2 "lowdim: rsvd: rank 41 exceeds min\\(rows, cols\\) = 40" ${d}/big
  svd --input ${d}/a.npy --rank 41 --method rsvd --out ${d}/big)
cli_svd_case(nan 2 "lowdim: block_krylov_svd: non-finite value nan at row 2, column 3" ${d}/nan
  svd --input ${d}/nan.npy --rank 2 --out ${d}/nan)
cli_svd_case(empty 2 "lowdim: block_krylov_svd: the input matrix is empty \\(0 x 5\\)" ${d}/empty
  svd --input ${d}/empty.npy --rank 1 --out ${d}/empty)
cli_svd_case(tol_range 2 "lowdim: adaptive_qb: tol 1.5 is outside \\(0, 1\\)" ${d}/tol
  svd --input ${d}/a.npy --tol 1.5 --out ${d}/tol)
cli_svd_case(neither 2 "lowdim: svd: give --rank K or --tol T" ${d}/neither svd --input ${d}/a.npy --out ${d}/neither)
cli_svd_case(tol_fixed_rank 2 "lowdim: svd: --tol needs --method qb \\(method rsvd is fixed-rank\\)" ${d}/tfr
  svd --input ${d}/a.npy --tol 0.1 --method rsvd --out ${d}/tfr)
cli_svd_case(bad_method 2 "unknown svd method 'lanczos' \\(valid: krylov, rsvd, qb, single-pass\\)" ${d}/bm
  svd --input ${d}/a.npy --rank 2 --method lanczos --out ${d}/bm)
cli_svd_case(missing_input 3 "lowdim: .*no_such.npy" ${d}/missing svd --input ${d}/no_such.npy --rank 2 --out ${d}/missing)
cli_svd_case(unwritable 3 "lowdim: .*no_such_dir" ${d}/no_such_dir/x
  svd --input ${d}/a.npy --rank 2 --out ${d}/no_such_dir/x)

# The written factors, checked against NumPy's SVD of the same file.
add_test(NAME cli_svd_factors COMMAND ${LOWDIM_SVD_PYTHON} -c "
import numpy as np, sys
d = sys.argv[1]
a = np.load(d + '/a.npy')
exact = np.linalg.svd(a, compute_uv=False)
for prefix, k, tol in (('krylov', 4, 1e-12), ('rsvd', 5, 1e-6)):
    u, s, vt = (np.load(d + '/' + prefix + suffix) for suffix in ('_U.npy', '_S.npy', '_Vt.npy'))
    assert u.shape == (60, k) and s.shape == (k,) and vt.shape == (k, 40), (prefix, u.shape, s.shape, vt.shape)
    assert np.max(np.abs(s - exact[:k]) / exact[:k]) < tol, (prefix, s, exact[:k])
    assert np.max(np.abs(u.T @ u - np.eye(k))) < 1e-13 and np.max(np.abs(vt @ vt.T - np.eye(k))) < 1e-13
    # Sign convention: the largest-magnitude entry of each column of U is positive.
    assert all(u[np.argmax(np.abs(u[:, j])), j] > 0 for j in range(k))
    err = np.linalg.norm(a - (u * s) @ vt)
    assert abs(err - np.sqrt(np.sum(exact[k:] ** 2))) < 1e-6 * err, (prefix, err)
u, s, vt = (np.load(d + '/qb' + suffix) for suffix in ('_U.npy', '_S.npy', '_Vt.npy'))
assert u.dtype == np.float32 and s.dtype == np.float32
assert np.linalg.norm(a - (u.astype(float) * s) @ vt) <= 0.01 * np.linalg.norm(a) * 1.01
" ${_svd_dir})
set_tests_properties(cli_svd_factors PROPERTIES FIXTURES_REQUIRED svd_files DEPENDS "cli_svd_rank;cli_svd_rsvd;cli_svd_qb_float32")
