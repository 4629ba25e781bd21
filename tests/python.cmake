# The Python module's tests, with /usr/bin/python3 (Debian's NumPy, and scikit-learn for the
# randomized-SVD comparison).
if(TARGET lowdim_python)
  add_test(NAME "python module"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_python
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties("python module" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/..;LOWDIM_TEST_TMP=${CMAKE_CURRENT_BINARY_DIR}"
    TIMEOUT 300)
  add_test(NAME "python rsvd against scikit-learn"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_rsvd
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties("python rsvd against scikit-learn" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/.."
    TIMEOUT 600)
  add_test(NAME "python sklearn estimators (check_estimator)"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_sklearn
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties("python sklearn estimators (check_estimator)" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/.."
    TIMEOUT 600)
endif()
if(TARGET lowdim_python)
  add_test(NAME "python API docs and type stub"
           COMMAND ${Python3_EXECUTABLE} -m unittest -v test_api_docs
           WORKING_DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/python)
  set_tests_properties("python API docs and type stub" PROPERTIES
    ENVIRONMENT "PYTHONPATH=$<TARGET_FILE_DIR:lowdim_python>/.." TIMEOUT 120)
endif()
