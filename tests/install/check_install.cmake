# Run by ctest: installs the build tree and builds tests/install/consumer against it.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
foreach(f include/fling_producer.h include/fling_worker.h include/fling_error.h include/fling_api.h
          lib/libfling.so lib/pkgconfig/fling.pc lib/pkgconfig/fling-producer.pc
          lib/pkgconfig/fling-worker.pc lib/cmake/fling/flingConfig.cmake)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# One library: the producer and the worker share libfling (and its state).
file(GLOB others ${prefix}/lib/libfling_*)
if(others)
  message(FATAL_ERROR "installed beside libfling: ${others}")
endif()
# 1. find_package(fling) + fling::producer / fling::worker / fling::fling
# A sanitized fling needs a sanitized consumer (the ASan runtime must come first).
run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/consumer-build -DCMAKE_PREFIX_PATH=${prefix}
    "-DCMAKE_C_FLAGS=${EXTRA_FLAGS}" "-DCMAKE_EXE_LINKER_FLAGS=${EXTRA_FLAGS}")
run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer-build)
run(${WORK_DIR}/consumer-build/consumer)
run(${WORK_DIR}/consumer-build/consumer_both)
run(${WORK_DIR}/consumer-build/consumer_fling)
# 2. pkg-config: each of the three names builds its program against libfling
set(ENV{PKG_CONFIG_PATH} ${prefix}/lib/pkgconfig)
separate_arguments(extra UNIX_COMMAND "${EXTRA_FLAGS}")
foreach(pair fling-producer|consumer fling-worker|consumer_worker fling|consumer_both)
  string(REPLACE "|" ";" pair "${pair}")
  list(GET pair 0 package)
  list(GET pair 1 program)
  execute_process(COMMAND pkg-config --cflags --libs ${package} OUTPUT_VARIABLE flags
    RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0 OR NOT flags MATCHES "-lfling( |$)")
    message(FATAL_ERROR "pkg-config ${package} failed or links no libfling: ${flags}")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  run(cc ${extra} ${SOURCE_DIR}/${program}.c ${flags} -Wl,-rpath,${prefix}/lib
      -o ${WORK_DIR}/${program}-pc)
  run(${WORK_DIR}/${program}-pc)
endforeach()
message(STATUS "install, find_package(fling) and pkg-config all work")
