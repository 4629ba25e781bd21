# CLI tests on generated data, driven by Python (/usr/bin/python3 with NumPy):
# - tests/python/cli_precision.py: whiten apply and pca keep float64 by default (data offset
#   by 1e6), whiten fit --fast runs, --threads keeps the bits;
# - tests/python/cli_svd_atomic.py: svd's three files appear as one set (unique temporaries,
#   concurrent writers, a failed rename keeps the previous set, the mode follows the umask).
if(TARGET lowdim_cli AND Python3_EXECUTABLE)
  foreach(script cli_precision cli_svd_atomic)
    add_test(NAME ${script}
             COMMAND ${Python3_EXECUTABLE} ${CMAKE_CURRENT_LIST_DIR}/python/${script}.py
                     $<TARGET_FILE:lowdim_cli> ${PROJECT_BINARY_DIR}/test-tmp/${script})
    set_tests_properties(${script} PROPERTIES LABELS cli TIMEOUT 300)
  endforeach()
endif()
