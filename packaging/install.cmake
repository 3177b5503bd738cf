# What `cmake --install` puts where (FHS, relative to the prefix), and the Debian
# package CPack builds from it: `scripts/package` (see README "Install").
include(GNUInstallDirs)

set(GSLBD_DATA_DIR ${CMAKE_INSTALL_DATADIR}/gslbd)
install(FILES ${PROJECT_SOURCE_DIR}/conf/countries.csv DESTINATION ${GSLBD_DATA_DIR})
install(FILES ${PROJECT_SOURCE_DIR}/conf/prometheus/gslbd-alerts.yml ${PROJECT_SOURCE_DIR}/conf/prometheus/gslbd-dashboard.json
  DESTINATION ${GSLBD_DATA_DIR}/prometheus)
install(FILES ${PROJECT_SOURCE_DIR}/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/conf/example.yaml DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples RENAME gslbd.yaml)
install(FILES ${PROJECT_SOURCE_DIR}/systemd/gslbd-xdp.conf DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
# The example as the starting configuration, the file the unit reads. It listens on
# loopback only. A conffile in the package (dpkg keeps an operator's edits across
# upgrades); `cmake --install` never replaces an existing one either.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}/etc/gslbd/gslbd.yaml\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}/etc/gslbd/gslbd.yaml\")
  else()
    file(INSTALL \"${PROJECT_SOURCE_DIR}/conf/example.yaml\" DESTINATION /etc/gslbd RENAME gslbd.yaml)
  endif()
")

# Man pages, compressed as Debian policy wants (gzip -n: no timestamp, so the
# package is reproducible).
foreach(page gslbd.8 gslbd.yaml.5)
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/man/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
    COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/man/${page} > ${CMAKE_BINARY_DIR}/man/${page}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/man/${page} VERBATIM)
  list(APPEND man_pages ${CMAKE_BINARY_DIR}/man/${page}.gz)
  install(FILES ${CMAKE_BINARY_DIR}/man/${page}.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()
add_custom_target(man_pages ALL DEPENDS ${man_pages})

# The unit names the installed binary, so it is written at install time, when the
# prefix is the one really installed to (CPack installs with its own, /usr).
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/systemd/gslbd.service.in\" unit)
  string(REPLACE \"@SBINDIR@\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SBINDIR}\" unit \"\${unit}\")
  string(REPLACE \"@DOCDIR@\" \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_DOCDIR}\" unit \"\${unit}\")
  file(WRITE \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/gslbd.service\" \"\${unit}\")
  message(STATUS \"Installing: \$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system/gslbd.service\")
")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gslbd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "gslbd maintainers <gslbd@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "authoritative DNS server for global traffic direction")
set(CPACK_PACKAGE_DESCRIPTION "gslbd answers queries for service names with the ingress addresses of the
nearest cluster (GeoIP, EDNS Client Subnet, latency tables) among those that pass
their health checks (HTTP(S), TCP, DNS) right now.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "tor-geoipdb")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# Only the runtime: the unit tests and benchmarks install nothing, but be explicit.
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};gslbd;ALL;/")
include(CPack)
