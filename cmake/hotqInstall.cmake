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

# pkg-config: hotq.pc, for builds that do not use CMake (make, meson, cgo,
# Rust's pkg-config crate). Relocatable: the prefix is found from the .pc
# file's own directory (${pcfiledir}), so it stays right after
# `cmake --install --prefix DIR` or after moving the tree; only an absolute
# CMAKE_INSTALL_LIBDIR / INCLUDEDIR pins it.
#
# liburing and xxhash are linked privately. A static libhotq needs them, and
# the C++ runtime, on every link line, so for the static build (the default)
# they are in Requires/Libs: plain `pkg-config --libs hotq` links, as cgo and
# most build systems never pass --static. For a shared libhotq they are in
# Requires.private/Libs.private, used only by `pkg-config --static`.
set(_hotq_pc_deps "liburing libxxhash")
set(_hotq_pc_runtime "-lstdc++ -lm -pthread")
if(HOTQ_LIBRARY_TYPE STREQUAL "SHARED_LIBRARY")
  set(HOTQ_PC_REQUIRES "Requires.private: ${_hotq_pc_deps}")
  set(HOTQ_PC_LIBS "-L\${libdir} -lhotq")
  set(HOTQ_PC_LIBS_PRIVATE "Libs.private: ${_hotq_pc_runtime}")
else()
  set(HOTQ_PC_REQUIRES "Requires: ${_hotq_pc_deps}")
  set(HOTQ_PC_LIBS "-L\${libdir} -lhotq ${_hotq_pc_runtime}")
  set(HOTQ_PC_LIBS_PRIVATE "")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(HOTQ_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(HOTQ_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(HOTQ_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
  # From <prefix>/<libdir>/pkgconfig back up to <prefix>: "../.." for "lib".
  file(RELATIVE_PATH _hotq_pc_up "/p/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/p")
  string(REGEX REPLACE "/$" "" _hotq_pc_up "${_hotq_pc_up}")
  set(HOTQ_PC_PREFIX "\${pcfiledir}/${_hotq_pc_up}")
  set(HOTQ_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
  set(HOTQ_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/hotq.pc.in ${PROJECT_BINARY_DIR}/hotq.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/hotq.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
