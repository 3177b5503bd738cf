#include "dnsd/answer.h"

#include <algorithm>
#include <cstring>

#include "dnsd/query.h"
#include "dnssec/dnssec.h"

namespace gslb::dns {

namespace {

constexpr unsigned kMaxCnameChain = 8;
// The resolved addresses of a cluster the health view does not cover (yet).
const health::Ingress kNoIngress;
constexpr uint16_t kFlagQR = 0x8000, kFlagAA = 0x0400, kFlagTC = 0x0200, kFlagRD = 0x0100, kFlagCD = 0x0010;

// Bounds-checked output; once a write would pass the limit, `failed` stays set and
// the caller rolls back to a mark.
class Writer {
 public:
  Writer(uint8_t* buf, size_t limit) : buf_(buf), limit_(limit) {}
  size_t pos() const { return pos_; }
  bool failed() const { return failed_; }
  void rewind(size_t mark) {
    pos_ = mark;
    failed_ = false;
  }
  void set_limit(size_t limit) { limit_ = limit; }
  uint8_t* at(size_t offset) { return buf_ + offset; }
  size_t left() const { return failed_ || pos_ > limit_ ? 0 : limit_ - pos_; }
  bool room(size_t n) {
    if (failed_ || pos_ + n > limit_) {
      failed_ = true;
      return false;
    }
    return true;
  }
  void u8(uint8_t v) {
    if (room(1)) buf_[pos_++] = v;
  }
  void u16(uint16_t v) {
    if (!room(2)) return;
    buf_[pos_] = static_cast<uint8_t>(v >> 8);
    buf_[pos_ + 1] = static_cast<uint8_t>(v);
    pos_ += 2;
  }
  void u32(uint32_t v) {
    u16(static_cast<uint16_t>(v >> 16));
    u16(static_cast<uint16_t>(v));
  }
  void bytes(const void* p, size_t n) {
    if (!room(n)) return;
    std::memcpy(buf_ + pos_, p, n);
    pos_ += n;
  }
  void patch16(size_t offset, uint16_t v) {
    buf_[offset] = static_cast<uint8_t>(v >> 8);
    buf_[offset + 1] = static_cast<uint8_t>(v);
  }

 private:
  uint8_t* buf_;
  size_t limit_;
  size_t pos_ = 0;
  bool failed_ = false;
};

// The owner name of records being written: a name already in the message (the
// question's at offset 12, or a name a DNAME synthesized), or the leading labels of
// a zone name followed by a pointer to the origin's place in the message.
struct Owner {
  bool is_pointer = true;
  uint16_t offset = 12;
  std::string_view prefix;
  static Owner qname() { return {}; }
  static Owner at(size_t offset) { return {true, static_cast<uint16_t>(offset), {}}; }
  static Owner zone_name(std::string_view name, size_t origin_size) {
    return {false, 0, name.substr(0, name.size() - origin_size)};
  }
};

class Responder {
 public:
  Responder(const Query& q, const ClientInfo& client, const ServingState& serving, const health::HealthView& health,
            Writer& w, Outcome* outcome)
      : q_(q), client_(client), serving_(serving), health_(health), w_(w), outcome_(outcome) {}

  // Writes answer, authority and additional sections; returns the header flags
  // (AA) and rcode to set. Sets `overflow` when the answer or authority did not fit.
  void answer(const Zone& zone) {
    zone_ = &zone;
    origin_pointer_ = static_cast<uint16_t>(0xC000 | (12 + q_.qname.length - zone.origin.size()));
    answer_name(zone, q_.qname, 12, 0);
    write_proofs();
  }

  bool aa() const { return aa_; }
  uint16_t rc() const { return rcode_; }
  bool overflow() const { return overflow_; }
  uint8_t ecs_scope() const { return ecs_scope_; }
  uint16_t ancount = 0, nscount = 0, arcount = 0;

 private:
  void owner(const Owner& o) {
    if (o.is_pointer) {
      w_.u16(static_cast<uint16_t>(0xC000 | o.offset));
    } else {
      w_.bytes(o.prefix.data(), o.prefix.size());
      w_.u16(origin_pointer_);
    }
  }

  // Writes a whole RRset, with its signatures when the client wants them, or
  // nothing; returns false when it did not fit.
  bool rrset(const RRset& set, const Owner& o, uint16_t* counter) {
    const size_t mark = w_.pos();
    const bool sign = dnssec_ && set.rrsig;
    if (!records(set, o) || (sign && !records(*set.rrsig, o))) {
      w_.rewind(mark);
      return false;
    }
    *counter += static_cast<uint16_t>(set.count + (sign ? set.rrsig->count : 0));
    return true;
  }

