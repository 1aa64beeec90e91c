# Writes the first ```cpp block after README.md's "## C++" heading to OUTPUT, so that
# readme_cpp.cpp compiles it exactly as the README shows it.
#   cmake -DREADME=<README.md> -DOUTPUT=<file> -P readme_block.cmake
file(READ "${README}" text)
string(FIND "${text}" "\n## C++\n" at)
if(at EQUAL -1)
    message(FATAL_ERROR "README.md has no '## C++' section")
endif()
string(SUBSTRING "${text}" ${at} -1 text)
string(FIND "${text}" "\n```cpp\n" start)
if(start EQUAL -1)
    message(FATAL_ERROR "the '## C++' section has no ```cpp block")
endif()
math(EXPR start "${start} + 8")
string(SUBSTRING "${text}" ${start} -1 text)
string(FIND "${text}" "\n```" end)
string(SUBSTRING "${text}" 0 ${end} block)
file(WRITE "${OUTPUT}.tmp" "${block}\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
