# Writer tests (ltxctl snapshot / replicate / compact, scripts/demo.sh, deploy/).
add_executable(test_writer_core ${CMAKE_SOURCE_DIR}/tests/test_writer_core.c
                                ${CMAKE_SOURCE_DIR}/tools/writer_core.c)
target_include_directories(test_writer_core PRIVATE ${CMAKE_SOURCE_DIR}/tools)
target_link_libraries(test_writer_core PRIVATE ltxproto PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO m)
add_test(NAME writer_core COMMAND test_writer_core)
set_tests_properties(writer_core PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}")

add_test(NAME writer_replicate COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_writer.py)
set_tests_properties(writer_replicate PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 180)

add_test(NAME writer_states COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_writer_states.py)
set_tests_properties(writer_states PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 120)

add_test(NAME writer_demo COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_writer_demo.py)
set_tests_properties(writer_demo PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 150)

add_test(NAME writer_deploy COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_writer_deploy.py)
set_tests_properties(writer_deploy PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 180)

add_test(NAME writer_s3 COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_writer_s3.py)
set_tests_properties(writer_s3 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 180)
