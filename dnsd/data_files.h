// Where gslbd finds the data files it ships (the countries table), so that an
// installed binary uses its own copy wherever the package or `cmake --install`
// put it, and a binary in the build tree uses the source tree's.
#pragma once

#include <string>

namespace gslb::dns {

// <directory of the running executable>/../share/gslbd/countries.csv when that
// file exists (/usr/sbin/gslbd -> /usr/share/gslbd/countries.csv), else the path
// compiled in as GSLBD_COUNTRIES_FILE.
std::string default_countries_file();

}  // namespace gslb::dns