  bool records(const RRset& set, const Owner& o) {
    const auto fixups = set.fixups();
    size_t fixup = 0;
    for (size_t i = 0; i < set.count; ++i) {
      owner(o);
      const size_t begin = set.rr_begin(i);
      const size_t end = set.rr_end(i);
      const size_t base = w_.pos();
      w_.bytes(set.body.data() + begin, end - begin);
      if (w_.failed()) break;
      for (; fixup < fixups.size() && fixups[fixup] < end; ++fixup)
        w_.patch16(base + (fixups[fixup] - begin), origin_pointer_);
    }
    return !w_.failed();
  }

  void answer_rrset(const RRset& set, const Owner& o) {
    if (!rrset(set, o, &ancount)) overflow_ = true;
    for (const Node* host : set.additional) pending_additional(host);
  }

  // `name` is the lower-case name being answered: the query name or a CNAME
  // target, which differs from node.name when a wildcard synthesised the answer.
  void answer_node(const Node& node, const Owner& o, std::string_view name, unsigned depth) {
    // RFC 4035 3.1.3.3: a synthesised answer proves that `name` itself does not exist.
    // Only a wildcard synthesises: checked first, it spares every other signed
    // answer comparing the two names.
    if (dnssec_ && is_wildcard(node) && node.name != name) no_closer_name(name, node);
    // A service name's addresses come from its clusters; its other types are the
    // zone's own data (the SOA and NS of a service at the apex, a TXT or MX next
    // to a service), answered like any other name's, NODATA when there are none.
    if (node.service >= 0 && (q_.qtype == type::A || q_.qtype == type::AAAA || q_.qtype == type::ANY)) {
      service(node, o);
      return;
    }
    if (q_.qtype == type::RRSIG && zone_->is_signed) {
      // The signatures at the name, the way ANY would give the records.
      const uint16_t before = ancount;
      for (const RRset& set : node.rrsets)
        if (set.rrsig && !rrset(*set.rrsig, o, &ancount)) overflow_ = true;
      if (ancount == before) nodata(node);
      return;
    }
    // RFC 1034 4.3.2 step 3a: a CNAME matches QTYPE CNAME and ANY itself; only other
    // types are followed through it.
    const RRset* cname = node.find(type::CNAME);
    if (cname && q_.qtype != type::CNAME && q_.qtype != type::ANY) {
      answer_rrset(*cname, o);
      if (depth + 1 >= kMaxCnameChain || !node.alias) return;  // no alias: the target leaves the zone
      const NodeAlias& to = *node.alias;
      if (to.cname_target) {
        // A loop (a -> b -> a) ends where it comes back to a name already answered
        // (the query name or a target followed before): each CNAME once, never the
        // same record twice in the answer section.
        if (to.cname_target_name == q_.qname.lower_view()) return;
        for (unsigned i = 0; i < depth; ++i)
          if (chain_[i] == to.cname_target_name) return;
        chain_[depth] = to.cname_target_name;
        answer_node(*to.cname_target, Owner::zone_name(to.cname_target_name, zone_->origin.size()),
                    to.cname_target_name, depth + 1);
      } else if (to.cname_target_missing) {
        // RFC 6604: the rcode of the last name in the chain.
        nxdomain(to.cname_target_name, closest_encloser(to.cname_target_name));
      } else if (to.cname_target_cut) {
        // RFC 1034 4.3.2 step 3b: the chain goes on into the delegation. The CNAME is
        // ours (AA stays), the referral after it is not an answer.
        at_cut(*to.cname_target_cut, to.cname_target_cut->name == to.cname_target_name,
               Owner::zone_name(to.cname_target_name, zone_->origin.size()), to.cname_target_name, depth + 1);
      } else if (to.cname_target_dname) {
        // Step 3a starts over with the target, whose lookup meets the DNAME (RFC 6672
        // section 3.2), as Knot and BIND chase it.
        ParsedName target;
        std::memcpy(target.wire, to.cname_target_name.data(), to.cname_target_name.size());
        index_name(&target, to.cname_target_name.size());
        dname(*to.cname_target_dname, target, Owner::zone_name(to.cname_target_name, zone_->origin.size()),
              depth + 1);
      }
      return;
    }
    if (q_.qtype == type::ANY) {
      // RFC 8482: answer ANY with one RRset rather than everything at the name.
      if (!node.rrsets.empty()) {
        answer_rrset(node.rrsets.front(), o);
        return;
      }
    } else if (const RRset* set = node.find(q_.qtype)) {
      answer_rrset(*set, o);
      return;
    }
    nodata(node);
  }

