# Packaging: a consumer builds and runs against the installed tree. Not in
# sanitizer builds: an uninstrumented consumer cannot load an ASan library.
if(NOT LOWDIM_SANITIZE)
  foreach(mode cmake pkg-config)
    add_test(NAME "packaging: consumer via ${mode}"
             COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/packaging_test.sh ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR} ${mode})
    set_tests_properties("packaging: consumer via ${mode}" PROPERTIES TIMEOUT 300 RESOURCE_LOCK install-tree-${mode})
  endforeach()
endif()
