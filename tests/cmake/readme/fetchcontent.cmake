include(FetchContent)
FetchContent_Declare(segops
    GIT_REPOSITORY https://git.example.com/libsegops.git   # your mirror of libsegops
    GIT_TAG main)                                           # better: the commit id you tested
FetchContent_MakeAvailable(segops)
target_link_libraries(my_server PRIVATE segops::segops)
