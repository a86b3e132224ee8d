# Installs the already-built hotq into WORK_DIR/prefix, checks what was
# installed, then configures, builds and runs against that prefix, with
# find_package(hotq) only:
#   * the consumer project (tests/consumer);
#   * the examples (examples/: the C++ producer/worker, and the C one when
#     examples/c/ has it), each run on a log directory of its own.
# Run with cmake -P.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
get_filename_component(examples_dir ${CONSUMER_SOURCE_DIR}/../../examples ABSOLUTE)

set(run_test_name install_consumer)
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/run_command.cmake)

run(${CMAKE_COMMAND} --install ${HOTQ_BINARY_DIR} --prefix ${prefix})

# Headers: the public ones (include/hotq/*.h) and nothing else; nothing from
# engine/, wal/ or util/.
file(GLOB_RECURSE installed_headers RELATIVE ${prefix}/include ${prefix}/include/*)
if(NOT installed_headers)
  message(FATAL_ERROR "install_consumer: no headers were installed")
endif()
foreach(h IN LISTS installed_headers)
  if(NOT h MATCHES "^hotq/[a-z_]+\\.h$")
    message(FATAL_ERROR "install_consumer: installed a header that is not public API: include/${h}")
  endif()
endforeach()
message("install_consumer: installed headers: ${installed_headers}")
# A shared libhotq (BUILD_SHARED_LIBS=ON) is found at run time through this.
file(GLOB libdirs LIST_DIRECTORIES true ${prefix}/lib ${prefix}/lib64 ${prefix}/lib/*-linux-gnu)
string(REPLACE ";" ":" library_path "${libdirs}")
set(ENV{LD_LIBRARY_PATH} "${library_path}")

# Configures and builds the project in source_dir against the prefix, with
# the same compiler and sanitizer flags as hotq's build (and any more -D
# arguments).
function(build_against_prefix source_dir build_dir)
  run(${CMAKE_COMMAND} -S ${source_dir} -B ${build_dir} -G ${GENERATOR}
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
      -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
      "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"        # same sanitizer flags as hotq's build
      "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}"
      ${ARGN})
  run(${CMAKE_COMMAND} --build ${build_dir})
endfunction()

build_against_prefix(${CONSUMER_SOURCE_DIR} ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)

# The C example gets the same flags: every flag of the presets' CMAKE_CXX_FLAGS
# (sanitizers, frame pointers, a define) means the same to the C compiler.
set(c_flags "")
if(EXISTS ${examples_dir}/c/producer_worker.c)
  set(c_flags "-DCMAKE_C_FLAGS=${CXX_FLAGS}")
endif()
build_against_prefix(${examples_dir} ${WORK_DIR}/examples ${c_flags})
run(${WORK_DIR}/examples/producer_worker_cpp ${WORK_DIR}/wal_cpp)
if(EXISTS ${examples_dir}/c/producer_worker.c)
  run(${WORK_DIR}/examples/producer_worker_c 100 ${WORK_DIR}/wal_c)  # [jobs] [wal_dir]
endif()
message("install_consumer: ok")
