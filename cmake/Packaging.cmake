# Install layout and the Debian package. docs/service.md describes the result:
#   bin/kairosd, bin/kairosctl                 (daemon/, cli/ install rules)
#   <systemd unit dir>/kairosd.service         systemd/kairosd.service, paths rewritten
#   /etc/kairos/kairos.yaml, /etc/kairos/jobs.d/   a quiet starting config (no jobs)
#   share/kairos/kairos.schema.json            for editors (yaml-language-server)
#   share/doc/kairos/*.md, examples/           docs and the demo configuration
#   share/bash-completion/completions/kairosctl   (cli/ install rule)
include_guard(GLOBAL)
include(GNUInstallDirs)

# Where systemd looks for units: systemd's own pkg-config file knows (/lib/systemd/system
# on Debian 12); without it, the usual place under the prefix.
if(NOT DEFINED KAIROS_SYSTEMD_UNITDIR)
  pkg_get_variable(_kairos_unitdir systemd systemdsystemunitdir)
  if(NOT _kairos_unitdir)
    set(_kairos_unitdir "lib/systemd/system")
  endif()
  set(KAIROS_SYSTEMD_UNITDIR "${_kairos_unitdir}" CACHE STRING
      "Directory for kairosd.service (a relative path is under the install prefix)")
endif()

# The unit and /etc/kairos depend on the prefix known only at install time.
configure_file(${CMAKE_CURRENT_LIST_DIR}/InstallService.cmake.in
               ${CMAKE_CURRENT_BINARY_DIR}/kairos-install/InstallService.cmake @ONLY)
install(SCRIPT ${CMAKE_CURRENT_BINARY_DIR}/kairos-install/InstallService.cmake)

install(FILES ${PROJECT_SOURCE_DIR}/etc/kairos.schema.json
        DESTINATION ${CMAKE_INSTALL_DATADIR}/kairos)
file(GLOB _kairos_docs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/docs/*.md)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${_kairos_docs}
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The demo configuration from etc/ fires every few seconds: documentation, not /etc.
install(FILES ${PROJECT_SOURCE_DIR}/etc/kairos.yaml ${PROJECT_SOURCE_DIR}/etc/kairos.schema.json
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/etc/jobs.d
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples FILES_MATCHING PATTERN "*.yaml")

# --- Debian package: cpack -G DEB (from a build configured with any prefix) -------------
set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "kairos")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_CONTACT "kairos maintainers <kairos@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "job scheduler daemon: cron and intervals with timeouts, retries and a run history")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "kairosd runs one-shot and periodic jobs defined in YAML (cron with time zones,\n\
fixed-rate intervals, one-shots) with timeouts, retries with backoff, overlap\n\
policies, concurrency limits and a SQLite run history. kairosctl inspects and\n\
steers it over a Unix socket. Runs as a systemd service (Type=notify).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION "admin")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# Library dependencies come from dpkg-shlibdeps (package dpkg-dev); adduser is for the
# postinst's addgroup.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
# A DT_RELR binary needs glibc's GLIBC_ABI_DT_RELR (2.36), a version that no symbol carries,
# so dpkg-shlibdeps does not see it.
if(KAIROS_HAVE_RELR)
  string(APPEND CPACK_DEBIAN_PACKAGE_DEPENDS ", libc6 (>= 2.36)")
endif()
# Packages are for /usr, whatever prefix the build was configured with; DESTDIR staging
# lets the install script write the absolute /etc and unit paths into the package.
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_INSTALL_PREFIX "/usr")
set(CPACK_SET_DESTDIR ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_CURRENT_LIST_DIR}/debian/postinst
    ${CMAKE_CURRENT_LIST_DIR}/debian/prerm
    ${CMAKE_CURRENT_LIST_DIR}/debian/postrm
    ${CMAKE_CURRENT_LIST_DIR}/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)

# --- Tests: the unit passes systemd-analyze, the install has its layout, the .deb builds.
if(KAIROS_BUILD_TESTS AND TARGET kairosd)
  set(_kairos_t ${PROJECT_SOURCE_DIR}/tests/install)
  add_test(NAME install.systemd_verify
           COMMAND ${_kairos_t}/verify_unit.sh ${PROJECT_SOURCE_DIR}/systemd/kairosd.service
                   $<TARGET_FILE:kairosd>)
  add_test(NAME install.layout
           COMMAND ${_kairos_t}/install_layout.sh ${CMAKE_BINARY_DIR} ${KAIROS_SYSTEMD_UNITDIR})
  add_test(NAME install.deb
           COMMAND ${_kairos_t}/deb_package.sh ${CMAKE_BINARY_DIR}/CPackConfig.cmake
                   ${KAIROS_SYSTEMD_UNITDIR})
  set_tests_properties(install.systemd_verify install.layout install.deb PROPERTIES
                       LABELS install TIMEOUT 120 SKIP_RETURN_CODE 77)
  # Both install from this build tree; one at a time.
  set_tests_properties(install.layout install.deb PROPERTIES RESOURCE_LOCK kairos_build_install)
endif()
