# ltxhttp client VFS tests (owner: vfs). All run the real ltxpaged.
if(TARGET ltxhttp_static)
  add_executable(test_vfs_driver ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_driver.c)
  target_link_libraries(test_vfs_driver PRIVATE ltxhttp_static PkgConfig::SQLITE3 Threads::Threads)

  # Unit tests of the VFS internals (the lh_* modules of ltxhttp_static).
  add_executable(test_vfs_unit ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_unit.c)
  target_link_libraries(test_vfs_unit PRIVATE ltxhttp_static PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON
                        PkgConfig::SQLITE3 Threads::Threads)
  add_test(NAME vfs_unit COMMAND test_vfs_unit)
  set_tests_properties(vfs_unit PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}")
endif()
# The tests need the real server; they appear once server/main.c builds ltxpaged.
if(TARGET ltxhttp_static AND TARGET ltxpaged)
  # C driver (runs in the ASan build too: LSan checks leaks there).
  add_test(NAME vfs_driver COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_driver.py)
  # Extension loading in the sqlite3 CLI and /usr/bin/python3 (skipped under ASan).
  add_test(NAME vfs_extension COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs.py)
  add_test(NAME vfs_live COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_live.py)
  # Strict client: Ltx-Txid checked, no empty database while indexing, time 0.
  add_test(NAME vfs_trust COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_trust.py)
  # Two servers, a live writer, the preferred server killed and restarted.
  add_test(NAME vfs_failover COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_failover.py)
  # https:// with a CA file, through a TLS-terminating proxy.
  add_test(NAME vfs_tls COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_tls.py)
  # One-round-trip open: btree= pages, 2 requests per lookup, no libcurl for http://.
  add_test(NAME vfs_cold COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_cold.py)
  # Two connections sharing one watcher: neither pins the open answer while its first answer is on its way.
  add_test(NAME vfs_watch COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_watch.py)
  set_tests_properties(vfs_driver vfs_extension vfs_live vfs_trust vfs_failover vfs_tls vfs_cold vfs_watch PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300 SKIP_RETURN_CODE 77)
  # better-sqlite3 from npm (installed at test time) with ltxhttp as the default VFS.
  add_test(NAME vfs_node COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_node.py)
  set_tests_properties(vfs_node PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 1200 SKIP_RETURN_CODE 77)
endif()
if(TARGET ltxhttp_static AND TARGET ltxpaged)
  add_executable(test_vfs_write_driver ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_write_driver.c)
  target_link_libraries(test_vfs_write_driver PRIVATE ltxhttp_static PkgConfig::SQLITE3 Threads::Threads)
  add_test(NAME vfs_write_driver COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_write_driver.py)
  add_test(NAME vfs_write_file COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_write.py file)
  add_test(NAME vfs_write_s3 COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_write.py s3)
  set_tests_properties(vfs_write_driver vfs_write_file vfs_write_s3 PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
