#include "dnsd/zone_builder.h"

#include <ldns/ldns.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <functional>
#include <set>
#include <span>

#include "dnsd/dname.h"
#include "dnsd/query.h"

namespace gslb::dns {

namespace {

// The records as read, before grouping into RRsets. Owners and RDATA live in one
// byte store and the records refer to it by offset: a million records are a few
// large blocks instead of millions of strings, and they are held beside the zone
// being built (and, on a reload, beside the zone still serving).
class RawRecords {
 public:
  // An RDATA field: names kept apart so they can be compressed against the origin.
  struct Field {
    uint32_t at = 0;
    uint16_t size = 0;
    bool is_name = false;  // wire form as written, uncompressed
  };
  struct Record {
    uint32_t owner_at = 0;  // lower-case wire
    uint8_t owner_size = 0;
    uint16_t type = 0;
    uint16_t field_count = 0;
    uint32_t ttl = 0;
    uint32_t first_field = 0;
    // Where it was written: `line` of `source`'s file (the config's own position
    // when 0). A million records share one SourcePos rather than a million names.
    int line = 0;
    const SourcePos* source = nullptr;

    SourcePos pos() const {
      SourcePos p = *source;
      if (line) p.line = line;
      return p;
    }
  };

  // Begins a record; add_field() appends its RDATA fields in order.
  void add(std::string_view owner_lower, uint16_t type, uint32_t ttl, const SourcePos* source, int line) {
    Record r;
    // Zone files write a name's records together: consecutive owners share bytes.
    if (!records_.empty() && owner(records_.back()) == owner_lower) {
      r.owner_at = records_.back().owner_at;
    } else {
      r.owner_at = store(owner_lower);
    }
    r.owner_size = static_cast<uint8_t>(owner_lower.size());
    r.type = type;
    r.ttl = ttl;
    r.first_field = static_cast<uint32_t>(fields_.size());
    r.line = line;
    r.source = source;
    records_.push_back(r);
  }
  void add_field(std::string_view bytes, bool is_name) {
    fields_.push_back({store(bytes), static_cast<uint16_t>(bytes.size()), is_name});
    ++records_.back().field_count;
  }

  size_t size() const noexcept { return records_.size(); }
  const Record& operator[](size_t i) const noexcept { return records_[i]; }
  std::string_view owner(const Record& r) const noexcept { return {bytes_.data() + r.owner_at, r.owner_size}; }
  std::span<const Field> fields(const Record& r) const noexcept { return {fields_.data() + r.first_field, r.field_count}; }
  std::string_view bytes(const Field& f) const noexcept { return {bytes_.data() + f.at, f.size}; }

 private:
  uint32_t store(std::string_view b) {
    if (bytes_.size() + b.size() > UINT32_MAX) throw ConfigError("zone data exceeds 4 GiB");
    const auto at = static_cast<uint32_t>(bytes_.size());
    bytes_.append(b);
    return at;
  }

  std::vector<Record> records_;
  std::vector<Field> fields_;
  std::string bytes_;
};
using RawRecord = RawRecords::Record;

struct LdnsDeleter {
  void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
  void operator()(ldns_rdf* rdf) const { ldns_rdf_deep_free(rdf); }
};
using RrPtr = std::unique_ptr<ldns_rr, LdnsDeleter>;
using RdfPtr = std::unique_ptr<ldns_rdf, LdnsDeleter>;

std::string lower_wire(const uint8_t* data, size_t size) {
  std::string s(reinterpret_cast<const char*>(data), size);
  for (char& c : s) c = static_cast<char>(ascii_lower(static_cast<uint8_t>(c)));
  return s;
}

void add_from_ldns(RawRecords* out, const ldns_rr* rr, const SourcePos* source, int line) {
  const ldns_rdf* owner = ldns_rr_owner(rr);
  out->add(lower_wire(ldns_rdf_data(owner), ldns_rdf_size(owner)), static_cast<uint16_t>(ldns_rr_get_type(rr)),
           ldns_rr_ttl(rr), source, line);
  for (size_t i = 0; i < ldns_rr_rd_count(rr); ++i) {
    // An rdf's data is its wire form (what ldns_rdf2buffer_wire copies).
    const ldns_rdf* rdf = ldns_rr_rdf(rr, i);
    out->add_field({reinterpret_cast<const char*>(ldns_rdf_data(rdf)), ldns_rdf_size(rdf)},
                   ldns_rdf_get_type(rdf) == LDNS_RDF_TYPE_DNAME);
  }
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(uint8_t(x)) == ascii_lower(uint8_t(y)); });
}

