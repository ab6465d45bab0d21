# Writer tests (ltxctl snapshot / replicate / compact, scripts/demo.sh, deploy/).
add_executable(test_writer_core ${CMAKE_SOURCE_DIR}/tests/test_writer_core.c
                                ${CMAKE_SOURCE_DIR}/tools/writer_core.c)
target_include_directories(test_writer_core PRIVATE ${CMAKE_SOURCE_DIR}/tools)
target_link_libraries(test_writer_core PRIVATE ltxproto PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO m)
add_test(NAME writer_core COMMAND test_writer_core)
set_tests_properties(writer_core PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}")
