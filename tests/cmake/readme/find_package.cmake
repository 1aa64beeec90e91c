find_package(segops CONFIG REQUIRED)
target_link_libraries(my_server PRIVATE segops::segops)
