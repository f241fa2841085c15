# Test helpers shared by every module's tests/ folder.
# stchat_add_test(name source... LIBS lib...): one Boost.Test executable, one CTest entry.
function(stchat_add_test name)
  cmake_parse_arguments(T "" "" "LIBS;PROPERTIES" ${ARGN})
  add_executable(${name} ${T_UNPARSED_ARGUMENTS})
  target_compile_definitions(${name} PRIVATE BOOST_TEST_DYN_LINK)
  target_link_libraries(${name} PRIVATE Boost::unit_test_framework stchat_test_support ${T_LIBS})
  add_test(NAME ${name} COMMAND ${name} --log_level=test_suite --color_output=false)
  if(T_PROPERTIES)
    set_tests_properties(${name} PROPERTIES ${T_PROPERTIES})
  endif()
endfunction()

