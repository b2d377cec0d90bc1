# Installation: programs, libraries, header, pkg-config file, CMake package
# and man pages. `cmake --install build --prefix DIR` lays them out as
#   DIR/bin/artstore, DIR/sbin/artstored, DIR/lib*/libartstore.{so*,a},
#   DIR/include/artstore.h, DIR/lib*/pkgconfig/artstore.pc,
#   DIR/lib*/cmake/artstore/, DIR/share/man/man{1,8}/.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS artstored RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS artstore_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS artstore artstore_static EXPORT artstoreTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES client/artstore.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

# pkg-config: prefix relative to the .pc file (see artstore.pc.in).
file(RELATIVE_PATH PC_REL_PREFIX "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
string(REGEX REPLACE "/$" "" PC_REL_PREFIX "${PC_REL_PREFIX}")
configure_file(cmake/artstore.pc.in ${CMAKE_BINARY_DIR}/artstore.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/artstore.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

set(ARTSTORE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/artstore)
install(EXPORT artstoreTargets NAMESPACE artstore::
  DESTINATION ${ARTSTORE_CMAKE_DIR})
configure_package_config_file(cmake/artstoreConfig.cmake.in
  ${CMAKE_BINARY_DIR}/artstoreConfig.cmake
  INSTALL_DESTINATION ${ARTSTORE_CMAKE_DIR})
# 0.x releases make no compatibility promise across minor versions.
write_basic_package_version_file(${CMAKE_BINARY_DIR}/artstoreConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/artstoreConfig.cmake
  ${CMAKE_BINARY_DIR}/artstoreConfigVersion.cmake
  DESTINATION ${ARTSTORE_CMAKE_DIR})

install(FILES docs/man/artstore.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES docs/man/artstored.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES deploy/artstored.conf deploy/artstored.service
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)
