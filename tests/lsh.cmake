# ctest tests of `lowdim lsh build|query|insert|remove|eval` on small synthetic data made by
# NumPy (Debian's /usr/bin/python3), checked by exit status, output and the files written.
#
# Two modes, as tests/cli_whiten.cmake: included, it registers the tests; run as
# `cmake -DCMD=a|b|c -DSTATUS=n -DEXPECT=regex -P lsh.cmake` it runs one command.

if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  set(ARGS "${CMD}")
  set(EXPECT_STATUS "${STATUS}")
  lowdim_cli_run()
  lowdim_cli_expect()
  return()
endif()

# The LSH part of the C API, compiled as C99 like tests/c_api.cmake.
add_executable(lsh_c_test ${CMAKE_CURRENT_LIST_DIR}/lsh_c_test.c)
set_target_properties(lsh_c_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_link_libraries(lsh_c_test PRIVATE lowdim::lowdim m lowdim_build_flags)
add_test(NAME "lsh c api" COMMAND lsh_c_test ${CMAKE_CURRENT_BINARY_DIR})

# The Python binding (python/bind_lsh.cpp) and lowdim.sklearn.LSHNeighbors.
if(TARGET lowdim_python)
  add_test(NAME "python lsh" COMMAND ${Python3_EXECUTABLE} -m unittest -v test_lsh
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/python)
  set_tests_properties("python lsh" PROPERTIES ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/.." TIMEOUT 300)
endif()

if(NOT TARGET lowdim_cli OR NOT EXISTS /usr/bin/python3)
  message(STATUS "lsh CLI tests: skipped (needs the lowdim CLI and /usr/bin/python3)")
  return()
endif()
set(_lsh_dir ${PROJECT_BINARY_DIR}/test-tmp/cli-lsh)
set(_lsh_script ${CMAKE_CURRENT_LIST_FILE})

# lsh_cli(name status regex [REQUIRES fixture...] [SETS fixture] ARGS args...)
function(lsh_cli name status regex)
  cmake_parse_arguments(PARSE_ARGV 3 opt "" "SETS" "REQUIRES;ARGS")
  string(REPLACE ";" "|" command "${opt_ARGS}")
  add_test(NAME cli_lsh_${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=${command}" -DSTATUS=${status} "-DEXPECT=${regex}" -P ${_lsh_script})
  if(opt_REQUIRES)
    set_tests_properties(cli_lsh_${name} PROPERTIES FIXTURES_REQUIRED "${opt_REQUIRES}")
  endif()
  if(opt_SETS)
    set_tests_properties(cli_lsh_${name} PROPERTIES FIXTURES_SETUP ${opt_SETS})
  endif()
endfunction()

set(_cli $<TARGET_FILE:lowdim_cli>)
set(_py /usr/bin/python3)
lsh_cli(setup 0 "made" SETS lsh_data ARGS ${_py} -c
  "import numpy as np, os; d='${_lsh_dir}'; os.makedirs(d, exist_ok=True); r=np.random.default_rng(1); c=r.normal(size=(20,16)); b=(c[np.arange(600)%20]+0.2*r.normal(size=(600,16))).astype(np.float32); np.save(d+'/base.npy', b[:500]); np.save(d+'/queries.npy', b[500:]); np.save(d+'/new.npy', (5+r.normal(size=(3,16))).astype(np.float32)); np.save(d+'/remove.npy', np.array([0, 1, 501])); np.save(d+'/bad.npy', np.zeros((2, 7), np.float32)); print('made')")
lsh_cli(build 0 "built 8 tables x 12 hashes \\(simhash\\) over 500 x 16" REQUIRES lsh_data SETS lsh_index
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/i.lsh --tables 8 --hashes 12 --seed 3)
lsh_cli(build_bad_family 2 "unknown LSH family 'minhash' \\(valid: simhash, cross_polytope, pstable\\)" REQUIRES lsh_data
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/never.lsh --family minhash)
lsh_cli(query 0 "100 queries in" REQUIRES lsh_index SETS lsh_queried
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/queries.npy --k 10 --probes 64
       --output ${_lsh_dir}/ids.npy --distances ${_lsh_dir}/d.npy --json ${_lsh_dir}/stats.json)
lsh_cli(query_check 0 "recall ok" REQUIRES lsh_queried ARGS ${_py} -c
  "import numpy as np, json; d='${_lsh_dir}'; b=np.load(d+'/base.npy'); q=np.load(d+'/queries.npy'); i=np.load(d+'/ids.npy'); D=np.load(d+'/d.npy'); s=json.load(open(d+'/stats.json')); assert i.shape==(100,10) and i.dtype==np.int64; t=np.argsort(((q[:,None,:]-b[None])**2).sum(-1),1)[:,:10]; r=np.mean([len(set(a)&set(c))/10 for a,c in zip(i,t)]); assert r>0.8, r; assert np.allclose(D, np.linalg.norm(q[:,None,:]-b[i],axis=-1), rtol=1e-4, atol=1e-4); assert len(s['per_query'])==100 and s['mean']['probes']>=64; print('recall ok', r)")
lsh_cli(query_k_too_big 2 "k = 501 exceeds the 500 points in the index" REQUIRES lsh_index
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/queries.npy --k 501 --output ${_lsh_dir}/never.npy)
lsh_cli(query_dim 2 "queries have 7 columns, the index holds d = 16" REQUIRES lsh_index
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/bad.npy --k 1 --output ${_lsh_dir}/never.npy)
lsh_cli(query_both 1 "--probes excludes --candidates" REQUIRES lsh_index
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/queries.npy --probes 8 --candidates 9 --output ${_lsh_dir}/never.npy)
lsh_cli(query_corrupt 3 "not a lowdim archive" REQUIRES lsh_data
  ARGS ${_cli} lsh query --index ${_lsh_dir}/base.npy --queries ${_lsh_dir}/queries.npy --output ${_lsh_dir}/never.npy)
lsh_cli(insert 0 "^500\n501\n502\n$" REQUIRES lsh_queried SETS lsh_inserted
  ARGS ${_cli} lsh insert --index ${_lsh_dir}/i.lsh --input ${_lsh_dir}/new.npy)
lsh_cli(query_inserted 0 "queries in" REQUIRES lsh_inserted SETS lsh_queried2
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/new.npy --k 1 --output ${_lsh_dir}/new_ids.ivecs)
lsh_cli(query_inserted_check 0 "found" REQUIRES lsh_queried2 ARGS ${_py} -c
  "import numpy as np; a=np.fromfile('${_lsh_dir}/new_ids.ivecs', np.int32).reshape(3,2); assert (a[:,0]==1).all() and (a[:,1]==[500,501,502]).all(), a; print('found')")
lsh_cli(remove 0 "removed 3 ids; 500 points remain" REQUIRES lsh_queried2 SETS lsh_removed
  ARGS ${_cli} lsh remove --index ${_lsh_dir}/i.lsh --ids ${_lsh_dir}/remove.npy)
lsh_cli(remove_again 2 "id 0 was already removed" REQUIRES lsh_removed
  ARGS ${_cli} lsh remove --index ${_lsh_dir}/i.lsh --ids ${_lsh_dir}/remove.npy)
lsh_cli(query_removed 0 "queries in" REQUIRES lsh_removed SETS lsh_queried3
  ARGS ${_cli} lsh query --index ${_lsh_dir}/i.lsh --queries ${_lsh_dir}/base.npy --k 5 --output ${_lsh_dir}/after.npy)
lsh_cli(query_removed_check 0 "gone" REQUIRES lsh_queried3 ARGS ${_py} -c
  "import numpy as np; a=np.load('${_lsh_dir}/after.npy'); assert not np.isin(a, [0, 1, 501]).any(); print('gone')")
lsh_cli(eval 0 "probes +recall +q/s +candidates" REQUIRES lsh_data SETS lsh_eval
  ARGS ${_cli} lsh eval --base ${_lsh_dir}/base.npy --queries ${_lsh_dir}/queries.npy --k 5 --family pstable --tables 4
       --hashes 6 --probe-list 4,16,64 --json ${_lsh_dir}/eval.json --plot ${_lsh_dir}/eval.svg)
lsh_cli(eval_check 0 "eval ok" REQUIRES lsh_eval ARGS ${_py} -c
  "import json, xml.dom.minidom as m; j=json.load(open('${_lsh_dir}/eval.json')); r=j['results']; assert [x['probes'] for x in r]==[4,16,64]; assert all(set(x)=={'family','tables','hashes','probes','recall','qps','candidates'} for x in r); assert r[0]['family']=='pstable' and r[0]['tables']==4 and r[0]['hashes']==6; assert r[-1]['recall']>=r[0]['recall']; s=m.parse('${_lsh_dir}/eval.svg'); assert 'exact' in open('${_lsh_dir}/eval.svg').read(); print('eval ok')")
# The tuner from the CLI: tables, hashes and probes chosen for a recall on held-out rows within a budget.
lsh_cli(build_tuned 0 "tuned simhash for recall@10 >= 0.9: [0-9]+ tables x [0-9]+ hashes, [0-9]+ probes; held-out recall 0\\.9.*budget 200000\\)" REQUIRES lsh_data SETS lsh_tuned
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/tuned.lsh --target-recall 0.9 --k 10 --memory 200000)
lsh_cli(query_adaptive 0 "100 queries in" REQUIRES lsh_tuned SETS lsh_adaptive
  ARGS ${_cli} lsh query --index ${_lsh_dir}/tuned.lsh --queries ${_lsh_dir}/queries.npy --k 10 --target-recall 0.9
       --output ${_lsh_dir}/ids_adaptive.npy --json ${_lsh_dir}/stats_adaptive.json)
lsh_cli(query_adaptive_check 0 "adaptive ok" REQUIRES lsh_adaptive ARGS ${_py} -c
  "import numpy as np, json; d='${_lsh_dir}'; b=np.load(d+'/base.npy'); q=np.load(d+'/queries.npy'); i=np.load(d+'/ids_adaptive.npy'); s=json.load(open(d+'/stats_adaptive.json')); t=np.argsort(((q[:,None,:]-b[None])**2).sum(-1),1)[:,:10]; r=np.mean([len(set(a)&set(c))/10 for a,c in zip(i,t)]); assert r>=0.88, r; e=[x['estimated_recall'] for x in s['per_query']]; assert min(e)>=0.9, min(e); print('adaptive ok', r)")
lsh_cli(build_tuned_small_budget 2 "the memory budget of 1000 bytes is below the [0-9]+ bytes that the data \\(500 × 16\\) and one table need" REQUIRES lsh_data
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/never.lsh --target-recall 0.9 --memory 1000)
lsh_cli(build_tuned_bad_size 1 "--memory '12Q' is not a size in bytes" REQUIRES lsh_data
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/never.lsh --target-recall 0.9 --memory 12Q)
lsh_cli(build_tuned_fixed_tables 1 "--tables is chosen by the tuner" REQUIRES lsh_data
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/never.lsh --target-recall 0.9 --tables 4)
lsh_cli(build_memory_needs_target 1 "--memory requires --target-recall" REQUIRES lsh_data
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/never.lsh --memory 1M)
# The CLI conventions on every lsh subcommand: --json alone writes the results to stdout and
# nothing else; --quiet prints nothing.
lsh_cli(build_json 0 "^{\"index\": \".*json.lsh\", \"family\": \"simhash\", \"rows\": 500, \"dim\": 16, \"tables\": 8, \"hashes\": 12, \"build_seconds\": [0-9.e-]+, \"memory_bytes\": [0-9]+, \"table_bytes_per_point\": [0-9.]+}\n$"
  REQUIRES lsh_data SETS lsh_json
  ARGS ${_cli} lsh build --input ${_lsh_dir}/base.npy --index ${_lsh_dir}/json.lsh --tables 8 --hashes 12 --json)
lsh_cli(query_json 0 "^{\n  \"queries\": 100, .*\"per_query\": \\[" REQUIRES lsh_json
  ARGS ${_cli} lsh query --index ${_lsh_dir}/json.lsh --queries ${_lsh_dir}/queries.npy --k 3 --output ${_lsh_dir}/json_ids.npy --json)
lsh_cli(insert_json 0 "^{\"first_id\": 500, \"inserted\": 3, \"size\": 503}\n$" REQUIRES lsh_json SETS lsh_json_inserted
  ARGS ${_cli} lsh insert --index ${_lsh_dir}/json.lsh --input ${_lsh_dir}/new.npy --json)
lsh_cli(remove_quiet 0 "^$" REQUIRES lsh_json_inserted
  ARGS ${_cli} lsh remove --index ${_lsh_dir}/json.lsh --ids ${_lsh_dir}/remove.npy --quiet)
