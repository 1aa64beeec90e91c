add_subdirectory(libsegops)                 # a copy or a git submodule of this repository
target_link_libraries(my_server PRIVATE segops::segops)
