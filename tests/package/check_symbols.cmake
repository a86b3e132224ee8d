# Checks the dynamic symbol table of a shared libhotq against the symbol
# policy (docs/embedding.md, "Symbols"): it exports the C API and the public
# C++ API, nothing else — no internals (hotq::engine, hotq::wal,
# Engine::Impl, ...), no standard-library instantiations or typeinfo, nothing
# of liburing or xxhash. Also the converse: everything the public headers
# declare as exported is exported (a missing line in cmake/hotq.map).
#
# The public API is read from the headers, so a new HOTQ_API declaration needs
# no change here:
#   * a class declared `class HOTQ_API Name` (or struct) in namespace N: the
#     symbols N::Name::<member>, and the typeinfo and vtable of N::Name — but
#     not the members of a class nested in it (Engine::Impl is private);
#   * a function declared `HOTQ_API ... name(` in namespace N: N::name(...)
#     (or N::name[abi:cxx11](...));
#   * a C function hotq_name( declared in a header (the C API).
#
#   cmake -DNM=nm -DLIBRARY=libhotq.so -DHEADER_DIR=include/hotq [-DEXPECT_LEAKS=a|b]
#         -P check_symbols.cmake
# Prints every exported symbol with its verdict; fails naming each offender.
cmake_minimum_required(VERSION 3.22)
foreach(var NM LIBRARY HEADER_DIR)
  if(NOT ${var})
    message(FATAL_ERROR "check_symbols: pass -D${var}=...")
  endif()
endforeach()

