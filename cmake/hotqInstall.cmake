# Install rules: public headers, the library, and a CMake package so that
# find_package(hotq CONFIG) works. Nothing from engine/, wal/ or util/ is
# installed.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/hotq
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h")
install(TARGETS hotq EXPORT hotqTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(HOTQ_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/hotq)
install(EXPORT hotqTargets NAMESPACE hotq:: DESTINATION ${HOTQ_CMAKE_DIR})
configure_package_config_file(
  ${PROJECT_SOURCE_DIR}/cmake/hotqConfig.cmake.in
  ${PROJECT_BINARY_DIR}/hotqConfig.cmake
  INSTALL_DESTINATION ${HOTQ_CMAKE_DIR})
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/hotqConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/hotqConfig.cmake
  ${PROJECT_BINARY_DIR}/hotqConfigVersion.cmake
  ${PROJECT_SOURCE_DIR}/cmake/hotqFindDeps.cmake
  DESTINATION ${HOTQ_CMAKE_DIR})
