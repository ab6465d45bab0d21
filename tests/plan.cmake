# Replica layout, restore plan (proto/layout.c, proto/plan.c) and the
# read-side ltxctl commands (inspect, verify, restore).
ltx_unit_test(layout_unit test_layout 0 ltxproto PkgConfig::CMOCKA)

ltx_unit_test(plan_unit test_plan 0 ltxproto PkgConfig::CMOCKA PkgConfig::JANSSON)

ltx_unit_test(retain_unit test_retain 0 ltxproto PkgConfig::CMOCKA)

# ltxctl inspect/verify/restore end to end (real binary, vectors, moto for S3).
add_test(NAME ltxctl_read COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/test_ltxctl.py)
set_tests_properties(ltxctl_read PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300)

# The restore engine on encoder-built replicas (lock page, shrink+grow,
# streamed vs whole loading, damage, refusals).
add_executable(test_restore ${CMAKE_CURRENT_SOURCE_DIR}/test_restore.c ${CMAKE_SOURCE_DIR}/tools/restore.c)
target_include_directories(test_restore PRIVATE ${CMAKE_SOURCE_DIR}/tools)
target_link_libraries(test_restore PRIVATE ltxstore ltxproto PkgConfig::CMOCKA)
add_test(NAME restore_unit COMMAND test_restore)
set_tests_properties(restore_unit PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}")