  // `name`, written at offset `name_at` of the message, looked up in `zone` (zone_,
  // with origin_pointer_ set for it).
  void answer_name(const Zone& zone, const ParsedName& name, uint16_t name_at, unsigned depth) {
    dnssec_ = zone.is_signed && q_.edns.dnssec_ok;
    const Resolution res = resolve(zone, name.lower_view(), name.label_offset, name.labels);
    switch (res.kind) {
      case Resolution::referral:
        at_cut(*res.node, res.node->name.size() == name.length, Owner::at(name_at), name.lower_view(), depth);
        break;
      case Resolution::exact:
      case Resolution::wildcard:
        aa_ = true;
        answer_node(*res.node, Owner::at(name_at), name.lower_view(), depth);
        break;
      case Resolution::nxdomain:
        aa_ = true;
        nxdomain(name.lower_view(), *res.node);
        break;
      case Resolution::dname:
        aa_ = true;
        dname(*res.node, name, Owner::at(name_at), depth);
        break;
    }
  }

  // The labels, their offsets and the lower case of a name whose `length` bytes of
  // wire form are in place.
  static void index_name(ParsedName* n, size_t length) {
    n->length = static_cast<uint8_t>(length);
    n->labels = 0;
    for (size_t at = 0; n->wire[at] != 0; at += n->wire[at] + 1u) n->label_offset[n->labels++] = static_cast<uint8_t>(at);
    for (size_t i = 0; i < length; ++i) n->lower[i] = ascii_lower(n->wire[i]);
  }

  // RFC 6672 section 3.2: the DNAME, a CNAME synthesized from it for `name` (TTL of
  // the DNAME held by `holder`), and the answer for the new name when a zone here
  // holds it. `name` is in the message where `o` says: the question (or a name a
  // DNAME made), whose suffix is the holder's name, or a CNAME's target in zone_.
  void dname(const Node& holder, const ParsedName& name, const Owner& o, unsigned depth) {
    const RRset& set = *holder.find(type::DNAME);
    answer_rrset(set, o.is_pointer ? Owner::at(o.offset + name.length - holder.name.size())
                                   : Owner::zone_name(holder.name, zone_->origin.size()));
    const size_t kept = name.length - holder.name.size();  // the labels replaced keep their case
    const std::string_view target = holder.alias->dname_target;
    if (kept + target.size() > kMaxNameLength) {
      rcode_ = rcode::YXDOMAIN;
      return;
    }
    ParsedName next;
    std::memcpy(next.wire, name.wire, kept);
    std::memcpy(next.wire + kept, target.data(), target.size());
    index_name(&next, kept + target.size());

    const size_t mark = w_.pos();
    owner(o);
    w_.u16(type::CNAME);
    w_.u16(kClassIN);
    w_.u32(set.ttl);
    w_.u16(next.length);
    const size_t next_at = w_.pos();
    w_.bytes(next.wire, next.length);
    if (w_.failed()) {
      w_.rewind(mark);
      overflow_ = true;
      return;
    }
    ++ancount;
    if (depth + 1 >= kMaxCnameChain) return;
    for (unsigned skip = 0; skip <= next.labels; ++skip) {
      const Zone* zone = serving_.find_zone(next.lower_suffix(skip));
      if (zone == nullptr) continue;
      // The new name is the copy of its zone's origin that later names point at.
      zone_ = zone;
      origin_pointer_ = static_cast<uint16_t>(0xC000 | (next_at + next.length - zone->origin.size()));
      answer_name(*zone, next, static_cast<uint16_t>(next_at), depth + 1);
      return;
    }
  }

  // A name at or below a zone cut: the parent side answers DS at the cut itself
  // (RFC 4035 section 3.1.4.1), everything else gets the referral.
  void at_cut(const Node& cut, bool at_cut_name, const Owner& o, std::string_view name, unsigned depth) {
    if (q_.qtype == type::DS && at_cut_name) {
      aa_ = true;
      answer_node(cut, o, name, depth);
    } else {
      referral(cut);
    }
  }

  void negative(uint16_t rcode) {
    rcode_ = rcode;
    if (!rrset(zone_->negative_soa, Owner::zone_name(zone_->origin, zone_->origin.size()), &nscount)) overflow_ = true;
  }

  // RFC 4035 3.1.3.2: the NSEC covering the name and the one covering the wildcard
  // that could have matched it (often one record). RFC 5155 7.2.2: the closest
  // encloser proof (the encloser's NSEC3, and the one covering the next closer name)
  // and the NSEC3 covering the wildcard at the encloser.
  void nxdomain(std::string_view name, const Node& encloser) {
    negative(rcode::NXDOMAIN);
    if (!dnssec_) return;
    if (nsec3()) {
      proof(encloser);
      cover(next_closer(name, encloser.name.size()));
      if (encloser.nsec3_wildcard) queue(*encloser.nsec3_wildcard);
      return;
    }
    cover(name);
    uint8_t wildcard[kMaxNameLength];
    if (encloser.name.size() + 2 > sizeof wildcard) return;
    wildcard[0] = 1;
    wildcard[1] = '*';
    std::memcpy(wildcard + 2, encloser.name.data(), encloser.name.size());
    cover({reinterpret_cast<const char*>(wildcard), encloser.name.size() + 2});
  }