# Text into a list of lines. ';' and square brackets have meanings in CMake
# lists, and both occur in headers and demangled names: they travel as
# placeholders and are put back only for printing.
function(to_lines out text)
  string(REPLACE ";" "<semi>" text "${text}")
  string(REPLACE "[" "<lb>" text "${text}")
  string(REPLACE "]" "<rb>" text "${text}")
  string(REPLACE "\n" ";" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()
function(printable out text)
  string(REPLACE "<semi>" ";" text "${text}")
  string(REPLACE "<lb>" "[" text "${text}")
  string(REPLACE "<rb>" "]" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# ---------------------------------------------------------------- the public API
set(classes "")      # qualified names: hotq::Engine
set(functions "")    # qualified names: hotq::code_name
set(c_functions "")  # hotq_open
file(GLOB headers ${HEADER_DIR}/*.h)
if(NOT headers)
  message(FATAL_ERROR "check_symbols: no headers in ${HEADER_DIR}")
endif()
foreach(header IN LISTS headers)
  get_filename_component(header_name ${header} NAME)
  file(READ ${header} text)
  to_lines(lines "${text}")
  set(namespaces "")
  set(in_comment FALSE)
  foreach(line IN LISTS lines)
    # Comments and preprocessor lines declare nothing.
    if(in_comment)
      string(FIND "${line}" "*/" end)
      if(end EQUAL -1)
        continue()
      endif()
      math(EXPR end "${end} + 2")
      string(SUBSTRING "${line}" ${end} -1 line)
      set(in_comment FALSE)
    endif()
    string(REGEX REPLACE "/\\*.*\\*/" "" line "${line}")
    string(FIND "${line}" "/*" start)
    if(NOT start EQUAL -1)
      string(SUBSTRING "${line}" 0 ${start} line)
      set(in_comment TRUE)
    endif()
    # A namespace's end, in the codebase's (clang-format's) style, before the
    # comment that marks it goes.
    if(line MATCHES "^}[ \t]*//[ \t]*namespace")
      list(POP_BACK namespaces)
      continue()
    endif()
    string(REGEX REPLACE "//.*$" "" line "${line}")
    if(line MATCHES "^[ \t]*#")
      continue()
    endif()
    if(line MATCHES "^namespace ([A-Za-z_:]+) {")
      list(APPEND namespaces ${CMAKE_MATCH_1})
      continue()
    endif()
    string(JOIN "::" ns ${namespaces})

    if(line MATCHES "(class|struct)[^;(]*HOTQ_API[ \t]+([A-Za-z_][A-Za-z0-9_]*)")
      list(APPEND classes "${ns}::${CMAKE_MATCH_2}")
      set(origin_${ns}::${CMAKE_MATCH_2} ${header_name})
    elseif(line MATCHES "HOTQ_API(.*)$")
      if(CMAKE_MATCH_1 MATCHES "([A-Za-z_][A-Za-z0-9_]*)[ \t]*\\(")
        list(APPEND functions "${ns}::${CMAKE_MATCH_1}")
        set(origin_${ns}::${CMAKE_MATCH_1} ${header_name})
      endif()
    endif()
    # C API: hotq_name( — not a function-pointer type (*hotq_fn)(, not a
    # static inline helper defined in the header.
    if(NOT line MATCHES "static" AND line MATCHES "(^|[^*A-Za-z0-9_])(hotq_[A-Za-z0-9_]*)[ \t]*\\(")
      list(APPEND c_functions ${CMAKE_MATCH_2})
      set(origin_${CMAKE_MATCH_2} ${header_name})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES classes)
list(REMOVE_DUPLICATES functions)
list(REMOVE_DUPLICATES c_functions)
if(NOT classes OR NOT functions)
  message(FATAL_ERROR "check_symbols: found no HOTQ_API class or function in ${HEADER_DIR}: "
                      "the header parser no longer fits the headers")
endif()

# ---------------------------------------------------------------- the exported symbols
execute_process(COMMAND ${NM} -D --defined-only -C ${LIBRARY}
                OUTPUT_VARIABLE nm_out ERROR_VARIABLE nm_err RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "check_symbols: ${NM} -D --defined-only -C ${LIBRARY} failed (${rc}): ${nm_err}")
endif()
to_lines(nm_lines "${nm_out}")

set(accepted "")
set(offenders "")
set(found "")  # public names with at least one exported symbol
foreach(line IN LISTS nm_lines)
  if(NOT line MATCHES "^[0-9a-fA-F]+ ([A-Za-z]) (.+)$")
    continue()
  endif()
  set(type ${CMAKE_MATCH_1})
  set(sym "${CMAKE_MATCH_2}")
  if(type STREQUAL "A")
    continue()  # a version node's name (absolute), not code or data
  endif()
  string(REGEX REPLACE "@@?[A-Za-z0-9_.]+$" "" sym "${sym}")
  set(public "")
  # The entity a special symbol belongs to: "typeinfo for hotq::Clock".
  string(REGEX REPLACE
    "^(typeinfo name for |typeinfo for |vtable for |VTT for |non-virtual thunk to |virtual thunk to |guard variable for )"
    "" base "${sym}")

  if(sym MATCHES "^hotq_[A-Za-z0-9_]*$")
    if(sym IN_LIST c_functions)
      set(public ${sym})
    endif()
  else()
    foreach(c IN LISTS classes)
      if(base STREQUAL c)
        set(public ${c})
        break()
      endif()
      string(FIND "${base}" "${c}::" pos)
      if(pos EQUAL 0)
        string(LENGTH "${c}::" n)
        string(SUBSTRING "${base}" ${n} -1 member)
        # A member, not a member of a class nested in it (Engine::Impl::open_wal).
        if(NOT member MATCHES "^[A-Za-z_][A-Za-z0-9_]*::")
          set(public ${c})
          break()
        endif()
      endif()
    endforeach()
    foreach(f IN LISTS functions)
      string(FIND "${base}" "${f}" pos)
      if(pos EQUAL 0)
        string(LENGTH "${f}" n)
        string(SUBSTRING "${base}" ${n} -1 rest)
        # The parameters, maybe after an ABI tag: f[abi:cxx11](...).
        if(rest MATCHES "^(\\(|<lb>abi:[A-Za-z0-9_]+<rb>\\()")
          set(public ${f})
          break()
        endif()
      endif()
    endforeach()
  endif()

  printable(shown "${sym}")
  if(public)
    list(APPEND accepted "${sym}")
    list(APPEND found ${public})
    message("  public    ${shown}")
  else()
    if(sym MATCHES "^hotq_")
      set(kind "[c, not in a header]")
    elseif(base MATCHES "^hotq::")
      set(kind "[internal]")
    elseif(base MATCHES "(^|[ <(,])(std|__gnu_cxx|__cxxabiv1)::")
      set(kind "[std]     ")
    else()
      set(kind "[other]   ")  # a dependency's (XXH*, io_uring_*) or the toolchain's
    endif()
    list(APPEND offenders "${kind} ${sym}")
    message("  LEAK ${kind} ${shown}")
  endif()
endforeach()

set(missing "")
foreach(name IN LISTS classes functions c_functions)
  if(NOT name IN_LIST found)
    list(APPEND missing "${name} (declared in include/hotq/${origin_${name}})")
  endif()
endforeach()

list(LENGTH accepted n_accepted)
list(LENGTH offenders n_offenders)
list(LENGTH missing n_missing)
message("check_symbols: ${LIBRARY}: ${n_accepted} public symbols, ${n_offenders} not public; "
        "public API read from ${HEADER_DIR}: classes ${classes}; functions ${functions}; "
        "C functions ${c_functions}")
# The check's own test (package_symbols_can_fail): on a library linked without
# the version script it must report leaks, among them each of EXPECT_LEAKS
# ('|'-separated substrings).
if(DEFINED EXPECT_LEAKS)
  string(REPLACE "|" ";" expected "${EXPECT_LEAKS}")
  foreach(e IN LISTS expected)
    set(seen FALSE)
    foreach(o IN LISTS offenders)
      string(FIND "${o}" "${e}" pos)
      if(NOT pos EQUAL -1)
        set(seen TRUE)
        break()
      endif()
    endforeach()
    if(NOT seen)
      message(FATAL_ERROR "check_symbols: expected a leak matching '${e}' in ${LIBRARY}, "
                          "saw none: the check (or the premise of this test) is broken")
    endif()
  endforeach()
  message("check_symbols: ok: without the version script the check reports "
          "${n_offenders} leaks, including ${expected}")
  return()
endif()

if(n_offenders GREATER 0 OR n_missing GREATER 0)
  set(report "")
  foreach(o IN LISTS offenders)
    printable(o "${o}")
    string(APPEND report "\n  LEAK ${o}")
  endforeach()
  foreach(m IN LISTS missing)
    string(APPEND report "\n  MISSING ${m}: declared public, not exported (cmake/hotq.map?)")
  endforeach()
  message(FATAL_ERROR "check_symbols: ${n_offenders} exported symbols are not public API, "
                      "${n_missing} public declarations are not exported:${report}")
endif()
message("check_symbols: ok")
