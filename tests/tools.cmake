# ltxctl end to end beyond the vectors (real binary): restore progress within
# one big file on a pseudo-terminal; S3 over https:// through a TLS proxy in
# front of moto, with --cafile / AWS_CA_BUNDLE.
add_test(NAME ltxctl_progress COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_ltxctl_progress.py)
set_tests_properties(ltxctl_progress PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)
add_test(NAME ltxctl_tls COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_ltxctl_tls.py)
set_tests_properties(ltxctl_tls PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)
