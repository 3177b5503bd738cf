// Builds a ServingState from YAML text written to a temp file, and sends queries
// built with ldns through answer_query, parsing the responses back with ldns: an
// independent wire parser checks every byte we build.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dnsd/answer.h"
#include "dnsd/config.h"
#include "dnsd/serving_state.h"

// Last: ldns's C headers define macros that clash with later C++ standard headers.
#include <ldns/ldns.h>

namespace gslb::test {

std::string write_temp(const std::string& name, const std::string& text);

struct Served {
  std::shared_ptr<const dns::ServingState> state;
  health::HealthView health;  // every cluster up unless a test changes it
};

Served serve(const std::string& yaml);

struct QueryOptions {
  bool edns = true;
  uint16_t payload = 1232;
  bool tcp = false;
  bool nsid = false;
  std::string ecs;  // "192.0.2.0/24"
  bool dnssec_ok = false;  // DO (RFC 3225)
};

// The wire query that ldns builds for `name`/`type`.
std::vector<uint8_t> make_query(const std::string& name, ldns_rr_type type, const QueryOptions& o = {});

struct Answer {
  std::vector<uint8_t> wire;
  dns::Outcome outcome;
  ldns_pkt* pkt = nullptr;  // null when no response or ldns could not parse it
  Answer() = default;
  Answer(const Answer&) = delete;
  Answer& operator=(const Answer&) = delete;
  ~Answer() { ldns_pkt_free(pkt); }
  ldns_pkt_rcode rcode() const { return ldns_pkt_get_rcode(pkt); }
  // Each RR of a section as ldns prints it, e.g. "www.example.test.\t300\tIN\tA\t192.0.2.80".
  std::vector<std::string> section(ldns_pkt_section s) const;
};

void ask(const Served& s, const std::vector<uint8_t>& query, Answer* out, bool tcp = false,
         const char* client = "198.51.100.1");

}  // namespace gslb::test
