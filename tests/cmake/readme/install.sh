cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSEGOPS_BUILD_TESTS=OFF \
      -DSEGOPS_BUILD_EXAMPLES=OFF -DSEGOPS_BUILD_TOOLS=OFF -DSEGOPS_BUILD_BENCH=OFF
cmake --build build -j"$(nproc)"
cmake --install build   # into /usr/local; --prefix DIR for another place
