# run(<command> [args...]): runs a command from a cmake -P test script and
# stops the script with a message naming the test, the command and its exit
# status when it fails. Set run_test_name before calling.
# Included by tests/consumer/run_consumer_test.cmake and
# tests/package/run_*_test.cmake.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${run_test_name}: '${ARGV}' failed (${rc})")
  endif()
endfunction()
