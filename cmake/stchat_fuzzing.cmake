# libFuzzer targets, defined once beside their module (chat/fuzz, ingest/fuzz) and used twice:
#   - in the fuzz build (STCHAT_FUZZ=ON, clang, build-fuzz/): each is a libFuzzer executable with
#     AddressSanitizer and UndefinedBehaviorSanitizer (scripts/lib.sh: stchat_build_fuzzers);
#   - in the test build (STCHAT_TESTS=ON): each is a CTest entry that runs that executable on its
#     seed corpus for STCHAT_FUZZ_SECONDS and fails on any crash or sanitizer report.
set(STCHAT_FUZZ_SECONDS 20 CACHE STRING "How long each fuzz target runs in the tests")
set(STCHAT_FUZZ_DIR ${PROJECT_SOURCE_DIR}/build-fuzz CACHE PATH "The fuzz build the tests run")
if(STCHAT_FUZZ)
  add_custom_target(stchat_fuzzers)
endif()

# stchat_add_fuzzer(name source LIBS lib...): the seed corpus is corpus/<name>/ beside the source.
function(stchat_add_fuzzer name source)
  cmake_parse_arguments(F "" "" "LIBS" ${ARGN})
  if(STCHAT_FUZZ)
    add_executable(${name} ${source})
    target_link_libraries(${name} PRIVATE ${F_LIBS})
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_dependencies(stchat_fuzzers ${name})
  elseif(STCHAT_TESTS)
    file(RELATIVE_PATH rel ${CMAKE_BINARY_DIR} ${CMAKE_CURRENT_BINARY_DIR})
    add_test(NAME ${name}
             COMMAND ${PROJECT_SOURCE_DIR}/scripts/run_fuzzer.sh ${STCHAT_FUZZ_DIR}/${rel}/${name}
                     ${CMAKE_CURRENT_SOURCE_DIR}/corpus/${name} ${STCHAT_FUZZ_SECONDS})
    set_tests_properties(${name} PROPERTIES TIMEOUT 300 LABELS fuzz)
  endif()
endfunction()
