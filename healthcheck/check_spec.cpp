#include "healthcheck/monitor.h"
#include "healthcheck/probe.h"

namespace gslb::health {

// Only what names the target is part of the identity: tuning expectations, interval
// or thresholds in a reload keeps the check's state.
std::string CheckSpec::describe() const {
  switch (kind) {
    case Kind::http: return "http " + http.url + (http.host.empty() ? "" : " Host:" + http.host);
    case Kind::tcp: return "tcp " + tcp.address;
    case Kind::dns: return "dns " + dns.server + " " + dns.name + " " + qtype_name(dns.qtype);
  }
  return "unknown";
}

std::vector<std::string> check_names(const std::vector<CheckSpec>& checks) {
  unsigned per_kind[3] = {0, 0, 0};
  std::vector<std::string> names;
  for (const CheckSpec& c : checks) {
    const auto kind = static_cast<std::size_t>(c.kind);
    const std::string index = std::to_string(per_kind[kind]++);
    if (!c.name.empty()) {
      names.push_back(c.name);
      continue;
    }
    switch (c.kind) {
      case CheckSpec::Kind::http: names.push_back("http" + index); break;
      case CheckSpec::Kind::tcp: names.push_back("tcp" + index); break;
      case CheckSpec::Kind::dns: names.push_back("dns" + index); break;
    }
  }
  return names;
}

const char* to_string(Failure f) {
  switch (f) {
    case Failure::none: return "none";
    case Failure::timeout: return "timeout";
    case Failure::refused: return "refused";
    case Failure::connect: return "connect";
    case Failure::resolve: return "resolve";
    case Failure::tls: return "tls";
    case Failure::protocol: return "protocol";
    case Failure::status: return "status";
    case Failure::body: return "body";
    case Failure::dns_rcode: return "dns_rcode";
    case Failure::dns_answer: return "dns_answer";
    case Failure::local: return "local";
  }
  return "none";
}

}  // namespace gslb::health
