# ctest package_add_subdirectory: configures, builds and runs
# tests/package/subdir_consumer, a project that add_subdirectory's hotq's
# source tree. The library is compiled again there, unoptimised (no build
# type) because only linking and running matter here. The build directory is
# kept, so a second run is incremental. Run with cmake -P.
cmake_minimum_required(VERSION 3.22)
set(run_test_name package_add_subdirectory)
include(${CMAKE_CURRENT_LIST_DIR}/../cmake/run_command.cmake)

run(${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${WORK_DIR} -G ${GENERATOR}
    -DHOTQ_SOURCE_DIR=${HOTQ_SOURCE_DIR} -DCMAKE_BUILD_TYPE=
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DCMAKE_C_COMPILER=${C_COMPILER})
run(${CMAKE_COMMAND} --build ${WORK_DIR})
run(${WORK_DIR}/consumer)
message("package_add_subdirectory: ok")
