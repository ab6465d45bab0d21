# LTX codec tests (helper "codec"): unit tests against the reference vectors,
# and a brief libFuzzer run of the decoders.
add_executable(test_codec ${CMAKE_CURRENT_SOURCE_DIR}/test_codec.c)
target_link_libraries(test_codec PRIVATE ltxproto PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)
add_test(NAME codec COMMAND test_codec)
set_tests_properties(codec PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)

add_test(NAME fuzz_decode_brief
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzz.sh 15)
set_tests_properties(fuzz_decode_brief PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 240
                     SKIP_RETURN_CODE 77)
