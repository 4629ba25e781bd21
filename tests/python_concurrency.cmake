# Concurrent calls from Python threads give the sequential bits and leave OpenBLAS's thread
# count as it was (tests/python/test_concurrency.py; needs threadpoolctl).
if(TARGET lowdim_python)
  add_test(NAME "python concurrency"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_concurrency
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties("python concurrency" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/..;OPENBLAS_NUM_THREADS=2"
    TIMEOUT 300)
endif()
