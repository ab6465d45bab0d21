# ltxpaged: unit tests of the page index and cache (cmocka), integration
# tests that run the real binary on loopback (Python + curl).
if(TARGET ltxserver)
  foreach(t cache vindex)
    add_executable(test_server_${t} ${CMAKE_CURRENT_SOURCE_DIR}/test_server_${t}.c)
    target_link_libraries(test_server_${t} PRIVATE ltxserver PkgConfig::CMOCKA)
    add_test(NAME server_unit_${t} COMMAND test_server_${t})
    set_tests_properties(server_unit_${t} PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 60)
  endforeach()
endif()
