# ltxhttp client VFS tests (owner: vfs). All run the real ltxpaged.
if(TARGET ltxhttp_static)
  add_executable(test_vfs_driver ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_driver.c)
  target_link_libraries(test_vfs_driver PRIVATE ltxhttp_static PkgConfig::SQLITE3 Threads::Threads)

  # Unit tests of the VFS internals (includes client-vfs/ltxhttp.c).
  add_executable(test_vfs_unit ${CMAKE_CURRENT_SOURCE_DIR}/test_vfs_unit.c)
  target_link_libraries(test_vfs_unit PRIVATE PkgConfig::CMOCKA PkgConfig::CURL PkgConfig::JANSSON PkgConfig::SQLITE3
                        Threads::Threads)
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
  set_tests_properties(vfs_driver vfs_extension vfs_live PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 300 SKIP_RETURN_CODE 77)
endif()
