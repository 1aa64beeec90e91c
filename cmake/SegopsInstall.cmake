# Install rules, the CMake package (segops::segops), segops.pc and CPack (libsegops-dev).
# Included by the top-level CMakeLists.txt when SEGOPS_INSTALL is on (the default only
# when libsegops is the top-level project).
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SEGOPS_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/segops"
    CACHE STRING "Where segops-config.cmake is installed, relative to the prefix")
mark_as_advanced(SEGOPS_INSTALL_CMAKEDIR)

install(TARGETS segops
    EXPORT segops-targets
    ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}" COMPONENT Development)
install(FILES
        "${PROJECT_SOURCE_DIR}/include/segops/segops.h"
        "${PROJECT_SOURCE_DIR}/include/segops/segops.hpp"
    DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}/segops" COMPONENT Development)

# The library links its dependencies PRIVATE, but a static archive still exports them as
# $<LINK_ONLY:...>, so the config file finds every one of them again. The cJSON target's
# name depends on the layout found at build time (see SegopsDependencies.cmake); the config
# file recreates that name from whatever layout the consumer's machine has.
get_target_property(_segops_cjson_imported ${SEGOPS_CJSON_TARGET} IMPORTED)
if(NOT _segops_cjson_imported)
    message(STATUS "segops: installing against the parent's in-tree `${SEGOPS_CJSON_TARGET}` "
        "target; the parent must install and export it too (cJSON's own CMake does)")
endif()
install(EXPORT segops-targets
    NAMESPACE segops::
    FILE segops-targets.cmake
    DESTINATION "${SEGOPS_INSTALL_CMAKEDIR}"
    COMPONENT Development)
configure_package_config_file(
    "${CMAKE_CURRENT_LIST_DIR}/segops-config.cmake.in"
    "${PROJECT_BINARY_DIR}/segops-config.cmake"
    INSTALL_DESTINATION "${SEGOPS_INSTALL_CMAKEDIR}")
write_basic_package_version_file(
    "${PROJECT_BINARY_DIR}/segops-config-version.cmake"
    VERSION "${PROJECT_VERSION}"
    COMPATIBILITY SameMajorVersion)
install(FILES
        "${PROJECT_BINARY_DIR}/segops-config.cmake"
        "${PROJECT_BINARY_DIR}/segops-config-version.cmake"
    DESTINATION "${SEGOPS_INSTALL_CMAKEDIR}"
    COMPONENT Development)

# segops.pc is relocatable: its prefix is found from its own location (${pcfiledir}), so
# the same file works from a staging prefix, a tarball, or the Debian package.
set(_segops_pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(SEGOPS_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(SEGOPS_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
    set(SEGOPS_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
else()
    file(RELATIVE_PATH _segops_pc_up "/_p/${_segops_pc_dir}" "/_p")
    string(REGEX REPLACE "/$" "" _segops_pc_up "${_segops_pc_up}")
    set(SEGOPS_PC_PREFIX "\${pcfiledir}/${_segops_pc_up}")
    set(SEGOPS_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
    set(SEGOPS_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
set(SEGOPS_PC_LIBM "")
if(SEGOPS_LIBM)
    set(SEGOPS_PC_LIBM "-l${SEGOPS_LIBM}")
endif()
configure_file("${CMAKE_CURRENT_LIST_DIR}/segops.pc.in" "${PROJECT_BINARY_DIR}/segops.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/segops.pc"
    DESTINATION "${_segops_pc_dir}" COMPONENT Development)

install(FILES "${PROJECT_SOURCE_DIR}/LICENSE" "${PROJECT_SOURCE_DIR}/CHANGELOG.md"
    DESTINATION "${CMAKE_INSTALL_DOCDIR}" COMPONENT Development)

# CPack: `cpack -G DEB` in the build directory makes libsegops-dev_<version>_<arch>.deb.
# Only for the top-level project: a parent that vendors libsegops owns its own CPack setup.
if(PROJECT_IS_TOP_LEVEL)
    set(SEGOPS_PACKAGE_CONTACT "The libsegops authors <maintainers@segops.invalid>"
        CACHE STRING "Maintainer of the generated packages (Name <email>)")
    set(CPACK_PACKAGE_NAME "libsegops-dev")
    set(CPACK_PACKAGE_VENDOR "The libsegops authors")
    set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
    set(CPACK_PACKAGE_CONTACT "${SEGOPS_PACKAGE_CONTACT}")
    set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION} (static library and headers)")
    set(CPACK_PACKAGE_HOMEPAGE_URL "https://segops.ai")
    set(CPACK_RESOURCE_FILE_LICENSE "${PROJECT_SOURCE_DIR}/LICENSE")
    set(CPACK_PACKAGE_FILE_NAME "libsegops-dev-${PROJECT_VERSION}-${CMAKE_SYSTEM_NAME}")
    if(NOT CPACK_GENERATOR)
        set(CPACK_GENERATOR "TGZ")
    endif()
    set(CPACK_SOURCE_GENERATOR "TGZ")
    set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/out/")
    set(CPACK_DEBIAN_PACKAGE_NAME "libsegops-dev")
    set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
    set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${SEGOPS_PACKAGE_CONTACT}")
    set(CPACK_DEBIAN_PACKAGE_SECTION "libdevel")
    set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
    # The Debian synopsis is CPACK_PACKAGE_DESCRIPTION_SUMMARY; CPack indents these lines.
    set(CPACK_PACKAGE_DESCRIPTION
"libsegops sends behavioral events to the SegOps service from C and C++
programs: a background worker batches and retries deliveries, with pk_
session handshakes and HMAC user signing. This package holds the static
library, the header, the CMake package (segops::segops) and segops.pc.")
    set(CPACK_DEBIAN_PACKAGE_DEPENDS "libcurl4-openssl-dev | libcurl-dev, libssl-dev, libcjson-dev")
    set(CPACK_DEBIAN_PACKAGE_SUGGESTS "pkg-config")
    include(CPack)
endif()
