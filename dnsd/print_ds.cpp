#include "dnsd/daemon.h"

#include <iostream>

#include "dnsd/config.h"
#include "dnsd/dname.h"
#include "dnssec/dnssec.h"

namespace gslb::dns {

int print_ds(const std::string& config_path) {
  try {
    const Config config = load_config(config_path);
    bool any = false;
    for (const ZoneConfig& z : config.zones) {
      if (!z.dnssec) continue;
      std::string origin;
      name_from_text(z.origin, &origin);
      std::shared_ptr<const dnssec::ZoneKeys> keys;
      try {
        keys = dnssec::ZoneKeys::load(origin, z.dnssec->keys);
      } catch (const dnssec::KeyError& e) {
        fail_at(z.dnssec->keys_pos, z.path + ".dnssec.keys", e.what());
      }
      for (const std::string& line : keys->ds_lines(3600)) std::cout << line << "\n";
      any = true;
    }
    if (!any) {
      std::cerr << config_path << ": no zone has a dnssec section\n";
      return 1;
    }
    return 0;
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
}

}  // namespace gslb::dns
