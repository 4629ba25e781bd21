# liblowdim_mpi and lowdim-mpi (include/lowdim/mpi.hpp, src/mpi/, tools/lowdim-mpi/): the optional
# MPI layer. liblowdim itself never links MPI. -DLOWDIM_WITH_MPI=ON|OFF; by default ON when MPI is found.
find_package(MPI QUIET COMPONENTS CXX)
option(LOWDIM_WITH_MPI "Build the MPI layer liblowdim_mpi and lowdim-mpi (needs MPI: libopenmpi-dev)" ${MPI_CXX_FOUND})
if(NOT LOWDIM_WITH_MPI)
  return()
endif()
if(NOT MPI_CXX_FOUND)
  message(FATAL_ERROR "LOWDIM_WITH_MPI is ON but no MPI was found: install libopenmpi-dev openmpi-bin (make deps), "
                      "or configure with -DLOWDIM_WITH_MPI=OFF")
endif()
file(GLOB LOWDIM_MPI_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/src/mpi/*.cpp")
add_library(lowdim_mpi SHARED ${LOWDIM_MPI_SOURCES})
add_library(lowdim::lowdim_mpi ALIAS lowdim_mpi)
set_target_properties(lowdim_mpi PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${LOWDIM_SOVERSION}
  EXPORT_NAME lowdim_mpi)
target_compile_definitions(lowdim_mpi PRIVATE LOWDIM_BUILDING_LIBRARY)
target_link_libraries(lowdim_mpi PUBLIC lowdim MPI::MPI_CXX PRIVATE $<BUILD_INTERFACE:lowdim_build_flags>)
# Exported as lowdim::lowdim_mpi: find_package(lowdim COMPONENTS mpi) (cmake/lowdim-config.cmake.in;
# the export set is installed in CMakeLists.txt), and pkg-config lowdim-mpi.
install(TARGETS lowdim_mpi EXPORT lowdim-mpi-targets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})

if(LOWDIM_BUILD_TOOLS)
  file(GLOB LOWDIM_MPI_TOOL_SOURCES CONFIGURE_DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/tools/lowdim-mpi/*.cpp")
  add_executable(lowdim_mpi_cli ${LOWDIM_MPI_TOOL_SOURCES})
  set_target_properties(lowdim_mpi_cli PROPERTIES OUTPUT_NAME lowdim-mpi
    INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
  target_include_directories(lowdim_mpi_cli PRIVATE ${CLI11_INCLUDE_DIR} ${CMAKE_CURRENT_SOURCE_DIR}/tools/lowdim)
  target_link_libraries(lowdim_mpi_cli PRIVATE lowdim_mpi lowdim lowdim_build_flags)
  install(TARGETS lowdim_mpi_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  if(TARGET lowdim_cli)
    add_dependencies(lowdim_cli lowdim_mpi_cli)  # `mpirun lowdim ...` hands over to lowdim-mpi beside it
  endif()
endif()