  // RFC 4035 3.1.3.1 and 3.1.3.4: the name's own NSEC shows the type is absent; an
  // empty non-terminal owns none, and the NSEC covering it shows it has no data.
  // RFC 5155 7.2.3-5: the NSEC3 matching the name, empty non-terminals included (a
  // DS query at a cut is one); at a wildcard also the closest encloser's, which with
  // the next closer name's cover (no_closer_name) proves the closest encloser.
  void nodata(const Node& node) {
    negative(rcode::NOERROR);
    if (!dnssec_) return;
    if (nsec3()) {
      proof(node);
      if (is_wildcard(node))
        if (const Node* encloser = zone_->find(std::string_view(node.name).substr(2))) proof(*encloser);
      return;
    }
    if (node.find(type::NSEC)) {
      proof(node);
    } else {
      cover(node.name);
    }
  }

  // The longest existing name that `name` lies below (for a CNAME target that
  // leaves the data: there is always the apex).
  const Node& closest_encloser(std::string_view name) const {
    while (name.size() > zone_->origin.size()) {
      name.remove_prefix(static_cast<uint8_t>(name[0]) + 1u);
      if (const Node* n = zone_->find(name)) return *n;
    }
    return *zone_->apex;
  }

  bool nsec3() const { return !zone_->nsec3_chain.empty(); }
  static bool is_wildcard(const Node& node) { return node.name.size() > 2 && node.name[0] == 1 && node.name[1] == '*'; }

  // The suffix of `name` one label longer than its closest encloser's `encloser_size`
  // bytes (RFC 5155 1.3), which `name` lies strictly below.
  static std::string_view next_closer(std::string_view name, size_t encloser_size) {
    while (name.size() - (static_cast<uint8_t>(name[0]) + 1u) > encloser_size)
      name.remove_prefix(static_cast<uint8_t>(name[0]) + 1u);
    return name;
  }

  // A wildcard answer for `name` shows no closer match exists: the NSEC covering
  // the name, or the NSEC3 covering the next closer name (RFC 5155 7.2.6).
  void no_closer_name(std::string_view name, const Node& wildcard) {
    cover(nsec3() ? next_closer(name, wildcard.name.size() - 2) : name);
  }

  // The NSEC matching or covering `name`, or the NSEC3 matching or covering its hash
  // (one SHA-1 of the name, over a buffer on the stack).
  void cover(std::string_view name) {
    if (nsec3()) {
      uint8_t hash[dnssec::kNsec3HashSize];
      dnssec::nsec3_hash(name, hash);
      queue(zone_->nsec3_at_or_before(hash));
    } else {
      proof(*zone_->nsec_at_or_before(name));
    }
  }

  // The denial record at an existing name: its NSEC, or the NSEC3 matching it.
  void proof(const Node& owner) {
    if (nsec3()) {
      if (owner.nsec3) queue(*owner.nsec3);
    } else if (const RRset* nsec = owner.find(type::NSEC)) {
      queue(*nsec, owner.name);
    }
  }

  void queue(const Nsec3Link& link) { queue(link.set, link.owner); }

  // Queued, each record once: a proof can be known before the answer section is
  // complete (a wildcard's), and goes in the authority section after it. A DNAME
  // can move the answer to another zone, so each proof keeps the origin pointer of
  // its own.
  void queue(const RRset& set, std::string_view owner) {
    for (size_t i = 0; i < proofs_; ++i)
      if (proved_[i].set == &set) return;
    if (proofs_ < std::size(proved_))
      proved_[proofs_++] = {&set, owner, origin_pointer_, static_cast<uint8_t>(zone_->origin.size())};
  }

  void write_proofs() {
    if (proofs_ == 0) return;
    dnssec_ = true;  // only signed zones queue proofs, even when a DNAME led out of them
    for (size_t i = 0; i < proofs_; ++i) {
      const Proof& p = proved_[i];
      origin_pointer_ = p.origin_pointer;
      if (!rrset(*p.set, Owner::zone_name(p.owner, p.origin_size), &nscount)) overflow_ = true;
    }
  }

  void referral(const Node& cut) {
    const RRset* ns = cut.find(type::NS);
    if (!rrset(*ns, Owner::zone_name(cut.name, zone_->origin.size()), &nscount)) overflow_ = true;
    for (const Node* host : ns->additional) pending_additional(host);
    glue_required_ = true;
    // RFC 4035 3.1.4: a signed referral carries the DS, or the NSEC proving none.
    if (!dnssec_) return;
    if (const RRset* ds = cut.find(type::DS)) {
      if (!rrset(*ds, Owner::zone_name(cut.name, zone_->origin.size()), &nscount)) overflow_ = true;
    } else {
      proof(cut);
    }
  }

  void pending_additional(const Node* host) {
    if (additional_count_ < kMaxAdditional) additional_[additional_count_++] = host;
  }

