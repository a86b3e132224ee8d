# ctest package_pkg_config: installs the built hotq into WORK_DIR/prefix, then
# compiles, links and runs programs with the flags pkg-config gives for the
# installed hotq.pc, and nothing else: the C++ example with
# `pkg-config --cflags --libs hotq`, tests/consumer/main.cc with `--static`
# added, and the C example (if examples/c/ has it) with the C compiler.
# Run with cmake -P; see tests/package/CMakeLists.txt for the variables.
cmake_minimum_required(VERSION 3.22)
if(NOT PKG_CONFIG)
  message(FATAL_ERROR "package_pkg_config: pkg-config not found. Install the Debian package "
                      "'pkg-config' (or run tools/setup.sh).")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

set(run_test_name package_pkg_config)
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/run_command.cmake)

run(${CMAKE_COMMAND} --install ${HOTQ_BINARY_DIR} --prefix ${prefix})
set(pc_dir ${prefix}/${LIBDIR}/pkgconfig)
if(NOT EXISTS ${pc_dir}/hotq.pc)
  message(FATAL_ERROR "package_pkg_config: ${pc_dir}/hotq.pc was not installed")
endif()
# Only the installed prefix: no hotq.pc from elsewhere (a system one) may answer.
set(ENV{PKG_CONFIG_PATH} ${pc_dir})

# pkg-config's answer for hotq: a list of arguments.
function(pkg_config out)
  execute_process(COMMAND ${PKG_CONFIG} ${ARGN} hotq
                  OUTPUT_VARIABLE answer ERROR_VARIABLE err RESULT_VARIABLE rc
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "package_pkg_config: pkg-config ${ARGN} hotq failed (${rc}): ${err}")
  endif()
  message("pkg-config ${ARGN} hotq: ${answer}")
  separate_arguments(answer UNIX_COMMAND "${answer}")
  set(${out} ${answer} PARENT_SCOPE)
endfunction()

run(${PKG_CONFIG} --validate hotq)
pkg_config(version --modversion)
if(NOT "${version}" STREQUAL "${VERSION}")
  message(FATAL_ERROR "package_pkg_config: hotq.pc says version '${version}', the build ${VERSION}")
endif()
# Relocatable: the paths lead into this prefix, not to the configured one.
pkg_config(libdir --variable=libdir)
pkg_config(includedir --variable=includedir)
get_filename_component(libdir ${libdir} REALPATH)
get_filename_component(includedir ${includedir} REALPATH)
get_filename_component(want_libdir ${prefix}/${LIBDIR} REALPATH)
get_filename_component(want_includedir ${prefix}/include REALPATH)
if(NOT libdir STREQUAL want_libdir OR NOT includedir STREQUAL want_includedir)
  message(FATAL_ERROR "package_pkg_config: hotq.pc points to ${libdir} and ${includedir}, "
                      "not into the prefix it was installed in (${prefix})")
endif()

# A shared libhotq (BUILD_SHARED_LIBS=ON) is found at run time through this.
set(ENV{LD_LIBRARY_PATH} ${want_libdir})

separate_arguments(cxx_flags UNIX_COMMAND "${CXX_FLAGS}")  # the build's sanitizer flags
separate_arguments(c_flags UNIX_COMMAND "${C_FLAGS}")
separate_arguments(linker_flags UNIX_COMMAND "${LINKER_FLAGS}")
pkg_config(flags --cflags --libs)
pkg_config(static_flags --cflags --libs --static)

run(${CXX} ${cxx_flags} -std=c++20 ${HOTQ_SOURCE_DIR}/examples/cpp/producer_worker.cc
    ${flags} ${linker_flags} -o ${WORK_DIR}/producer_worker_cpp)
run(${WORK_DIR}/producer_worker_cpp ${WORK_DIR}/wal_cpp)
run(${CXX} ${cxx_flags} -std=c++20 ${HOTQ_SOURCE_DIR}/tests/consumer/main.cc
    ${static_flags} ${linker_flags} -o ${WORK_DIR}/consumer_static)
run(${WORK_DIR}/consumer_static)
if(EXISTS ${HOTQ_SOURCE_DIR}/examples/c/producer_worker.c)
  run(${CC} ${c_flags} -std=c11 ${HOTQ_SOURCE_DIR}/examples/c/producer_worker.c
      ${flags} ${linker_flags} -o ${WORK_DIR}/producer_worker_c)
  run(${WORK_DIR}/producer_worker_c 100)  # [jobs] [wal_dir]: in memory
endif()
message("package_pkg_config: ok")
