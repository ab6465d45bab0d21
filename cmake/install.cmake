# install.cmake - `cmake --install build [--prefix P]` (included from the
# top-level CMakeLists.txt after the targets exist).
#
#   P/bin/ltxpaged, P/bin/ltxctl           the server and the tool
#   P/lib…/libltxhttp.so                   the client extension (GNUInstallDirs libdir)
#   P/share/man/man8/ltxpaged.8            man pages (written by hand, man/)
#   P/share/man/man1/ltxctl.1
#   P/lib/systemd/system/ltxpaged.service  the unit, ExecStart= pointing at P/bin/ltxpaged
#   P/share/doc/ltxhttp/                   README.md, LICENSE, ltxpaged.env.example
#
# ltxpaged goes to bin (not sbin) so the default prefix gives the
# /usr/local/bin/ltxpaged that deploy/ltxpaged.service, the container and
# deploy/README.md name. DESTDIR works as usual (DESTDIR=/stage cmake --install …).
include(GNUInstallDirs)

set(LTXHTTP_SYSTEMD_UNITDIR "lib/systemd/system" CACHE STRING
    "Where ltxpaged.service is installed: relative to the install prefix, or absolute")

if(TARGET ltxpaged)
  install(TARGETS ltxpaged RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET ltxctl)
  install(TARGETS ltxctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endif()
if(TARGET ltxhttp)
  install(TARGETS ltxhttp LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endif()

install(FILES ${CMAKE_SOURCE_DIR}/man/ltxctl.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${CMAKE_SOURCE_DIR}/man/ltxpaged.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/LICENSE
              ${CMAKE_SOURCE_DIR}/deploy/ltxpaged.env.example
        DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The unit names /usr/local/bin/ltxpaged; the installed copy names the binary
# where this install put it. The prefix is only known at install time
# (--prefix overrides the configured one), so the copy is made then.
if(TARGET ltxpaged)
  install(CODE "
    set(_ltx_unit_src \"${CMAKE_SOURCE_DIR}/deploy/ltxpaged.service\")
    set(_ltx_unit_tmp \"${CMAKE_BINARY_DIR}/ltxpaged.service.install\")
    set(_ltx_bindir \"${CMAKE_INSTALL_BINDIR}\")
    set(_ltx_unitdir \"${LTXHTTP_SYSTEMD_UNITDIR}\")
  ")
  install(CODE [[
    if(IS_ABSOLUTE "${_ltx_bindir}")
      set(_ltx_exe "${_ltx_bindir}/ltxpaged")
    else()
      set(_ltx_exe "${CMAKE_INSTALL_PREFIX}/${_ltx_bindir}/ltxpaged")
    endif()
    if(NOT IS_ABSOLUTE "${_ltx_unitdir}")
      set(_ltx_unitdir "${CMAKE_INSTALL_PREFIX}/${_ltx_unitdir}")
    endif()
    file(READ "${_ltx_unit_src}" _ltx_unit)
    string(FIND "${_ltx_unit}" "ExecStart=/usr/local/bin/ltxpaged" _ltx_at)
    if(_ltx_at LESS 0)
      message(FATAL_ERROR "deploy/ltxpaged.service has no ExecStart=/usr/local/bin/ltxpaged line to rewrite")
    endif()
    string(REPLACE "ExecStart=/usr/local/bin/ltxpaged" "ExecStart=${_ltx_exe}" _ltx_unit "${_ltx_unit}")
    file(WRITE "${_ltx_unit_tmp}/ltxpaged.service" "${_ltx_unit}")
    file(INSTALL DESTINATION "${_ltx_unitdir}" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES "${_ltx_unit_tmp}/ltxpaged.service")
  ]])
endif()