 public:
  // Additional-section addresses, after answer and authority are complete. Glue
  // that does not fit truncates a referral (RFC 9471); other extras are dropped.
  void write_additional() {
    for (size_t i = 0; i < additional_count_; ++i) {
      const Node* host = additional_[i];
      const Owner o = Owner::zone_name(host->name, zone_->origin.size());
      for (uint16_t t : {type::A, type::AAAA}) {
        const RRset* set = host->find(t);
        if (set && !rrset(*set, o, &arcount)) {
          if (glue_required_) overflow_ = true;
          return;
        }
      }
    }
  }

 private:
  void service(const Node& node, const Owner& o) {
    const Service& svc = serving_.services[static_cast<size_t>(node.service)];
    outcome_->service_slot = svc.metrics_slot;
    const bool want_v6 = q_.qtype == type::AAAA;
    if (q_.qtype != type::A && q_.qtype != type::AAAA && q_.qtype != type::ANY) {
      nodata(node);
      return;
    }

    geo::ClientAddress client;
    const ClientSubnet& ecs = q_.edns.ecs;
    if (q_.edns.has_ecs && ecs.source_prefix > 0) {
      client.family = ecs.family == 2 ? 6 : 4;
      client.source_prefix = ecs.source_prefix;
      std::memcpy(client.bytes, ecs.address, sizeof client.bytes);
    } else {
      // No subnet, or RFC 7871 7.1.2 SOURCE PREFIX-LENGTH 0: the resolver's own address,
      // and scope 0 in the reply since the client asked for no location to be used.
      client.family = client_.v6 ? 6 : 4;
      client.source_prefix = client_.v6 ? 128 : 32;
      std::memcpy(client.bytes, client_.address, sizeof client.bytes);
    }
    const ClusterPick pick = pick_clusters(serving_, svc, health_, client, want_v6);
    if (q_.edns.has_ecs && ecs.source_prefix > 0) ecs_scope_ = pick.scope;
    if (pick.servfail) {
      rcode_ = rcode::SERVFAIL;
      aa_ = false;
      return;
    }
    if (pick.count == 0) {
      nodata(node);
      return;
    }
    outcome_->fail_open = pick.fail_open;
    const bool transitioning = pick.transitioning;
    const unsigned count = pick.count;
    const geo::ClusterId* picked = pick.clusters;
    const uint32_t ttl = transitioning ? svc.transition_ttl : svc.ttl;
    const size_t mark = w_.pos();
    uint16_t written = 0;
    // The addresses are this answer's own choice, so fewer of them are still a
    // whole answer: when the client's payload (or a TCP message) cannot take them
    // all, as many as fit go out, best clusters' first, without TC. Only when not
    // even one fits is the answer truncated. A signed answer goes whole or not at
    // all: its signature covers every address of its clusters.
    bool full = false;
    auto put = [&](const uint8_t* address, uint16_t size) {
      if (full) return;
      const size_t at = w_.pos();
      owner(o);
      w_.u16(want_v6 ? type::AAAA : type::A);
      w_.u16(kClassIN);
      w_.u32(ttl);
      w_.u16(size);
      w_.bytes(address, size);
      if (w_.failed()) {
        w_.rewind(at);
        full = true;
        return;
      }
      ++written;
    };
    for (unsigned i = 0; i < count && !full; ++i) {
      const ClusterAddresses& addrs = serving_.clusters[picked[i]];
      const health::Ingress& dynamic = resolved_ingress(health_, picked[i]);
      const uint16_t before = written;
      if (want_v6) {
        for (const auto& a : addrs.ipv6) put(a.data(), 16);
        for (const auto& a : dynamic.ipv6) put(a.data(), 16);
      } else {
        for (const auto& a : addrs.ipv4) put(a.data(), 4);
        for (const auto& a : dynamic.ipv4) put(a.data(), 4);
      }
      if (written > before) outcome_->cluster_slots[outcome_->picked++] = addrs.metrics_slot;
    }
    if (written == 0 || (full && dnssec_)) {
      w_.rewind(mark);
      overflow_ = true;
      return;
    }
    outcome_->trimmed = full;
    if (dnssec_) {
      uint64_t mask = 0;  // picked positions in svc.clusters: the name of the signature
      for (unsigned i = 0; i < count; ++i)
        for (size_t k = 0; k < svc.clusters.size(); ++k)
          if (svc.clusters[k] == picked[i]) mask |= uint64_t{1} << k;
      const SignedAnswers& table = svc.signed_answers[want_v6 ? 1 : 0][transitioning ? 1 : 0];
      if (const RRset* sigs = table.find(mask); sigs && records(*sigs, o)) written += sigs->count;
    }
    if (w_.failed()) {
      w_.rewind(mark);
      overflow_ = true;
      return;
    }
    ancount += written;
  }

