# ctest tests of `lowdim attention apply|error|bench` on small synthetic data made by NumPy
# (Debian's /usr/bin/python3), checked by exit status, output and the files written.
#
# Two modes, as tests/lsh.cmake: included, it registers the tests; run as
# `cmake -DCMD=a|b|c -DSTATUS=n -DEXPECT=regex -P attention.cmake` it runs one command.

if(CMAKE_SCRIPT_MODE_FILE)
  include(${CMAKE_CURRENT_LIST_DIR}/cli_check.cmake)
  set(ARGS "${CMD}")
  set(EXPECT_STATUS "${STATUS}")
  lowdim_cli_run()
  lowdim_cli_expect()
  return()
endif()

# The attention part of the C API, compiled as C99 like tests/lsh.cmake's.
add_executable(attention_c_test ${CMAKE_CURRENT_LIST_DIR}/attention_c_test.c)
set_target_properties(attention_c_test PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_link_libraries(attention_c_test PRIVATE lowdim::lowdim m lowdim_build_flags)
add_test(NAME "attention c api" COMMAND attention_c_test)

if(TARGET lowdim_python)
  add_test(NAME "python attention"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_attention
           WORKING_DIRECTORY ${CMAKE_CURRENT_LIST_DIR}/python)
  set_tests_properties("python attention" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/.." TIMEOUT 300)
endif()

if(NOT TARGET lowdim_cli OR NOT EXISTS /usr/bin/python3)
  message(STATUS "attention CLI tests: skipped (needs the lowdim CLI and /usr/bin/python3)")
  return()
endif()
set(_att_dir ${PROJECT_BINARY_DIR}/test-tmp/cli-attention)
set(_att_script ${CMAKE_CURRENT_LIST_FILE})

# attention_cli(name status regex [REQUIRES fixture...] [SETS fixture] ARGS args...)
function(attention_cli name status regex)
  cmake_parse_arguments(PARSE_ARGV 3 opt "" "SETS" "REQUIRES;ARGS")
  string(REPLACE ";" "|" command "${opt_ARGS}")
  add_test(NAME cli_attention_${name}
           COMMAND ${CMAKE_COMMAND} "-DCMD=${command}" -DSTATUS=${status} "-DEXPECT=${regex}" -P ${_att_script})
  if(opt_REQUIRES)
    set_tests_properties(cli_attention_${name} PROPERTIES FIXTURES_REQUIRED "${opt_REQUIRES}")
  endif()
  if(opt_SETS)
    set_tests_properties(cli_attention_${name} PROPERTIES FIXTURES_SETUP ${opt_SETS})
  endif()
endfunction()

set(_cli $<TARGET_FILE:lowdim_cli>)
set(_py /usr/bin/python3)
attention_cli(setup 0 "made" SETS att_data ARGS ${_py} -c
  "import numpy as np, os; d='${_att_dir}'; os.makedirs(d, exist_ok=True); r=np.random.default_rng(1); [np.save(d+'/'+n+'.npy', (0.5*r.normal(size=(2,48,16))).astype(np.float32)) for n in 'qkv']; np.save(d+'/q2.npy', r.normal(size=(48,16))); np.save(d+'/k2.npy', r.normal(size=(48,16))); np.save(d+'/v2.npy', r.normal(size=(48,4))); np.save(d+'/bad.npy', np.zeros((2,48,7), np.float32)); print('made')")
attention_cli(exact 0 "attention exact \\(bidirectional\\): 2 heads x L 48 x d 16" REQUIRES att_data SETS att_exact
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method exact
       --output ${_att_dir}/exact.npy)
attention_cli(favor 0 "favor" REQUIRES att_data SETS att_favor
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method favor
       --features 1024 --projection orf --output ${_att_dir}/favor.npy --json ${_att_dir}/favor.json)
attention_cli(causal_rope 0 "causal, rope 1d-half" REQUIRES att_data SETS att_causal
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method exact
       --causal --rope 1d-half --rope-scaling yarn --factor 4 --original-length 16 --output ${_att_dir}/causal.npy)
attention_cli(check 0 "apply ok" REQUIRES att_exact att_favor att_causal ARGS ${_py} -c
  "import numpy as np, json; d='${_att_dir}'; q,k,v=[np.load(d+'/'+n+'.npy').astype(np.float64) for n in 'qkv']; s=q@k.transpose(0,2,1)/4; p=np.exp(s-s.max(-1,keepdims=True)); p/=p.sum(-1,keepdims=True); e=np.load(d+'/exact.npy'); assert e.shape==(2,48,16) and e.dtype==np.float32; assert abs(e-p@v).max()<1e-5; f=np.load(d+'/favor.npy'); assert ((f-e)**2).mean()<1e-3, ((f-e)**2).mean(); j=json.load(open(d+'/favor.json')); assert j['method']=='favor' and j['heads']==2 and j['length']==48; c=np.load(d+'/causal.npy'); assert abs(c[:,0]-v[:,0]).max()<1e-6; print('apply ok')")
attention_cli(float64 0 "exact" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q2.npy --k ${_att_dir}/k2.npy --v ${_att_dir}/v2.npy --method exact
       --rope 2d --grid 6x8 --output ${_att_dir}/grid.npy)
attention_cli(bad_d 2 "q has d = 16 but k has 7" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/bad.npy --v ${_att_dir}/v.npy --output ${_att_dir}/never.npy)
attention_cli(bad_m 2 "m = 0 must be >= 1" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --features 0 --output ${_att_dir}/never.npy)
attention_cli(bad_method 2 "unknown feature map 'softplus'" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method softplus --output ${_att_dir}/never.npy)
attention_cli(bad_grid 2 "grid 5x5 has 25 cells, but q has L = 48" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method exact --rope 2d --grid 5x5 --output ${_att_dir}/never.npy)
attention_cli(ignored_option 2 "are for the random-feature methods" REQUIRES att_data
  ARGS ${_cli} attention apply --q ${_att_dir}/q.npy --k ${_att_dir}/k.npy --v ${_att_dir}/v.npy --method exact --features 64 --output ${_att_dir}/never.npy)
attention_cli(missing 3 "cannot open" ARGS ${_cli} attention apply --q /nonexistent/q.npy --k /nonexistent/k.npy --v /nonexistent/v.npy --output ${_att_dir}/never.npy)
attention_cli(usage 1 "required" ARGS ${_cli} attention apply --q x.npy)
attention_cli(error 0 "kernel mean" SETS att_error
  ARGS ${_cli} attention error --d 8 --L 64 --features 8,32 --repeats 4 --json ${_att_dir}/error.json --plot ${_att_dir}/error.svg)
attention_cli(error_check 0 "error ok" REQUIRES att_error ARGS ${_py} -c
  "import json, xml.dom.minidom as m; j=json.load(open('${_att_dir}/error.json')); r=j['results']; assert len(r)==3*4*2; assert all(set(x)=={'method','projection','features','kernel_mse','kernel_mse_median','output_mse','output_mse_median'} for x in r); assert {x['projection'] for x in r}=={'iid','orf','sorf','simplex'}; m.parse('${_att_dir}/error.svg'); print('error ok')")
attention_cli(error_bad_map 2 "does not estimate the softmax kernel" ARGS ${_cli} attention error --d 8 --L 16 --features 8 --repeats 2 --maps relu --quiet)
attention_cli(bench 0 "\"crossover\"" ARGS ${_cli} attention bench --d 16 --features 32 --lengths 64,128 --repeats 1 --json --quiet)
