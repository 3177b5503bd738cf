#include "fixture.h"

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace gslb::test {

std::string write_temp(const std::string& name, const std::string& text) {
  static std::string dir = [] {
    char tmpl[] = "/tmp/gslbd-unit-XXXXXX";
    const char* d = mkdtemp(tmpl);
    REQUIRE(d != nullptr);
    return std::string(d);
  }();
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  return path;
}

Served serve(const std::string& yaml) {
  Served s;
  dns::MetricNames slots;
  s.state = dns::build_serving_state(dns::load_config(write_temp("unit.yaml", yaml)), 1, &slots);
  s.health.up.assign(s.state->clusters.size(), 1);
  s.health.transitioning.assign(s.state->clusters.size(), 0);
  return s;
}

std::vector<uint8_t> make_query(const std::string& name, ldns_rr_type type, const QueryOptions& o) {
  ldns_rdf* owner = ldns_dname_new_frm_str(name.c_str());
  ldns_pkt* pkt = ldns_pkt_query_new(owner, type, LDNS_RR_CLASS_IN, 0);
  ldns_pkt_set_id(pkt, 0x4242);
  if (o.edns) {
    ldns_pkt_set_edns_udp_size(pkt, o.payload);
    ldns_pkt_set_edns_data(pkt, nullptr);
    std::vector<uint8_t> opts;
    auto put16 = [&](unsigned v) {
      opts.push_back(static_cast<uint8_t>(v >> 8));
      opts.push_back(static_cast<uint8_t>(v));
    };
    if (o.nsid) {
      put16(3);
      put16(0);
    }
    if (!o.ecs.empty()) {
      const size_t slash = o.ecs.find('/');
      const std::string addr = o.ecs.substr(0, slash);
      const unsigned prefix = static_cast<unsigned>(std::stoi(o.ecs.substr(slash + 1)));
      uint8_t bytes[16] = {};
      const bool v6 = addr.find(':') != std::string::npos;
      REQUIRE(inet_pton(v6 ? AF_INET6 : AF_INET, addr.c_str(), bytes) == 1);
      const unsigned n = (prefix + 7) / 8;
      put16(8);
      put16(4 + n);
      put16(v6 ? 2 : 1);
      opts.push_back(static_cast<uint8_t>(prefix));
      opts.push_back(0);
      opts.insert(opts.end(), bytes, bytes + n);
    }
    // ldns adds the OPT record when any EDNS field is set; the options go in as raw data.
    if (!opts.empty()) ldns_pkt_set_edns_data(pkt, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_UNKNOWN, opts.size(), opts.data()));
    ldns_pkt_set_edns_do(pkt, o.dnssec_ok);
  }
  uint8_t* wire = nullptr;
  size_t size = 0;
  REQUIRE(ldns_pkt2wire(&wire, pkt, &size) == LDNS_STATUS_OK);
  std::vector<uint8_t> out(wire, wire + size);
  free(wire);
  ldns_pkt_free(pkt);
  return out;
}

void ask(const Served& s, const std::vector<uint8_t>& query, Answer* out, bool tcp, const char* client) {
  dns::ClientInfo ci;
  ci.tcp = tcp;
  ci.v6 = std::string(client).find(':') != std::string::npos;
  REQUIRE(inet_pton(ci.v6 ? AF_INET6 : AF_INET, client, ci.address) == 1);
  out->wire.assign(65535, 0);
  const size_t n = dns::answer_query(query.data(), query.size(), ci, *s.state, s.health, out->wire.data(),
                                     out->wire.size(), &out->outcome);
  out->wire.resize(n);
  ldns_pkt_free(out->pkt);
  out->pkt = nullptr;
  if (n > 0) REQUIRE(ldns_wire2pkt(&out->pkt, out->wire.data(), n) == LDNS_STATUS_OK);
}

std::vector<std::string> Answer::section(ldns_pkt_section s) const {
  std::vector<std::string> out;
  ldns_rr_list* list = ldns_pkt_get_section_clone(pkt, s);
  for (size_t i = 0; i < ldns_rr_list_rr_count(list); ++i) {
    char* text = ldns_rr2str(ldns_rr_list_rr(list, i));
    std::string line(text);
    free(text);
    while (!line.empty() && line.back() == '\n') line.pop_back();
    out.push_back(line);
  }
  ldns_rr_list_deep_free(list);
  return out;
}

}  // namespace gslb::test