// A TTL as RFC 1035 and BIND write it: "3600", "1h", "1h30m".
bool is_period(std::string_view t) {
  if (t.empty()) return false;
  for (size_t i = 0; i < t.size();) {
    const size_t digits = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    if (i == digits) return false;
    if (i < t.size() && std::string_view("smhdwSMHDW").find(t[i]) != std::string_view::npos) ++i;
    else if (i < t.size()) return false;
  }
  return true;
}

bool is_class(std::string_view t) {
  if (iequals(t, "IN") || iequals(t, "CH") || iequals(t, "HS") || iequals(t, "CS")) return true;
  return t.size() > 5 && iequals(t.substr(0, 5), "CLASS") &&
         t.find_first_not_of("0123456789", 5) == std::string_view::npos;
}

// A master-file token (a slice of the text) and the line it is on.
struct Token {
  std::string_view text;
  int line;
};

// Octets in a character-string token as written: quotes dropped, "\DDD" and "\X"
// one octet each (RFC 1035 5.1).
size_t string_octets(std::string_view t) {
  if (t.size() >= 2 && t.front() == '"' && t.back() == '"') t = t.substr(1, t.size() - 2);
  size_t n = 0;
  for (size_t i = 0; i < t.size(); ++n) {
    const bool decimal = t[i] == '\\' && i + 3 < t.size() && std::isdigit(static_cast<unsigned char>(t[i + 1]));
    i += decimal ? 4 : t[i] == '\\' ? 2 : 1;
  }
  return n;
}

// What ldns reports only as "could not parse the RR's rdata": a type it does not
// know, and a character-string over 255 octets in the types made of them.
void check_rdata(std::string_view type_view, const std::vector<Token>& tokens, size_t first,
                 const std::function<SourcePos(int)>& at_line) {
  const std::string type_text(type_view);
  const ldns_rr_type type = ldns_get_rr_type_by_name(type_text.c_str());
  const int line = tokens[first - 1].line;
  if (type == 0) fail_at(at_line(line), "", "bad record: unknown record type " + type_text);
  if (type != LDNS_RR_TYPE_TXT && type != LDNS_RR_TYPE_SPF && type != LDNS_RR_TYPE_HINFO) return;
  for (size_t i = first; i < tokens.size(); ++i) {
    const size_t octets = string_octets(tokens[i].text);
    if (octets > 255)
      fail_at(at_line(tokens[i].line), "", "bad record: a character-string is " + std::to_string(octets) +
                                               " octets, at most 255 fit (split it into several quoted strings)");
  }
}

