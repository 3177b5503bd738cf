# Writes the compiled XDP program into a C++ array (cmake -P, called by the build),
# so that the binary carries its own program and ccache sees its bytes.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" length)
math(EXPR size "${length} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
file(WRITE "${OUTPUT}" "#include <cstddef>\n"
  "extern \"C\" const unsigned char gslb_xdp_object[] = {${bytes}};\n"
  "extern \"C\" const size_t gslb_xdp_object_size = ${size};\n")
