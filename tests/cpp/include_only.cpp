// The header alone: compiled at -std=c++11 and c++14 it must stop at one clear
// "segops.hpp needs C++17"; at -std=c++17 it must compile cleanly.
#include <segops/segops.hpp>
