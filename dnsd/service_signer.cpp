#include "dnsd/service_signer.h"

#include <algorithm>

#include "dnsd/query.h"

namespace gslb::dns {

namespace {

// Calls f(mask) for every set of 1..k of the positions in `eligible`.
template <typename F>
void for_each_subset(const std::vector<unsigned>& eligible, unsigned k, uint64_t mask, size_t from, unsigned taken,
                     F& f) {
  for (size_t i = from; i < eligible.size(); ++i) {
    const uint64_t next = mask | (uint64_t{1} << eligible[i]);
    f(next);
    if (taken + 1 < k) for_each_subset(eligible, k, next, i + 1, taken + 1, f);
  }
}

}  // namespace

size_t address_set_count(const std::vector<bool>& has_addresses, unsigned answers) {
  const size_t m = static_cast<size_t>(std::count(has_addresses.begin(), has_addresses.end(), true));
  // Sum of C(m, j) for j = 1..answers, stopping once past the limit.
  size_t total = 0, c = 1;
  for (size_t j = 1; j <= answers && j <= m && total <= kMaxSignedAddressSets; ++j) {
    c = c * (m - j + 1) / j;
    total += c;
  }
  return total;
}

void sign_service(Service* svc, std::string_view owner, const std::vector<ClusterAddresses>& clusters,
                  const ZoneSigning& signing) {
  const unsigned k = std::min<unsigned>(svc->answers, 16);
  for (int family = 0; family < 2; ++family) {
    std::vector<unsigned> eligible;
    for (unsigned i = 0; i < svc->clusters.size(); ++i) {
      const ClusterAddresses& c = clusters[svc->clusters[i]];
      if (family == 0 ? !c.ipv4.empty() : !c.ipv6.empty()) eligible.push_back(i);
    }
    std::vector<uint64_t> masks;
    auto collect = [&](uint64_t mask) { masks.push_back(mask); };
    for_each_subset(eligible, k, 0, 0, 0, collect);
    std::sort(masks.begin(), masks.end());
    const uint32_t ttls[2] = {svc->ttl, svc->transition_ttl};
    for (int t = 0; t < 2; ++t) {
      SignedAnswers& out = svc->signed_answers[family][t];
      out.masks = masks;
      out.rrsigs.clear();
      for (uint64_t mask : masks) {
        std::vector<dnssec::Bytes> rdatas;
        for (unsigned i = 0; i < svc->clusters.size(); ++i) {
          if (!(mask >> i & 1)) continue;
          const ClusterAddresses& c = clusters[svc->clusters[i]];
          if (family == 0)
            for (const auto& a : c.ipv4) rdatas.emplace_back(a.begin(), a.end());
          else
            for (const auto& a : c.ipv6) rdatas.emplace_back(a.begin(), a.end());
        }
        const uint16_t rrtype = family == 0 ? type::A : type::AAAA;
        out.rrsigs.push_back(rrsig_set(signing.keys->sign(owner, rrtype, ttls[t], rdatas, signing.validity), ttls[t]));
      }
    }
  }
  svc->is_signed = true;
}

}  // namespace gslb::dns
