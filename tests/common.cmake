# Shared helpers (common/): time text, string parsers, the database-name
# rule, big-endian access, hashing.
add_executable(test_common ${CMAKE_CURRENT_SOURCE_DIR}/test_common.c)
target_include_directories(test_common PRIVATE ${CMAKE_SOURCE_DIR}/proto)
target_link_libraries(test_common PRIVATE ltxcommon PkgConfig::CMOCKA)
add_test(NAME common_unit COMMAND test_common)
set_tests_properties(common_unit PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 60)
