# Object-store backends (store/): file backend unit tests, SigV4
# known-answer tests, S3 backend against moto_server.
ltx_unit_test(store_file test_store 60 ltxstore PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)

ltx_unit_test(store_sigv4 test_sigv4 60 ltxstore PkgConfig::CMOCKA)

# S3 backend against moto_server (the Python script starts moto + a fault
# proxy, uploads the fixture and runs test_store_s3 with the right env).
add_executable(test_store_s3 ${CMAKE_CURRENT_SOURCE_DIR}/test_store_s3.c)
target_link_libraries(test_store_s3 PRIVATE ltxstore PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)
add_test(NAME store_s3 COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_store_s3.py)
set_tests_properties(store_s3 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)

ltx_unit_test(store_xml test_store_xml 60 ltxstore PkgConfig::CMOCKA)

# Object versions and conditional writes (issues 10/11): the same C cases on
# the file backend (here) and on moto with a fault proxy (test_store_cond.py:
# deadlines, abort, retried wrong answers, a 30 % fault rate, lost answers).
ltx_unit_test(store_cond_file test_store_cond 60 ltxstore PkgConfig::CMOCKA Threads::Threads)
add_test(NAME store_cond_s3 COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_store_cond.py)
set_tests_properties(store_cond_s3 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)
