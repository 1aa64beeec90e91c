# Compiles one C++ source with -fsyntax-only and checks the outcome:
#
#   cmake -DCXX=<compiler> -DSOURCE=<file> -DFLAGS="<flags>" [-DEXPECT=<regex>]
#         [-DMAX_ERRORS=<n>] -P compile_check.cmake
#
# Without EXPECT the compile must succeed (a control). With EXPECT it must fail, and its
# diagnostics must match EXPECT: a snippet that fails for another reason (a typo, a
# missing include) fails the test instead of passing it. MAX_ERRORS bounds the number of
# errors reported (the C++17 check: one clear #error, not dozens).
foreach(var CXX SOURCE FLAGS)
    if(NOT DEFINED ${var})
        message(FATAL_ERROR "compile_check.cmake: ${var} is not set")
    endif()
endforeach()
separate_arguments(flags UNIX_COMMAND "${FLAGS}")
# English diagnostics with ASCII quotes, whatever the caller's locale.
set(ENV{LC_ALL} C)
execute_process(
    COMMAND ${CXX} ${flags} -fsyntax-only ${SOURCE}
    RESULT_VARIABLE result
    OUTPUT_VARIABLE output
    ERROR_VARIABLE output)
if(NOT DEFINED EXPECT)
    if(NOT result EQUAL 0)
        message(FATAL_ERROR "expected to compile, but it failed (${result}):\n${output}")
    endif()
    message(STATUS "compiled cleanly, as expected")
    return()
endif()
if(result EQUAL 0)
    message(FATAL_ERROR "expected a compile error matching '${EXPECT}', but it compiled:\n${output}")
endif()
if(NOT output MATCHES "${EXPECT}")
    message(FATAL_ERROR "failed to compile, but not with '${EXPECT}':\n${output}")
endif()
if(DEFINED MAX_ERRORS)
    string(REGEX MATCHALL ": (fatal )?error:" errors "${output}")
    list(LENGTH errors count)
    if(count GREATER MAX_ERRORS)
        message(FATAL_ERROR "${count} errors, expected at most ${MAX_ERRORS}:\n${output}")
    endif()
endif()
message(STATUS "failed to compile, as expected: '${EXPECT}' matched")
