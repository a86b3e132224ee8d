# The symbol policy of a shared libhotq (docs/embedding.md, "Symbols"): it
# exports the C API and the public hotq:: C++ API only.
#
#  * Compiling: hidden visibility by default (CXX_VISIBILITY_PRESET hidden,
#    VISIBILITY_INLINES_HIDDEN on the hotq target); HOTQ_API marks what is
#    public.
#  * Linking: the version script cmake/hotq.map makes everything else local,
#    notably the standard-library template instantiations and typeinfo that
#    the compiler emits with default visibility; --exclude-libs,ALL keeps the
#    symbols of any static archive linked in (liburing, xxhash when only their
#    .a is installed) from being re-exported.
#
# ctest package_symbols (tests/package/) checks the result with nm -D.

set(HOTQ_VERSION_SCRIPT ${CMAKE_CURRENT_LIST_DIR}/hotq.map)

# hotq_limit_exports(target): applies the link half of the policy to a shared
# library target. A no-op where the linker is not an ELF one (the policy is
# specified for Linux; other platforms keep the compiler's visibility only).
function(hotq_limit_exports target)
  if(APPLE OR WIN32)
    return()
  endif()
  target_link_options(${target} PRIVATE
    "LINKER:--version-script=${HOTQ_VERSION_SCRIPT}"
    "LINKER:--exclude-libs,ALL")
  # Relink when the exported list changes.
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${HOTQ_VERSION_SCRIPT})
endfunction()
