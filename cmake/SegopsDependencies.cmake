# Finds libsegops' dependencies, reusing any target the parent project already has.
include(GNUInstallDirs)

if(NOT TARGET Threads::Threads)
    set(THREADS_PREFER_PTHREAD_FLAG ON)
    find_package(Threads REQUIRED)
endif()

# The JSON number writer calls nearbyint(), which glibc keeps in libm: a C program
# linking the static archive needs -lm after it (C++ drivers add it themselves).
include(CheckLibraryExists)
check_library_exists(m nearbyint "" SEGOPS_HAVE_LIBM)
set(SEGOPS_LIBM "")
if(SEGOPS_HAVE_LIBM)
    set(SEGOPS_LIBM m)
endif()

if(NOT TARGET CURL::libcurl)
    find_package(CURL REQUIRED)
endif()

if(NOT TARGET OpenSSL::Crypto)
    find_package(OpenSSL 1.1.1 REQUIRED COMPONENTS Crypto)
endif()

# cJSON comes in three layouts: a target the parent built from source (cJSON's own
# CMake names it `cjson`), the installed CMake package, or only pkg-config.
# SEGOPS_CJSON_TARGET names what to link; the code includes "cJSON.h".
if(TARGET cjson)
    set(SEGOPS_CJSON_TARGET cjson)
else()
    find_package(cJSON CONFIG QUIET)
    if(TARGET cjson)
        set(SEGOPS_CJSON_TARGET cjson)
    else()
        find_package(PkgConfig REQUIRED)
        pkg_check_modules(SEGOPS_PC_CJSON REQUIRED IMPORTED_TARGET GLOBAL libcjson)
        set(SEGOPS_CJSON_TARGET PkgConfig::SEGOPS_PC_CJSON)
    endif()
endif()
# Packaged cJSON keeps its header in <prefix>/include/cjson/; add that directory.
find_path(SEGOPS_CJSON_INCLUDE_DIR cJSON.h PATH_SUFFIXES cjson)
