# How a folder of Python tests becomes CTest tests: one place for the name,
# label, timeout, serial flag, skip code and environment, so every folder
# (tests/integration, tests/fault, ...) declares only what differs.
#
#   fling_add_python_tests(LABEL <label> [DIR <dir>] [TIMEOUT <secs>]
#     [TIMEOUTS <name>=<secs>...] [RUN_SERIAL] [SKIP_RETURN_CODE <code>]
#     [ENV <VAR=value>...] [RUNNER <command>...] [FIXTURES_REQUIRED <fixture>...])
#
# makes one test `<label>.<name>` per `<dir>/test_<name>.py` (DIR defaults to
# the calling folder; TIMEOUT to 300 s). TIMEOUTS gives single tests their own
# timeout; naming a test that has no script is an error (a typo or a script
# renamed). The script runs as `<runner> <script>` (RUNNER defaults to the
# Python found here).
#
#   fling_add_python_test(NAME <test> LABEL <label> SCRIPT <file> [ARGS <arg>...]
#     [TIMEOUT <secs>] [RUN_SERIAL] [SKIP_RETURN_CODE <code>] [ENV <VAR=value>...]
#     [NO_HANDLERS] [RUNNER <command>...] [FIXTURES_REQUIRED <fixture>...]
#     [RESOURCE_LOCK <lock>...])
#
# makes one test, for a script that runs several cases or runs again with
# other settings.
#
# Every test gets the environment the harnesses read: FLING_BIN_DIR (the
# programs), FLING_TEST_HANDLERS (the test handler module; not with
# NO_HANDLERS) and FLING_TEST_TMP (scratch directories under the build), then
# ENV's entries. SKIP_RETURN_CODE is the exit code that means "cannot run
# here" (77 by convention: tests/harness/fling_harness.py `skip`); RUN_SERIAL
# keeps CTest from running anything beside the test.
find_package(Python3 REQUIRED COMPONENTS Interpreter)

set(FLING_TEST_TMP ${CMAKE_BINARY_DIR}/test-tmp)
file(MAKE_DIRECTORY ${FLING_TEST_TMP})

function(fling_add_python_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "RUN_SERIAL;NO_HANDLERS"
    "NAME;LABEL;SCRIPT;TIMEOUT;SKIP_RETURN_CODE"
    "ARGS;ENV;RUNNER;FIXTURES_REQUIRED;RESOURCE_LOCK")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_NAME OR NOT arg_LABEL OR NOT arg_SCRIPT)
    message(FATAL_ERROR
      "fling_add_python_test: NAME, LABEL and SCRIPT needed; unknown: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  if(NOT arg_RUNNER)
    set(arg_RUNNER ${Python3_EXECUTABLE})
  endif()
  set(environment "FLING_BIN_DIR=${CMAKE_BINARY_DIR}/bin")
  if(NOT arg_NO_HANDLERS)
    list(APPEND environment "FLING_TEST_HANDLERS=$<TARGET_FILE:fling_test_handlers>")
  endif()
  list(APPEND environment "FLING_TEST_TMP=${FLING_TEST_TMP}" ${arg_ENV})

  add_test(NAME ${arg_NAME} COMMAND ${arg_RUNNER} ${arg_SCRIPT} ${arg_ARGS})
  set_tests_properties(${arg_NAME} PROPERTIES
    LABELS ${arg_LABEL} TIMEOUT ${arg_TIMEOUT} ENVIRONMENT "${environment}")
  if(arg_RUN_SERIAL)
    set_tests_properties(${arg_NAME} PROPERTIES RUN_SERIAL TRUE)
  endif()
  if(arg_SKIP_RETURN_CODE)
    set_tests_properties(${arg_NAME} PROPERTIES SKIP_RETURN_CODE ${arg_SKIP_RETURN_CODE})
  endif()
  if(arg_FIXTURES_REQUIRED)
    set_tests_properties(${arg_NAME} PROPERTIES FIXTURES_REQUIRED "${arg_FIXTURES_REQUIRED}")
  endif()
  if(arg_RESOURCE_LOCK)
    set_tests_properties(${arg_NAME} PROPERTIES RESOURCE_LOCK "${arg_RESOURCE_LOCK}")
  endif()
endfunction()

function(fling_add_python_tests)
  cmake_parse_arguments(PARSE_ARGV 0 arg "RUN_SERIAL" "LABEL;DIR;TIMEOUT;SKIP_RETURN_CODE"
    "TIMEOUTS;ENV;RUNNER;FIXTURES_REQUIRED")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_LABEL)
    message(FATAL_ERROR
      "fling_add_python_tests: LABEL needed; unknown: ${arg_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT arg_DIR)
    set(arg_DIR ${CMAKE_CURRENT_SOURCE_DIR})
  endif()
  if(NOT arg_TIMEOUT)
    set(arg_TIMEOUT 300)
  endif()
  # Pass the switches on only when given (an empty value would read as absent).
  set(common LABEL ${arg_LABEL})
  foreach(option SKIP_RETURN_CODE ENV RUNNER FIXTURES_REQUIRED)
    if(arg_${option})
      list(APPEND common ${option} ${arg_${option}})
    endif()
  endforeach()
  if(arg_RUN_SERIAL)
    list(APPEND common RUN_SERIAL)
  endif()

  file(GLOB scripts CONFIGURE_DEPENDS ${arg_DIR}/test_*.py)
  set(names)
  foreach(script ${scripts})
    get_filename_component(name ${script} NAME_WE)
    string(REGEX REPLACE "^test_" "" name ${name})
    list(APPEND names ${name})
    set(timeout ${arg_TIMEOUT})
    foreach(pair ${arg_TIMEOUTS})
      if(pair MATCHES "^${name}=([0-9]+)$")
        set(timeout ${CMAKE_MATCH_1})
      endif()
    endforeach()
    fling_add_python_test(NAME ${arg_LABEL}.${name} SCRIPT ${script} TIMEOUT ${timeout}
      ${common})
  endforeach()
  foreach(pair ${arg_TIMEOUTS})
    if(NOT pair MATCHES "^([A-Za-z0-9_]+)=[0-9]+$")
      message(FATAL_ERROR "fling_add_python_tests(${arg_LABEL}): TIMEOUTS wants name=seconds, not '${pair}'")
    endif()
    if(NOT CMAKE_MATCH_1 IN_LIST names)
      message(FATAL_ERROR
        "fling_add_python_tests(${arg_LABEL}): a timeout for '${CMAKE_MATCH_1}', but there is no ${arg_DIR}/test_${CMAKE_MATCH_1}.py")
    endif()
  endforeach()
endfunction()
