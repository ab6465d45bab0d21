# Deploy tier and packaging (tests/test_deploy_*.py):
#   deploy_nginx      deploy/nginx-cache.conf with the real nginx in front of
#                     the real ltxpaged, driven with curl
#   deploy_install    cmake --install (cmake/install.cmake) into a temporary
#                     prefix; the installed binaries, extension, unit, man pages
#   deploy_man        man/*.{1,8} render without warnings, name every flag
#   deploy_container  deploy/Containerfile's HEALTHCHECK and install layout
#                     (no container engine needed)
foreach(t nginx install man container)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/test_deploy_${t}.py)
    add_test(NAME deploy_${t} COMMAND python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_deploy_${t}.py)
    set_tests_properties(deploy_${t} PROPERTIES ENVIRONMENT "${LTXHTTP_TEST_ENV}" TIMEOUT 120)
  endif()
endforeach()
# Both install into temporary prefixes but share build/install_manifest.txt.
if(TEST deploy_install AND TEST deploy_container)
  set_tests_properties(deploy_install deploy_container PROPERTIES RESOURCE_LOCK ltxhttp_install_manifest)
endif()
