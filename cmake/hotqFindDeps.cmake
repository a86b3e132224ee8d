# Finds hotq's system dependencies (Debian packages) and defines imported
# targets hotq::dep_uring and hotq::dep_xxhash. Installed with the package, so
# a consumer of the static library finds the same libraries the same way.
# Each failure names the Debian package that provides what is missing.
include(FindPackageHandleStandardArgs)

function(_hotq_find_dep target header lib package)
  if(TARGET ${target})
    return()
  endif()
  string(MAKE_C_IDENTIFIER "${target}" id)
  find_path(${id}_INCLUDE_DIR NAMES ${header})
  find_library(${id}_LIBRARY NAMES ${lib})
  if(NOT ${id}_INCLUDE_DIR OR NOT ${id}_LIBRARY)
    message(FATAL_ERROR
      "hotq: ${header} / lib${lib} not found. "
      "Install the Debian package '${package}' (apt-get install ${package}), "
      "or run tools/setup.sh which installs every dependency.")
  endif()
  add_library(${target} UNKNOWN IMPORTED)
  set_target_properties(${target} PROPERTIES
    IMPORTED_LOCATION "${${id}_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${${id}_INCLUDE_DIR}")
endfunction()

_hotq_find_dep(hotq::dep_uring liburing.h uring liburing-dev)
_hotq_find_dep(hotq::dep_xxhash xxhash.h xxhash libxxhash-dev)
