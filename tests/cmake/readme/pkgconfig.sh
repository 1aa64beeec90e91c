cc -o my_server my_server.c $(pkg-config --cflags --libs segops)
c++ -std=c++17 -o my_cpp_server my_cpp_server.cpp $(pkg-config --cflags --libs segops)
