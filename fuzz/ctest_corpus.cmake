# Run by ctest in a fuzz build (fuzz/CMakeLists.txt, test fuzz_corpus):
#   cmake -DMAKE_CORPUS=<make_corpus> -DDIR=<dir> -DTARGETS=<a;b;c> -P ctest_corpus.cmake
# Makes a fresh seed corpus in DIR/seeds and empty DIR/new/<target>
# directories for the new inputs of the short mutation runs.
file(REMOVE_RECURSE ${DIR})
execute_process(COMMAND ${MAKE_CORPUS} ${DIR}/seeds RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "make_corpus failed (${rc})")
endif()
foreach(t IN LISTS TARGETS)
  file(MAKE_DIRECTORY ${DIR}/new/${t})
endforeach()