// ldns accepts two mistakes silently: a "(" never closed (every later line becomes
// part of one record) and a TTL with trailing junk ("1x" is read as 1 second).
// This pass over the RFC 1035 5.1 text rejects both, and notes the first line of
// every entry by its last line, so that errors in multi-line records point at
// where the record starts. `start_of` is indexed by line.
void scan_master(const std::string& text, const std::function<SourcePos(int)>& at_line, std::vector<int>* start_of) {
  std::vector<Token> tokens;
  // The token being read: text[tok_begin, tok_end). Tokens are contiguous in the
  // text (a comment or a parenthesis ends one), so they are views, not copies.
  size_t tok_begin = 0, tok_end = 0;
  int tok_line = 0, line = 1, depth = 0, open_line = 0, entry_start = 0, quote_line = 0;
  bool quote = false, blank_owner = false;
  size_t line_begin = 0;
  auto note_entry = [&] {
    if (tokens.empty()) return;
    if (start_of->size() <= static_cast<size_t>(line)) start_of->resize(static_cast<size_t>(line) + 1 + start_of->size() / 2);
    (*start_of)[static_cast<size_t>(line)] = entry_start;
  };
  auto flush = [&] {
    if (tok_end > tok_begin) tokens.push_back({std::string_view(text).substr(tok_begin, tok_end - tok_begin), tok_line});
    tok_begin = tok_end = 0;
  };
  auto check_entry = [&] {
    if (tokens.empty()) return;
    if (tokens[0].text[0] == '$') {
      if (iequals(tokens[0].text, "$TTL") && (tokens.size() < 2 || !is_period(tokens[1].text)))
        fail_at(at_line(tokens[0].line), "", "bad record: $TTL needs a TTL like 3600 or 1h");
      return;
    }
    // [owner] then TTL and class in either order, then the type.
    size_t k = blank_owner ? 0 : 1;
    for (const size_t end = k + 2; k < tokens.size() && k < end; ++k) {
      const std::string_view t = tokens[k].text;
      if (is_class(t)) continue;
      if (t[0] < '0' || t[0] > '9') break;
      if (!is_period(t)) fail_at(at_line(tokens[k].line), "", "bad record: bad TTL \"" + std::string(t) + "\"");
    }
    if (k < tokens.size()) check_rdata(tokens[k].text, tokens, k + 1, at_line);
  };
  // Takes text[at] into the token.
  auto add = [&](size_t at) {
    if (tok_end == tok_begin) {
      if (tokens.empty()) {
        entry_start = line;
        blank_owner = line_begin < text.size() && (text[line_begin] == ' ' || text[line_begin] == '\t');
      }
      tok_line = line;
      tok_begin = at;
    }
    tok_end = at + 1;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (quote) {
      if (c == '\\' && i + 1 < text.size()) {
        tok_end = ++i + 1;
        if (text[i] == '\n') ++line, line_begin = i + 1;
        continue;
      }
      tok_end = i + 1;
      if (c == '"') quote = false;
      if (c == '\n') ++line, line_begin = i + 1;
      continue;
    }
    switch (c) {
      case ';':
        while (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        break;
      case '"':
        add(i);
        quote = true;
        quote_line = line;
        break;
      case '(':
        flush();
        if (depth++ == 0) open_line = line;
        break;
      case ')':
        flush();
        if (depth == 0) fail_at(at_line(line), "", "bad record: \")\" without \"(\"");
        --depth;
        break;
      case '\n':
        flush();
        if (depth == 0) {
          check_entry();
          note_entry();
          tokens.clear();
        }
        ++line;
        line_begin = i + 1;
        break;
      case ' ':
      case '\t':
      case '\r':
        flush();
        break;
      case '\\':
        add(i);
        if (i + 1 < text.size() && text[i + 1] != '\n') add(++i);
        break;
      default:
        add(i);
    }
  }
  if (quote) fail_at(at_line(quote_line), "", "bad record: a quoted string is never closed");
  if (depth > 0) fail_at(at_line(open_line), "", "bad record: \"(\" is never closed");
  flush();
  check_entry();
  note_entry();
}

// Reads master-file text with ldns. `first` is where line 1 of the text is in the
// user's file (the config's records block, or the zone file itself).
void read_master(FILE* fp, const std::string& origin_text, const SourcePos& first, RawRecords* out) {
  // Every line of a YAML block scalar starts at the block's indentation, so the
  // column of line 1 is that of every line (1 for a zone file).
  auto at_line = [&](int l) {
    SourcePos p = first;
    p.line = first.line + l - 1;
    return p;
  };
  std::vector<int> start_of;  // by an entry's last line: its first line (0: none ends there)
  {
    std::string text;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, fp)) > 0;) text.append(buf, n);
    scan_master(text, at_line, &start_of);
    rewind(fp);
  }
  auto record_line = [&](int before, int line) {
    const auto last = static_cast<size_t>(line - 1);
    return last < start_of.size() && start_of[last] ? start_of[last] : std::max(before, line - 1);
  };
  RdfPtr origin(ldns_dname_new_frm_str(origin_text.c_str()));
  ldns_rdf* origin_raw = origin.release();
  ldns_rdf* prev = nullptr;
  uint32_t default_ttl = 3600;
  int line = 1;
  auto cleanup = [&]() {
    if (origin_raw) ldns_rdf_deep_free(origin_raw);
    if (prev) ldns_rdf_deep_free(prev);
  };
  while (!feof(fp)) {
    ldns_rr* rr = nullptr;
    const int before = line;
    const ldns_status status = ldns_rr_new_frm_fp_l(&rr, fp, &default_ttl, &origin_raw, &prev, &line);
    // ldns has consumed the record's last line and its newline; scan_master knows
    // where the entry ending there started.
    RrPtr owned(rr);
    if (status == LDNS_STATUS_SYNTAX_EMPTY || status == LDNS_STATUS_SYNTAX_TTL || status == LDNS_STATUS_SYNTAX_ORIGIN)
      continue;
    if (status == LDNS_STATUS_SYNTAX_INCLUDE) {
      cleanup();
      fail_at(at_line(before), "", "$INCLUDE is not supported: list the file as its own zone's zonefile");
    }
    if (status != LDNS_STATUS_OK) {
      if (feof(fp) && status == LDNS_STATUS_SYNTAX_ERR && before == line) break;
      cleanup();
      fail_at(at_line(record_line(before, line)), "", std::string("bad record: ") + ldns_get_errorstr_by_id(status));
    }
    // ldns takes RFC 3597 generic RDATA for a known type without holding it to the
    // type's fields: "CNAME \# 0" parses to no field, which would then be served, or
    // read past (a CNAME's target, an SOA's MINIMUM) while the zone is built.
    const ldns_rr_descriptor* type = ldns_rr_descript(ldns_rr_get_type(rr));
    if (const size_t needs = ldns_rr_descriptor_minimum(type); ldns_rr_rd_count(rr) < needs) {
      cleanup();
      fail_at(at_line(record_line(before, line)), "",
              "bad record: " + std::string(type->_name) + " RDATA needs at least " + std::to_string(needs) +
                  (needs == 1 ? " field" : " fields") + ", got " + std::to_string(ldns_rr_rd_count(rr)) +
                  " from the generic (\\#) form");
    }
    add_from_ldns(out, rr, &first, first.line + record_line(before, line) - 1);
  }
  cleanup();
}

