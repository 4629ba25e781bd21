# Packaging: a consumer builds and runs against the installed tree. Not in
# sanitizer builds: an uninstrumented consumer cannot load an ASan library.
if(NOT LOWDIM_SANITIZE)
  foreach(mode cmake pkg-config)
    add_test(NAME "packaging: consumer via ${mode}"
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/packaging_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} ${mode})
    set_tests_properties("packaging: consumer via ${mode}" PROPERTIES TIMEOUT 300 RESOURCE_LOCK install-tree-${mode})
    if(TARGET lowdim_python)  # the installed prefix also holds an importable Python package
      set_tests_properties("packaging: consumer via ${mode}" PROPERTIES ENVIRONMENT "LOWDIM_TEST_PYTHON=${Python3_EXECUTABLE}")
    endif()
  endforeach()
  if(TARGET lowdim_python)
    add_test(NAME "packaging: pip install ."
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/pip_install_test.sh ${PROJECT_SOURCE_DIR}
                     ${PROJECT_BINARY_DIR}/pip-install ${Python3_EXECUTABLE})
    set_tests_properties("packaging: pip install ." PROPERTIES TIMEOUT 900)
  endif()
endif()
