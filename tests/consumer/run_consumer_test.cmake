# Installs the already-built hotq into WORK_DIR/prefix, then configures, builds
# and runs the consumer project against that prefix. Run with cmake -P.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "install_consumer: '${ARGV}' failed (${rc})")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${HOTQ_BINARY_DIR} --prefix ${prefix})
if(EXISTS ${prefix}/include/engine OR EXISTS ${prefix}/include/wal OR EXISTS ${prefix}/include/util)
  message(FATAL_ERROR "install_consumer: internal headers were installed")
endif()
run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
    "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}"        # same sanitizer flags as hotq's build
    "-DCMAKE_EXE_LINKER_FLAGS=${LINKER_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)