bool compressible(uint16_t type) {
  // RFC 3597 section 4: only the RFC 1035 types may carry compressed names.
  return type == type::NS || type == type::CNAME || type == type::SOA || type == type::PTR || type == type::MX;
}

void put16(std::vector<uint8_t>* b, uint16_t v) {
  b->push_back(static_cast<uint8_t>(v >> 8));
  b->push_back(static_cast<uint8_t>(v));
}
void put32(std::vector<uint8_t>* b, uint32_t v) {
  put16(b, static_cast<uint16_t>(v >> 16));
  put16(b, static_cast<uint16_t>(v));
}

// Appends a name: with compression, a name in the zone becomes its leading labels
// and a pointer to the origin, patched per answer.
void put_name(RRset* set, std::string_view wire, const std::string& origin, bool compress) {
  if (compress) {
    const std::string lower = lower_wire(reinterpret_cast<const uint8_t*>(wire.data()), wire.size());
    if (name_is_at_or_below(lower, origin)) {
      const size_t prefix = wire.size() - origin.size();
      set->body.insert(set->body.end(), wire.begin(), wire.begin() + static_cast<long>(prefix));
      set->add_fixup();
      put16(&set->body, 0xC000);
      return;
    }
  }
  set->body.insert(set->body.end(), wire.begin(), wire.end());
}

void encode(RRset* set, const RawRecords& records, const RawRecord& rec, const std::string& origin) {
  set->start_rr();
  put16(&set->body, rec.type);
  put16(&set->body, kClassIN);
  put32(&set->body, set->ttl);
  const size_t rdlen_at = set->body.size();
  put16(&set->body, 0);
  for (const RawRecords::Field& f : records.fields(rec)) {
    const std::string_view bytes = records.bytes(f);
    if (f.is_name) {
      put_name(set, bytes, origin, compressible(rec.type));
    } else {
      set->body.insert(set->body.end(), bytes.begin(), bytes.end());
    }
  }
  const size_t rdlen = set->body.size() - rdlen_at - 2;
  set->body[rdlen_at] = static_cast<uint8_t>(rdlen >> 8);
  set->body[rdlen_at + 1] = static_cast<uint8_t>(rdlen);
}

std::string text_of(std::string_view wire) { return name_to_text(wire); }

// Label offsets of a lower-case wire name, for resolve().
unsigned label_offsets(std::string_view name, uint8_t* offsets) {
  unsigned n = 0;
  for (size_t at = 0; at < name.size() && name[at] != 0; at += static_cast<uint8_t>(name[at]) + 1)
    offsets[n++] = static_cast<uint8_t>(at);
  return n;
}

