# Object-store backends (server/store): file backend unit tests, SigV4
# known-answer tests, S3 backend against moto_server.
add_executable(test_store ${CMAKE_CURRENT_SOURCE_DIR}/test_store.c)
target_link_libraries(test_store PRIVATE ltxstore PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)
add_test(NAME store_file COMMAND test_store)
set_tests_properties(store_file PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 60)

add_executable(test_sigv4 ${CMAKE_CURRENT_SOURCE_DIR}/test_sigv4.c)
target_link_libraries(test_sigv4 PRIVATE ltxstore PkgConfig::CMOCKA)
add_test(NAME store_sigv4 COMMAND test_sigv4)
set_tests_properties(store_sigv4 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 60)

# S3 backend against moto_server (the Python script starts moto + a fault
# proxy, uploads the fixture and runs test_store_s3 with the right env).
add_executable(test_store_s3 ${CMAKE_CURRENT_SOURCE_DIR}/test_store_s3.c)
target_link_libraries(test_store_s3 PRIVATE ltxstore PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)
add_test(NAME store_s3 COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_store_s3.py)
set_tests_properties(store_s3 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)

add_executable(test_store_xml ${CMAKE_CURRENT_SOURCE_DIR}/test_store_xml.c)
target_link_libraries(test_store_xml PRIVATE ltxstore PkgConfig::CMOCKA)
add_test(NAME store_xml COMMAND test_store_xml)
set_tests_properties(store_xml PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 60)
