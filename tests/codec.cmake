# LTX codec tests (helper "codec"): unit tests against the reference vectors,
# and a brief libFuzzer run of the decoders.
ltx_unit_test(codec test_codec 300 ltxproto PkgConfig::CMOCKA PkgConfig::JANSSON PkgConfig::CRYPTO Threads::Threads)

add_test(NAME fuzz_decode_brief
         COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run_fuzz.sh 15)
set_tests_properties(fuzz_decode_brief PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 240
                     SKIP_RETURN_CODE 77)

# The streaming verifier (proto/verify.c) against the whole-buffer decoder,
# ltx_crc64_combine, ltx_tail_parse.
ltx_unit_test(codec_verify test_verify 300 ltxproto PkgConfig::CMOCKA)