void add_name_field(RawRecords* r, const std::string& text) {
  std::string wire;
  name_from_text(text, &wire);
  r->add_field(wire, true);
}
void add_u32_field(RawRecords* r, uint32_t v) {
  const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                         static_cast<char>(v)};
  r->add_field({bytes, 4}, false);
}

// "zones[0].soa": the key path of a zone's setting, for messages.
std::string key_path(const ZoneConfig& config, const char* key) {
  return config.path.empty() ? key : config.path + "." + key;
}

// Every record outside the zone, up to a screenful, so that one run shows them all
// (a zone pasted under the wrong origin has many).
void outside_the_zone(const RawRecords& records, const Zone& zone) {
  constexpr size_t kMaxReported = 20;
  std::string message;
  size_t count = 0;
  for (size_t i = 0; i < records.size(); ++i) {
    const RawRecord& r = records[i];
    if (name_is_at_or_below(records.owner(r), zone.origin)) continue;
    if (++count > kMaxReported) continue;
    if (!message.empty()) message += "\n";
    message.append(r.pos().describe()).append(": record for ").append(text_of(records.owner(r))).append(" is outside the zone ").append(zone.origin_text);
  }
  if (count > kMaxReported)
    message.append("\n").append(std::to_string(count - kMaxReported)).append(" more records are outside the zone ").append(zone.origin_text);
  if (count > 0) throw ConfigError(message);
}

}  // namespace

std::string zone_inputs(const ZoneConfig& config, uint32_t default_serial, const std::vector<ServiceName>& services) {
  if (config.dnssec) return "";
  std::string key;
  // Each field with its length first, so that no two different inputs concatenate alike.
  auto field = [&](std::string_view v) { key.append(std::to_string(v.size())).append(":").append(v); };
  auto number = [&](uint64_t v) { field(std::to_string(v)); };
  field(config.origin);
  const SoaConfig& s = config.soa;
  number(s.present);
  if (s.present) {
    field(s.mname);
    field(s.rname);
    for (uint32_t v : {s.serial ? s.serial : default_serial, s.refresh, s.retry, s.expire, s.minimum, s.ttl}) number(v);
  }
  number(config.ns.size());
  for (const std::string& ns : config.ns) field(ns);
  field(config.records);
  field(config.zonefile);
  if (!config.zonefile.empty()) {
    struct stat st {};
    if (stat(config.zonefile.c_str(), &st) != 0) return "";
    for (uint64_t v : {uint64_t(st.st_dev), uint64_t(st.st_ino), uint64_t(st.st_size), uint64_t(st.st_mtim.tv_sec),
                       uint64_t(st.st_mtim.tv_nsec), uint64_t(st.st_ctim.tv_sec), uint64_t(st.st_ctim.tv_nsec)})
      number(v);
  }
  number(services.size());
  for (const ServiceName& service : services) {
    field(service.name);
    number(static_cast<uint32_t>(service.index));
  }
  return key;
}

