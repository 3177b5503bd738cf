#include "healthcheck/monitor.h"

namespace gslb::health {

// Only what names the target is part of the identity: tuning expectations, interval
// or thresholds in a reload keeps the check's state.
std::string CheckSpec::describe() const {
  switch (kind) {
    case Kind::http: return "http " + http.url + (http.host.empty() ? "" : " Host:" + http.host);
    case Kind::tcp: return "tcp " + tcp.address;
    case Kind::dns: return "dns " + dns.server + " " + dns.name + " " + dns.qtype;
  }
  return "unknown";
}

}  // namespace gslb::health