  static constexpr size_t kMaxAdditional = 16;
  std::string_view chain_[kMaxCnameChain];  // CNAME targets followed so far (lower-case wire)
  const Query& q_;
  const ClientInfo& client_;
  const ServingState& serving_;
  const health::HealthView& health_;
  Writer& w_;
  Outcome* outcome_;
  const Zone* zone_ = nullptr;
  uint16_t origin_pointer_ = 0xC00C;
  bool aa_ = false;
  uint16_t rcode_ = rcode::NOERROR;
  bool overflow_ = false;
  bool glue_required_ = false;
  bool dnssec_ = false;  // the zone being answered from is signed and the query has DO=1
  // Denial records for the authority section: a wildcard's per CNAME link, and at
  // the end an NXDOMAIN's two NSEC or three NSEC3 (or a wildcard NODATA's three).
  struct Proof {
    const RRset* set;           // an NSEC or NSEC3 RRset, with its rrsig
    std::string_view owner;     // its owner, lower-case wire
    uint16_t origin_pointer;
    uint8_t origin_size;
  };
  Proof proved_[kMaxCnameChain + 3] = {};
  size_t proofs_ = 0;
  uint8_t ecs_scope_ = 0;
  const Node* additional_[kMaxAdditional] = {};
  size_t additional_count_ = 0;
};

// The COOKIE option of a response: the client's cookie and a fresh server cookie.
constexpr size_t kCookieOptionSize = 4 + kClientCookieSize + kServerCookieSize;

size_t opt_size(const Query& q, const ServingState& serving, bool with_ecs, const uint8_t* cookie) {
  size_t n = cookie ? 11 + kCookieOptionSize : 11;
  if (q.edns.nsid && !serving.nsid.empty()) n += 4 + serving.nsid.size();
  if (with_ecs) n += 4 + 4 + (q.edns.ecs.source_prefix + 7u) / 8u;
  return n;
}

void write_opt(Writer& w, const Query& q, const ServingState& serving, uint16_t rcode, bool with_ecs, uint8_t scope,
               const uint8_t* cookie) {
  // An OPT with at most a cookie always fits (header, the longest question and 39
  // bytes are under 512); when its other options do not, NSID and then ECS are left
  // out rather than cutting the OPT short into a malformed message. The client gets
  // them over TCP.
  bool with_nsid = q.edns.nsid && !serving.nsid.empty();
  const size_t base = cookie ? 11 + kCookieOptionSize : 11;
  const size_t nsid_size = 4 + serving.nsid.size();
  const size_t ecs_size = 8 + (q.edns.ecs.source_prefix + 7u) / 8u;
  if (with_nsid && base + nsid_size + (with_ecs ? ecs_size : 0) > w.left()) with_nsid = false;
  if (with_ecs && base + ecs_size > w.left()) with_ecs = false;
  w.u8(0);
  w.u16(type::OPT);
  w.u16(serving.max_udp_size);
  w.u8(static_cast<uint8_t>(rcode >> 4));  // extended RCODE, upper 8 bits
  w.u8(0);                                 // version
  w.u16(q.edns.dnssec_ok ? 0x8000 : 0);    // DO echoed (RFC 3225)
  const size_t rdlen_at = w.pos();
  w.u16(0);
  if (with_nsid) {
    w.u16(kEdnsNsid);
    w.u16(static_cast<uint16_t>(serving.nsid.size()));
    w.bytes(serving.nsid.data(), serving.nsid.size());
  }
  if (with_ecs) {
    const ClientSubnet& ecs = q.edns.ecs;
    const size_t addr_len = (ecs.source_prefix + 7u) / 8u;
    w.u16(kEdnsClientSubnet);
    w.u16(static_cast<uint16_t>(4 + addr_len));
    w.u16(ecs.family);
    w.u8(ecs.source_prefix);
    w.u8(scope);
    w.bytes(ecs.address, addr_len);
  }
  if (cookie) {
    w.u16(kEdnsCookie);
    w.u16(kClientCookieSize + kServerCookieSize);
    w.bytes(cookie, kClientCookieSize + kServerCookieSize);
  }
  if (!w.failed()) w.patch16(rdlen_at, static_cast<uint16_t>(w.pos() - rdlen_at - 2));
}

// RFC 4892: which instance answered, and its version, when the operator set them.
std::string_view chaos_txt(const ServingState& serving, std::string_view name) {
  using namespace std::string_view_literals;
  if (name == "\x02id\x06server\0"sv || name == "\x08hostname\x04" "bind\0"sv) return serving.identity_txt;
  if (name == "\x07version\x06server\0"sv || name == "\x07version\x04" "bind\0"sv) return serving.version_txt;
  return {};
}

// The zone that answers: the longest match, except that DS at the apex of a zone
// whose parent is served too is the parent's to answer (RFC 4035 section 3.1.4.1).
const Zone* zone_for(const ServingState& serving, const Query& q) {
  const Zone* apex_of = nullptr;
  for (unsigned skip = 0; skip <= q.qname.labels; ++skip) {
    const Zone* zone = serving.find_zone(q.qname.lower_suffix(skip));
    if (zone == nullptr) continue;
    if (skip > 0 || q.qtype != type::DS || q.qname.labels == 0) return zone;
    apex_of = zone;  // the child answers when no parent is served
  }
  return apex_of;
}

void write_question(Writer& w, const Query& q) {
  w.bytes(q.qname.wire, q.qname.length);
  w.u16(q.qtype);
  w.u16(q.qclass);
}

}  // namespace

const health::Ingress& resolved_ingress(const health::HealthView& health, geo::ClusterId c) noexcept {
  return c < health.resolved.size() ? health.resolved[c] : kNoIngress;
}

ClusterPick pick_clusters(const ServingState& serving, const Service& svc, const health::HealthView& health,
                          const geo::ClientAddress& client, bool want_v6) noexcept {
  ClusterPick pick;
  const geo::Route route = serving.routing->route(svc.geo_id, client);
  pick.scope = route.scope;
  auto is_up = [&](geo::ClusterId c) { return c >= health.up.size() || health.up[c]; };
  auto changing = [&](geo::ClusterId c) { return c < health.transitioning.size() && health.transitioning[c]; };
  // A cluster's addresses: those written in the config, and those its ingress
  // host names resolved to (carried in the health view, which the probe thread renews).
  auto address_count = [&](geo::ClusterId c) {
    const health::Ingress& dynamic = resolved_ingress(health, c);
    return want_v6 ? serving.clusters[c].ipv6.size() + dynamic.ipv6.size()
                   : serving.clusters[c].ipv4.size() + dynamic.ipv4.size();
  };
  // A signed name's NSEC says which address types it has, so a signed service
  // fails open per type: with none of its IPv6 clusters up it answers AAAA from
  // the down ones rather than with a NODATA its NSEC would contradict. One pass
  // finds both: any cluster up, and (signed) any up with addresses of the type.
  bool any_up = false, any_answerable = false;
  for (geo::ClusterId c : svc.clusters) {
    if (!is_up(c)) continue;
    any_up = true;
    if (!svc.is_signed || address_count(c) > 0) {
      any_answerable = true;
      break;
    }
  }
  if (!any_up && svc.servfail_when_all_down) {
    pick.servfail = true;
    return pick;
  }
  any_up = any_answerable;
  pick.fail_open = !any_up;
  // Picked first, written after, so the TTL can shrink when a cluster ranked at or
  // above a picked one is changing state: resolvers then come back soon.
  for (geo::ClusterId c : route.order) {
    if (pick.count >= svc.answers || pick.count >= Outcome::kMaxPicked) break;
    pick.transitioning = pick.transitioning || changing(c);
    if (any_up && !is_up(c)) continue;  // all down: fail open, answer in ranked order
    if (address_count(c) == 0) continue;
    pick.clusters[pick.count++] = c;
  }
  return pick;
}

size_t answer_query(const uint8_t* packet, size_t size, const ClientInfo& client, const ServingState& serving,
                    const health::HealthView& health, uint8_t* out, size_t out_capacity, Outcome* outcome) noexcept {
  Query q;
  *outcome = Outcome{};
  const ParseResult parsed = parse_query(packet, size, &q);
  if (parsed == ParseResult::drop) return 0;
  if (out_capacity < 512) return 0;
  outcome->qtype = q.qtype;

  size_t limit = out_capacity;
  if (!client.tcp) limit = std::min<size_t>(limit, q.edns.present ? std::min<uint16_t>(q.edns.payload, serving.max_udp_size) : 512);
  Writer w(out, limit);
  // RD and CD are defined for queries only (RFC 1035 4.1.1, RFC 4035 3.2.2): a NOTIMP
  // for another opcode copies neither.
  const uint16_t copied = parsed == ParseResult::notimp ? 0x7800 : 0x7800 | kFlagRD | kFlagCD;
  const uint16_t base_flags = static_cast<uint16_t>(kFlagQR | (q.flags & copied));
  w.u16(q.id);
  w.u16(base_flags);
  w.u16(q.has_question ? 1 : 0);
  w.u32(0);
  w.u16(0);
  if (q.has_question) write_question(w, q);

  uint8_t cookie_option[kClientCookieSize + kServerCookieSize];
  const uint8_t* cookie = nullptr;  // set once the query's cookie is known to be well formed
  auto finish = [&](uint16_t rcode, uint16_t flags, uint16_t an, uint16_t ns, uint16_t ar, bool opt, bool ecs,
                    uint8_t scope) -> size_t {
    if (opt) {
      write_opt(w, q, serving, rcode, ecs, scope, cookie);
      ++ar;
    }
    if (q.tsig.present) {
      // No key is configured, so every key is unknown: NOTAUTH with an unsigned
      // BADKEY TSIG, last in the message (RFC 8945 5.2.1, 5.3.2).
      uint8_t tsig[kMaxTsigError];
      if (const size_t n = write_tsig_error(q.tsig, kTsigBadKey, tsig, std::min(sizeof tsig, w.left()))) {
        w.bytes(tsig, n);
        ++ar;
      }
    }
    w.patch16(2, static_cast<uint16_t>(base_flags | flags | (rcode & 0xF)));
    w.patch16(6, an);
    w.patch16(8, ns);
    w.patch16(10, ar);
    outcome->rcode = rcode;
    outcome->ecs_scope = scope;
    return w.pos();
  };

  switch (parsed) {
    case ParseResult::formerr:
      return finish(rcode::FORMERR, 0, 0, 0, 0, false, false, 0);
    case ParseResult::notimp:
      return finish(rcode::NOTIMP, 0, 0, 0, 0, q.edns.present, false, 0);
    default:
      break;
  }
  if (q.tsig.present) return finish(rcode::NOTAUTH, 0, 0, 0, 0, q.edns.present, false, 0);
  if (q.edns.present && q.edns.version > 0) return finish(rcode::BADVERS, 0, 0, 0, 0, true, false, 0);
  if (q.ecs_malformed) return finish(rcode::FORMERR, 0, 0, 0, 0, true, false, 0);
  if (serving.cookies && q.edns.cookie_malformed) return finish(rcode::FORMERR, 0, 0, 0, 0, true, false, 0);
  if (serving.cookies && q.edns.cookie_size > 0) {
    // RFC 7873 5.2.3-5.2.4: a fresh server cookie in every answer; a valid one in
    // the query proves the client really is at its address.
    const uint8_t* client_cookie = q.edns.cookie;
    outcome->valid_cookie =
        server_cookie_valid(serving.cookie_keys, client_cookie, client_cookie + kClientCookieSize,
                            q.edns.cookie_size - kClientCookieSize, client.now, client.v6, client.address);
    std::memcpy(cookie_option, client_cookie, kClientCookieSize);
    make_server_cookie(serving.cookie_keys, client_cookie, client.now, client.v6, client.address,
                       cookie_option + kClientCookieSize);
    cookie = cookie_option;
  }
  const bool with_ecs = q.edns.has_ecs;
  if (q.qclass == kClassCH) {
    const std::string_view txt = chaos_txt(serving, q.qname.lower_view());
    if (txt.empty() || (q.qtype != type::TXT && q.qtype != type::ANY))
      return finish(rcode::REFUSED, 0, 0, 0, 0, q.edns.present, with_ecs, 0);
    w.u16(0xC00C);
    w.u16(type::TXT);
    w.u16(kClassCH);
    w.u32(0);  // never cached: the next query may reach another instance
    w.u16(static_cast<uint16_t>(txt.size()));
    w.bytes(txt.data(), txt.size());
    return finish(rcode::NOERROR, kFlagAA, 1, 0, 0, q.edns.present, with_ecs, 0);
  }
  if (q.qclass != kClassIN && q.qclass != kClassANY) return finish(rcode::REFUSED, 0, 0, 0, 0, q.edns.present, with_ecs, 0);
  if (q.qtype == type::AXFR || q.qtype == type::IXFR) return finish(rcode::REFUSED, 0, 0, 0, 0, q.edns.present, with_ecs, 0);
  if (q.qtype == type::MAILA || q.qtype == type::MAILB) return finish(rcode::NOTIMP, 0, 0, 0, 0, q.edns.present, with_ecs, 0);

  const Zone* zone = zone_for(serving, q);
  if (zone == nullptr) return finish(rcode::REFUSED, 0, 0, 0, 0, q.edns.present, with_ecs, 0);
  outcome->zone_slot = zone->metrics_slot;

  const size_t opt_reserve = q.edns.present ? opt_size(q, serving, with_ecs, cookie) : 0;
  const size_t sections_at = w.pos();
  w.set_limit(limit - opt_reserve);
  Responder r(q, client, serving, health, w, outcome);
  r.answer(*zone);
  if (!r.overflow()) r.write_additional();
  w.set_limit(limit);
  if (r.overflow()) {
    // RFC 2181 9: a truncated answer carries no partial RRsets; the client retries over TCP.
    w.rewind(sections_at);
    outcome->truncated = true;
    outcome->picked = 0;
    outcome->trimmed = false;
    return finish(r.rc(), kFlagTC | (r.aa() ? kFlagAA : 0), 0, 0, 0, q.edns.present, with_ecs, r.ecs_scope());
  }
  return finish(r.rc(), r.aa() ? kFlagAA : 0, r.ancount, r.nscount, r.arcount, q.edns.present, with_ecs, r.ecs_scope());
}

}  // namespace gslb::dns