std::unique_ptr<Zone> build_zone(const ZoneConfig& config, uint32_t default_serial,
                                 const std::vector<ServiceName>& services) {
  auto zone = std::make_unique<Zone>();
  name_from_text(config.origin, &zone->origin);
  zone->origin_text = config.origin;
  {
    uint8_t offsets[kMaxLabels];
    zone->origin_labels = label_offsets(zone->origin, offsets);
  }
  const std::string& origin = zone->origin;

  RawRecords records;
  if (config.soa.present) {
    const SoaConfig& s = config.soa;
    records.add(origin, type::SOA, s.ttl, &s.pos, 0);
    add_name_field(&records, s.mname);
    add_name_field(&records, s.rname);
    add_u32_field(&records, s.serial ? s.serial : default_serial);
    add_u32_field(&records, s.refresh);
    add_u32_field(&records, s.retry);
    add_u32_field(&records, s.expire);
    add_u32_field(&records, s.minimum);
  }
  for (const std::string& ns : config.ns) {
    records.add(origin, type::NS, config.soa.present ? config.soa.ttl : 3600, &config.ns_pos, 0);
    add_name_field(&records, ns);
  }
  if (!config.records.empty()) {
    FILE* fp = fmemopen(const_cast<char*>(config.records.data()), config.records.size(), "r");
    if (!fp) fail_at(config.records_pos, "", "cannot read records");
    try {
      read_master(fp, config.origin, config.records_pos, &records);
    } catch (...) {
      fclose(fp);
      throw;
    }
    fclose(fp);
  }
  const SourcePos zonefile_start{config.zonefile, 1, 1};  // outlives the records that point at it
  if (!config.zonefile.empty()) {
    FILE* fp = fopen(config.zonefile.c_str(), "r");
    if (!fp) fail_at(config.zonefile_pos, key_path(config, "zonefile"), "cannot open " + config.zonefile + ": " + std::strerror(errno));
    try {
      read_master(fp, config.origin, zonefile_start, &records);
    } catch (...) {
      fclose(fp);
      throw;
    }
    fclose(fp);
  }

  // Group into nodes and RRsets, checking what RFC 1034/2181 forbid. Sorting the
  // records by (owner, type) makes each RRset a run, in the order the checks
  // below report in, without a map node per record.
  outside_the_zone(records, *zone);
  std::vector<uint32_t> order(records.size());
  for (uint32_t i = 0; i < order.size(); ++i) {
    const RawRecord& r = records[i];
    if (r.type == type::SOA && records.owner(r) != origin)
      fail_at(r.pos(), "", "SOA record for " + text_of(records.owner(r)) + " is not at the zone apex");
    order[i] = i;
  }
  auto before = [&](uint32_t a, uint32_t b) {
    const int c = records.owner(records[a]).compare(records.owner(records[b]));
    return c != 0 ? c < 0 : records[a].type < records[b].type;
  };
  std::stable_sort(order.begin(), order.end(), before);
  // One RRset's records: order[begin, end).
  struct Run {
    uint32_t begin = 0, end = 0;
  };
  std::vector<Run> runs;
  for (uint32_t i = 0; i < order.size(); ++i) {
    if (i == 0 || before(order[i - 1], order[i])) runs.push_back({i, i});
    runs.back().end = i + 1;
  }
  auto list_of = [&](const Run& run, size_t k) -> const RawRecord& { return records[order[run.begin + k]]; };
  // The run of (owner, type), or null.
  auto find_run = [&](std::string_view owner, uint16_t rrtype) -> const Run* {
    auto it = std::lower_bound(runs.begin(), runs.end(), std::pair(owner, rrtype), [&](const Run& run, const auto& key) {
      const RawRecord& r = list_of(run, 0);
      const int c = records.owner(r).compare(key.first);
      return c != 0 ? c < 0 : r.type < key.second;
    });
    if (it == runs.end() || records.owner(list_of(*it, 0)) != owner || list_of(*it, 0).type != rrtype) return nullptr;
    return &*it;
  };
  const Run* soa_run = find_run(origin, type::SOA);
  if (!soa_run) fail_at(config.pos, key_path(config, "soa"), "zone " + config.origin + " has no SOA record");
  if (soa_run->end - soa_run->begin > 1) fail_at(list_of(*soa_run, 1).pos(), "", "zone " + config.origin + " has more than one SOA record");
  if (!find_run(origin, type::NS))
    fail_at(config.pos, key_path(config, "ns"), "zone " + config.origin + " has no NS records at its apex (add 'ns: [...]')");

  for (const ServiceName& s : services) {
    for (uint16_t t : {type::A, type::AAAA, type::CNAME}) {
      if (const Run* run = find_run(s.name, t))
        fail_at(list_of(*run, 0).pos(), "", text_of(s.name) + " is a service name: its addresses come from its clusters, remove this record");
    }
    // NS below the apex would make the service name a zone cut, answered with a
    // referral: the service would never be asked.
    if (const Run* run = find_run(s.name, type::NS); run && s.name != origin)
      fail_at(list_of(*run, 0).pos(), "", text_of(s.name) + " is a service name: it cannot also be delegated, remove this record");
  }

  // Each node's runs are adjacent: the node is looked up once for all its RRsets.
  zone->nodes.reserve(runs.size() + services.size());
  Node* node = nullptr;
  std::vector<Node*> run_nodes;  // each run's node, for the passes below
  run_nodes.reserve(runs.size());
  std::set<std::string> identities;  // of an RRset's records, RFC 2181 5: duplicates are one record
  for (const Run& run : runs) {
    const RawRecord& head = list_of(run, 0);
    if (!node || node->name != records.owner(head)) node = &zone->add_node(records.owner(head));
    run_nodes.push_back(node);
    RRset set;
    set.type = head.type;
    set.ttl = head.ttl;
    for (uint32_t k = run.begin; k < run.end; ++k) set.ttl = std::min(set.ttl, records[order[k]].ttl);  // RFC 2181 5.2
    identities.clear();
    for (uint32_t k = run.begin; k < run.end; ++k) {
      const RawRecord& r = records[order[k]];
      if (run.end - run.begin > 1) {  // a single record has no duplicate: no set node for it
        std::string identity;
        for (const auto& f : records.fields(r)) {
          const std::string_view bytes = records.bytes(f);
          if (f.is_name) {
            identity += lower_wire(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
          } else {
            identity += bytes;
          }
        }
        if (!identities.insert(std::move(identity)).second) continue;
      }
      encode(&set, records, r, origin);
      ++zone->record_count;
    }
    if (set.body.size() > 65535) fail_at(head.pos(), "", "RRset " + text_of(records.owner(head)) + " is larger than a DNS message");
    node->rrsets.push_back(std::move(set));
  }

  for (auto& [owner, n] : zone->nodes) {
    const RRset* cname = n.find(type::CNAME);
    if (cname && owner == origin) fail_at(list_of(*find_run(owner, type::CNAME), 0).pos(), "", "the zone apex cannot be a CNAME");
    if (cname && n.rrsets.size() > 1)
      fail_at(list_of(*find_run(owner, type::CNAME), 0).pos(), "", text_of(owner) + " has a CNAME and other data (RFC 1034 section 3.6.2)");
    if (cname && cname->count > 1) fail_at(list_of(*find_run(owner, type::CNAME), 1).pos(), "", text_of(owner) + " has more than one CNAME");
    if (const RRset* dname = n.find(type::DNAME)) {
      const Run& run = *find_run(owner, type::DNAME);
      if (dname->count > 1) fail_at(list_of(run, 1).pos(), "", text_of(owner) + " has more than one DNAME (RFC 6672 section 2.4)");
      if (owner != origin && n.find(type::NS))
        fail_at(list_of(run, 0).pos(), "", text_of(owner) + " has a DNAME and NS records: below the apex the DNAME would be the child zone's");
      n.has_dname = true;
      const RawRecord& r = list_of(run, 0);
      n.make_alias().dname_target = records.bytes(records.fields(r)[0]);
      zone->has_dnames = true;
    }
    if (owner != origin && n.find(type::NS)) {
      n.delegation = true;
      zone->has_delegations = true;
    }
    if (owner.size() >= 2 && owner[0] == 1 && owner[1] == '*') zone->has_wildcards = true;
  }

  for (const ServiceName& s : services) zone->add_node(s.name).service = s.index;

  // Empty non-terminals: every ancestor of a name, up to the apex, exists. Walking
  // up stops at the first ancestor that does: its own ancestors are there already
  // or are added when its turn comes.
  std::vector<std::string_view> owners;
  owners.reserve(zone->nodes.size());
  for (const auto& [owner, n] : zone->nodes) owners.push_back(owner);
  for (std::string_view name : owners) {
    while (name.size() > origin.size()) {
      name.remove_prefix(static_cast<uint8_t>(name[0]) + 1u);
      if (zone->nodes.find(name) != zone->nodes.end()) break;
      zone->add_node(name);
    }
  }
  zone->apex = zone->find(origin);

  // Data below a cut is not ours to answer: only glue addresses may sit there.
  if (zone->has_delegations) {
    for (const auto& [owner, n] : zone->nodes) {
      uint8_t offsets[kMaxLabels];
      const unsigned labels = label_offsets(owner, offsets);
      const Resolution res = resolve(*zone, owner, offsets, labels);
      if (res.kind != Resolution::referral || res.node == &n) continue;
      if (n.service >= 0) fail_at(config.pos, "", "service " + text_of(owner) + " lies below the delegation " + text_of(res.node->name));
      for (const RRset& set : n.rrsets) {
        if (set.type != type::A && set.type != type::AAAA)
          fail_at(list_of(*find_run(owner, set.type), 0).pos(), "",
                  text_of(owner) + " lies below the delegation " + text_of(res.node->name) + ": only glue A/AAAA records may be there");
      }
    }
  }

  // RFC 6672 section 2.4: nothing exists below a DNAME's owner; queries there are redirected.
  if (zone->has_dnames) {
    for (const auto& [owner, n] : zone->nodes) {
      if (n.rrsets.empty() && n.service < 0) continue;  // an empty non-terminal above a name reported here
      uint8_t offsets[kMaxLabels];
      const unsigned labels = label_offsets(owner, offsets);
      const Resolution res = resolve(*zone, owner, offsets, labels);
      if (res.kind != Resolution::dname) continue;
      const std::string where = text_of(owner) + " lies below the DNAME at " + text_of(res.node->name);
      if (n.service >= 0) fail_at(config.pos, "", "service " + where);
      fail_at(list_of(*find_run(owner, n.rrsets.front().type), 0).pos(), "", where + ": nothing may exist there (RFC 6672 section 2.4)");
    }
  }

  // Resolved at load, so that answering follows pointers: CNAME targets, and the
  // in-zone hosts of NS, MX and SRV records whose addresses go in the additional
  // section. The runs are in node order and, within a node, in RRset order.
  size_t set_index = 0;
  for (size_t i = 0; i < runs.size(); ++i) {
    const Run& run = runs[i];
    const RawRecord& head = list_of(run, 0);
    set_index = i > 0 && run_nodes[i - 1] == run_nodes[i] ? set_index + 1 : 0;
    node = run_nodes[i];
    RRset& set = node->rrsets[set_index];
    if (set.type == type::CNAME) {
      const std::string_view written = records.bytes(records.fields(head)[0]);
      const std::string target = lower_wire(reinterpret_cast<const uint8_t*>(written.data()), written.size());
      if (!name_is_at_or_below(target, origin)) continue;
      uint8_t offsets[kMaxLabels];
      const unsigned labels = label_offsets(target, offsets);
      const Resolution res = resolve(*zone, target, offsets, labels);
      NodeAlias& alias = node->make_alias();
      alias.cname_target_name = target;
      if (res.kind == Resolution::exact || res.kind == Resolution::wildcard) alias.cname_target = res.node;
      if (res.kind == Resolution::nxdomain) alias.cname_target_missing = true;
      if (res.kind == Resolution::referral) alias.cname_target_cut = res.node;
      if (res.kind == Resolution::dname) alias.cname_target_dname = res.node;
      continue;
    }
    size_t name_field;
    if (set.type == type::NS) {
      name_field = 0;
    } else if (set.type == type::MX) {
      name_field = 1;
    } else if (set.type == type::SRV) {
      name_field = 3;
    } else {
      continue;
    }
    for (uint32_t k = run.begin; k < run.end; ++k) {
      const RawRecord& r = records[order[k]];
      const auto fields = records.fields(r);
      if (fields.size() <= name_field || !fields[name_field].is_name) continue;
      const std::string_view f = records.bytes(fields[name_field]);
      const Node* host = zone->find(lower_wire(reinterpret_cast<const uint8_t*>(f.data()), f.size()));
      if (host && (host->find(type::A) || host->find(type::AAAA)) &&
          std::find(set.additional.begin(), set.additional.end(), host) == set.additional.end())
        set.additional.push_back(host);
    }
  }

  // RFC 2308 section 5: negative answers carry the SOA with TTL min(SOA TTL, MINIMUM).
  const RRset* soa = zone->apex->find(type::SOA);
  zone->negative_soa = *soa;
  const std::string_view min_field = records.bytes(records.fields(list_of(*soa_run, 0)).back());
  const uint32_t minimum = (uint32_t(uint8_t(min_field[0])) << 24) | (uint32_t(uint8_t(min_field[1])) << 16) |
                           (uint32_t(uint8_t(min_field[2])) << 8) | uint8_t(min_field[3]);
  const uint32_t neg_ttl = std::min(soa->ttl, minimum);
  uint8_t* ttl_at = zone->negative_soa.body.data() + 4;
  ttl_at[0] = static_cast<uint8_t>(neg_ttl >> 24);
  ttl_at[1] = static_cast<uint8_t>(neg_ttl >> 16);
  ttl_at[2] = static_cast<uint8_t>(neg_ttl >> 8);
  ttl_at[3] = static_cast<uint8_t>(neg_ttl);
  zone->negative_soa.ttl = neg_ttl;
  return zone;
}

}  // namespace gslb::dns
