#include "dnsd/config.h"
#include "dnsd/data_files.h"

#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "dnsd/cookies.h"
#include "dnsd/dname.h"

namespace gslb::dns {

std::string SourcePos::describe() const {
  std::string s = file;
  // Appended piecewise: GCC 12 at -O3 misreports ":" + std::string as -Wrestrict.
  if (line > 0) (((s += ':') += std::to_string(line)) += ':') += std::to_string(column);
  return s;
}

void fail_at(const SourcePos& pos, const std::string& path, const std::string& reason) {
  std::string msg = pos.describe() + ": ";
  if (!path.empty()) msg += path + ": ";
  throw ConfigError(msg + reason);
}

bool parse_endpoint(const std::string& text, uint16_t default_port, Endpoint* out) {
  std::string host = text;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos) return false;
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return false;
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  // Whole, so that an IPv4 address reparsed into an Endpoint that held an IPv6 one
  // leaves no bytes of it behind: equality compares all 16.
  *out = Endpoint{};
  out->text = text;
  if (inet_pton(AF_INET, host.c_str(), out->address) == 1) {
    out->v6 = false;
  } else if (inet_pton(AF_INET6, host.c_str(), out->address) == 1) {
    out->v6 = true;
  } else {
    return false;
  }
  if (port.empty()) {
    if (default_port == 0) return false;
    out->port = default_port;
    return true;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535) return false;
  out->port = static_cast<uint16_t>(value);
  return true;
}

bool parse_prefix(const std::string& text, Prefix* out) {
  const size_t slash = text.find('/');
  if (slash == std::string::npos) return false;
  const std::string addr = text.substr(0, slash);
  const std::string len = text.substr(slash + 1);
  *out = Prefix{};
  if (inet_pton(AF_INET, addr.c_str(), out->address) == 1) {
    out->v6 = false;
  } else if (inet_pton(AF_INET6, addr.c_str(), out->address) == 1) {
    out->v6 = true;
  } else {
    return false;
  }
  unsigned value = 0;
  auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), value);
  if (ec != std::errc() || end != len.data() + len.size() || len.empty() || value > (out->v6 ? 128u : 32u)) return false;
  out->length = static_cast<uint8_t>(value);
  for (unsigned bit = value; bit < (out->v6 ? 128u : 32u); ++bit)
    if (out->address[bit / 8] & (0x80 >> (bit % 8))) return false;
  return true;
}

namespace {

using Millis = std::chrono::milliseconds;

// Timers and TTLs past a week are typos, not intents.
constexpr Millis kMaxDuration = std::chrono::hours(24 * 7);

// As it would be written: the largest unit that divides it ("100ms", "10s", "1d").
std::string duration_text(Millis d) {
  const long long ms = d.count();
  for (const auto& [scale, unit] : {std::pair{86400000LL, "d"}, {3600000LL, "h"}, {60000LL, "m"}, {1000LL, "s"}})
    if (ms != 0 && ms % scale == 0) return std::to_string(ms / scale) + unit;
  return std::to_string(ms) + "ms";
}

// Walks the YAML tree with the key path and file at hand, so that every error names
// where the user wrote the offending text and what was expected there.
class Reader {
 public:
  Reader(std::string file, std::vector<std::string> lines) : file_(std::move(file)), lines_(std::move(lines)) {}

  // Where a scalar's text begins: a block scalar's mark is its indicator ("|" or
  // ">"), and its text starts on the next line at the block's indentation.
  SourcePos text_start(const YAML::Node& n) const {
    SourcePos p = pos(n);
    const size_t line = static_cast<size_t>(p.line - 1);
    if (p.line > 0 && line < lines_.size() && static_cast<size_t>(p.column - 1) < lines_[line].size()) {
      const char c = lines_[line][static_cast<size_t>(p.column - 1)];
      if (c == '|' || c == '>') {
        p.line += 1;
        p.column = 1;
        if (line + 1 < lines_.size()) p.column = static_cast<int>(lines_[line + 1].find_first_not_of(' ') + 1);
      }
    }
    return p;
  }

  SourcePos pos(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  [[noreturn]] void fail(const YAML::Node& n, const std::string& path, const std::string& reason) const {
    fail_at(pos(n), path, reason);
  }

  // `keys`, then `more` (a schema table's keys, say), are the ones `n` may have.
  void expect_map(const YAML::Node& n, const std::string& path, std::initializer_list<const char*> keys,
                  const std::vector<std::string>& more = {}) const {
    if (!n.IsMap()) fail(n, path, "expected a mapping");
    std::vector<std::string> all(keys.begin(), keys.end());
    all.insert(all.end(), more.begin(), more.end());
    for (const auto& kv : n) {
      const std::string key = kv.first.Scalar();
      if (std::find(all.begin(), all.end(), key) == all.end()) {
        std::string allowed;
        for (const std::string& k : all) (allowed += allowed.empty() ? "" : ", ") += k;
        fail(kv.first, join(path, key), "unknown key (expected one of: " + allowed + ")");
      }
    }
  }
  const YAML::Node required(const YAML::Node& map, const std::string& path, const char* key) const {
    const YAML::Node n = map[key];
    if (!n) fail(map, path, std::string("missing required key '") + key + "'");
    return n;
  }

  std::string string(const YAML::Node& n, const std::string& path) const {
    if (!n.IsScalar()) fail(n, path, "expected a string");
    return n.Scalar();
  }
  uint64_t integer(const YAML::Node& n, const std::string& path, uint64_t min, uint64_t max) const {
    if (!n.IsScalar()) fail(n, path, "expected an integer");
    const std::string& s = n.Scalar();
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size())
      fail(n, path, "expected an integer, got \"" + s + "\"");
    if (value < min || value > max)
      fail(n, path, "expected an integer from " + std::to_string(min) + " to " + std::to_string(max) + ", got " + s);
    return value;
  }
  double real(const YAML::Node& n, const std::string& path, double min, double max) const {
    if (!n.IsScalar()) fail(n, path, "expected a number");
    const std::string& s = n.Scalar();
    double value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc() || end != s.data() + s.size()) fail(n, path, "expected a number, got \"" + s + "\"");
    // Written so that NaN ("nan" parses) fails it too.
    if (!(value >= min && value <= max)) fail(n, path, "expected a number from " + fmt(min) + " to " + fmt(max) + ", got " + s);
    return value;
  }
  bool boolean(const YAML::Node& n, const std::string& path) const {
    const std::string s = string(n, path);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(n, path, "expected true or false, got \"" + s + "\"");
  }
  // "250ms", "2s", "1m", "2h", "1d"; a TTL-style plain integer only where
  // `plain_unit_ms` is set. Range-checked before scaling, so no value wraps.
  std::chrono::milliseconds duration(const YAML::Node& n, const std::string& path, uint64_t plain_unit_ms = 0,
                                     Millis min = Millis(0), Millis max = kMaxDuration) const {
    const std::string s = string(n, path);
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    const std::string unit(end, s.data() + s.size());
    const uint64_t scale = unit == "ms" ? 1 : unit == "s" ? 1000 : unit == "m" ? 60000 : unit == "h" ? 3600000
                         : unit == "d" ? 86400000 : unit.empty() ? plain_unit_ms : 0;
    if (ec == std::errc::result_out_of_range) fail(n, path, "must be at most " + duration_text(max) + ", got \"" + s + "\"");
    if (ec != std::errc() || scale == 0)
      fail(n, path, "expected a duration like \"5s\", \"250ms\", \"1m\", \"2h\" or \"1d\", got \"" + s + "\"");
    if (value > static_cast<uint64_t>(max.count()) / scale)
      fail(n, path, "must be at most " + duration_text(max) + ", got \"" + s + "\"");
    const Millis ms(static_cast<Millis::rep>(value * scale));
    if (ms < min) fail(n, path, "must be at least " + duration_text(min));
    return ms;
  }
  std::string dname(const YAML::Node& n, const std::string& path) const {
    std::string text = string(n, path);
    std::string wire;
    if (!name_from_text(text, &wire)) fail(n, path, "expected a domain name, got \"" + text + "\"");
    if (text.back() != '.') text += '.';
    return text;
  }
  std::string file_path(const YAML::Node& n, const std::string& path, const std::string& config_dir) const {
    std::string p = string(n, path);
    if (p.empty()) fail(n, path, "expected a file path");
    if (p.front() != '/') p = (std::filesystem::path(config_dir) / p).lexically_normal().string();
    return p;
  }

  static std::string join(const std::string& path, const std::string& key) {
    return path.empty() ? key : path + "." + key;
  }
  static std::string index(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }
  static std::string fmt(double v) {
    std::ostringstream o;
    o << v;
    return o.str();
  }

 // Records where the key at `path` was written (Config::key_positions).
  void note_key(const std::string& path, const YAML::Node& key) const { key_positions_[path] = pos(key); }
  std::map<std::string, SourcePos> take_key_positions() { return std::move(key_positions_); }

 private:
  std::string file_;
  std::vector<std::string> lines_;
  // A record kept while reading, beside it: every reader sees the Reader const.
  mutable std::map<std::string, SourcePos> key_positions_;
};

// The schema (after Knot's conf/schema.c): one Field per key of a section, giving
// its type and range, whether a reload may change it, and how its text becomes the
// typed member. A key's default is the struct's member initializer, printed from it,
// so that it is written in one place. Adding a key is one line in its section's table.
template <class T>
struct Field {
  std::string key;
  Reload reload = Reload::applies;
  std::string type;  // for the schema listing: "integer 1..256"
  std::function<void(const Reader&, const YAML::Node&, const std::string& path, const std::string& config_dir, T*)> read;
  std::function<bool(const T&, const T&)> same;
  std::function<std::string(const T&)> show;  // the value as written; "" when there is none to show
  bool required = false;
};

template <class T, class V>
Field<T> member_field(std::string key, V T::*m, Reload reload, std::string type,
                      std::function<V(const Reader&, const YAML::Node&, const std::string&, const std::string&)> read,
                      std::function<std::string(const V&)> show = {}) {
  return {std::move(key), reload, std::move(type),
          [m, read](const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir, T* out) {
            out->*m = read(r, n, path, dir);
          },
          [m](const T& a, const T& b) { return a.*m == b.*m; },
          [m, show](const T& t) { return show ? show(t.*m) : std::string(); }};
}

template <class T, class V>
Field<T> integer(std::string key, V T::*m, uint64_t min, uint64_t max, Reload reload) {
  return member_field<T, V>(std::move(key), m, reload, "integer " + std::to_string(min) + ".." + std::to_string(max),
                            [min, max](const Reader& r, const YAML::Node& n, const std::string& path, const std::string&) {
                              return static_cast<V>(r.integer(n, path, min, max));
                            },
                            [](const V& v) { return std::to_string(v); });
}

template <class T>
Field<T> duration(std::string key, Millis T::*m, Millis min, Millis max, Reload reload) {
  return member_field<T, Millis>(std::move(key), m, reload, "duration " + duration_text(min) + ".." + duration_text(max),
                                 [min, max](const Reader& r, const YAML::Node& n, const std::string& path, const std::string&) {
                                   return r.duration(n, path, 0, min, max);
                                 },
                                 [](const Millis& v) { return duration_text(v); });
}

template <class T>
Field<T> text(std::string key, std::string T::*m, size_t max, Reload reload) {
  return member_field<T, std::string>(std::move(key), m, reload, "string of 1.." + std::to_string(max) + " characters",
                                      [max](const Reader& r, const YAML::Node& n, const std::string& path, const std::string&) {
                                        std::string v = r.string(n, path);
                                        if (v.empty() || v.size() > max)
                                          r.fail(n, path, "expected 1 to " + std::to_string(max) + " characters");
                                        return v;
                                      });
}

template <class T>
Field<T> file(std::string key, std::string T::*m, Reload reload) {
  return member_field<T, std::string>(std::move(key), m, reload, "file path (relative to the config's directory)",
                                      [](const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir) {
                                        return r.file_path(n, path, dir);
                                      });
}

template <class T>
Field<T> flag(std::string key, bool T::*m, Reload reload) {
  return member_field<T, bool>(std::move(key), m, reload, "true or false",
                               [](const Reader& r, const YAML::Node& n, const std::string& path, const std::string&) {
                                 return r.boolean(n, path);
                               },
                               [](const bool& v) { return std::string(v ? "true" : "false"); });
}

// A section or a key with its own reader: `V` must compare with ==.
template <class T, class V>
Field<T> custom(std::string key, V T::*m, Reload reload, std::string type,
                void (*read)(const Reader&, const YAML::Node&, const std::string& path, const std::string& dir, V*)) {
  return {std::move(key), reload, std::move(type),
          [m, read](const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir, T* out) {
            read(r, n, path, dir, &(out->*m));
          },
          [m](const T& a, const T& b) { return a.*m == b.*m; },
          [](const T&) { return std::string(); }};
}

template <class T>
Field<T> required(Field<T> f) {
  f.required = true;
  return f;
}

// Reads the mapping `n` into `out` by `fields`: unknown keys and missing required
// ones are errors; keys left out keep the struct's defaults.
template <class T>
void read_fields(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& config_dir,
                 const std::vector<Field<T>>& fields, T* out) {
  if (!n.IsMap()) r.fail(n, path, "expected a mapping");
  for (const auto& kv : n) {
    const std::string key = kv.first.Scalar();
    if (std::any_of(fields.begin(), fields.end(), [&](const Field<T>& f) { return f.key == key; })) {
      r.note_key(Reader::join(path, key), kv.first);
      continue;
    }
    std::string allowed;
    for (const Field<T>& f : fields) ((allowed += allowed.empty() ? "" : ", ") += f.key);
    r.fail(kv.first, Reader::join(path, key), "unknown key (expected one of: " + allowed + ")");
  }
  for (const Field<T>& f : fields) {
    if (const YAML::Node v = n[f.key]) {
      f.read(r, v, Reader::join(path, f.key), config_dir, out);
    } else if (f.required) {
      r.fail(n, path, "missing required key '" + f.key + "'");
    }
  }
}

template <class T>
std::vector<std::string> field_keys(const std::vector<Field<T>>& fields) {
  std::vector<std::string> keys;
  for (const Field<T>& f : fields) keys.push_back(f.key);
  return keys;
}

template <class T>
void list_fields(const std::string& path, const std::vector<Field<T>>& fields, std::vector<SchemaKey>* out) {
  const T defaults{};
  for (const Field<T>& f : fields)
    out->push_back({Reader::join(path, f.key), f.type, f.required ? "" : f.show(defaults), f.reload});
}

geo::Location read_location(const Reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_map(n, path, {"lat", "lon", "country", "region"});
  geo::Location loc;
  const bool has_coords = n["lat"] || n["lon"];
  const int forms = int(has_coords) + int(bool(n["country"])) + int(bool(n["region"]));
  if (forms != 1) r.fail(n, path, "expected exactly one of {lat, lon}, {country} or {region}");
  if (has_coords) {
    loc.lat = r.real(r.required(n, path, "lat"), Reader::join(path, "lat"), -90, 90);
    loc.lon = r.real(r.required(n, path, "lon"), Reader::join(path, "lon"), -180, 180);
  } else if (n["country"]) {
    std::string c = r.string(n["country"], Reader::join(path, "country"));
    if (c.size() != 2 || !std::isalpha(static_cast<unsigned char>(c[0])) || !std::isalpha(static_cast<unsigned char>(c[1])))
      r.fail(n["country"], Reader::join(path, "country"), "expected a two-letter country code, got \"" + c + "\"");
    for (char& ch : c) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    loc.country = c;
  } else {
    loc.region = r.string(n["region"], Reader::join(path, "region"));
    if (loc.region.empty()) r.fail(n["region"], Reader::join(path, "region"), "expected a region name");
  }
  return loc;
}

void read_exempt(const Reader& r, const YAML::Node& ex, const std::string& path, const std::string&, std::vector<Prefix>* out) {
  if (!ex.IsSequence()) r.fail(ex, path, "expected a list of prefixes like \"192.0.2.0/24\"");
  for (size_t i = 0; i < ex.size(); ++i) {
    Prefix p;
    const std::string text = r.string(ex[i], Reader::index(path, i));
    if (!parse_prefix(text, &p))
      r.fail(ex[i], Reader::index(path, i), "expected a prefix like \"192.0.2.0/24\" or \"2001:db8::/32\", got \"" + text + "\"");
    out->push_back(p);
  }
}

const std::vector<Field<RateLimitConfig>>& rrl_fields() {
  using C = RateLimitConfig;
  static const std::vector<Field<C>> fields = {
      required(integer("responses_per_second", &C::responses_per_second, 1, 10000000, Reload::applies)),
      integer("slip", &C::slip, 0, 10, Reload::applies),
      integer("ipv4_prefix", &C::ipv4_prefix, 8, 32, Reload::applies),
      integer("ipv6_prefix", &C::ipv6_prefix, 16, 128, Reload::applies),
      custom("exempt", &C::exempt, Reload::applies, "list of prefixes", read_exempt),
  };
  return fields;
}

void read_rrl(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir, RateLimitConfig* rrl) {
  read_fields(r, n, path, dir, rrl_fields(), rrl);
}

// server.xdp: the interface's existence and queues are checked at start, not here:
// checkconf may run on another machine than the server.
void read_xdp(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, XdpConfig* x) {
  r.expect_map(n, path, {"interface", "queues"});
  x->interface = r.string(r.required(n, path, "interface"), path + ".interface");
  if (x->interface.empty() || x->interface.size() >= 16)
    r.fail(n["interface"], path + ".interface", "expected a network interface name (1 to 15 characters)");
  const YAML::Node q = n["queues"];
  if (!q || (q.IsScalar() && q.Scalar() == "all")) return;
  if (!q.IsSequence() || q.size() == 0) r.fail(q, path + ".queues", "expected \"all\" or a list of queue numbers like [0, 1]");
  for (size_t i = 0; i < q.size(); ++i) {
    const unsigned id = static_cast<unsigned>(r.integer(q[i], Reader::index(path + ".queues", i), 0, 255));
    if (std::find(x->queues.begin(), x->queues.end(), id) != x->queues.end())
      r.fail(q[i], Reader::index(path + ".queues", i), "listed twice");
    x->queues.push_back(id);
  }
}

void read_cookies(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& config_dir, CookieConfig* c) {
  if (n.IsScalar() && (n.Scalar() == "off" || n.Scalar() == "on")) {
    c->enabled = n.Scalar() == "on";
    return;
  }
  if (!n.IsMap()) r.fail(n, path, "expected off, on or { secret_file: FILE }");
  r.expect_map(n, path, {"secret_file"});
  const YAML::Node file = r.required(n, path, "secret_file");
  c->secret_file = r.file_path(file, path + ".secret_file", config_dir);
  std::ifstream in(c->secret_file);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) r.fail(file, path + ".secret_file", "cannot read " + c->secret_file + ": " + std::strerror(errno));
  if (!parse_cookie_secret(text.str(), &c->secret))
    r.fail(file, path + ".secret_file", c->secret_file + ": expected 32 hex digits (a 128-bit secret, as from `openssl rand -hex 16`)");
}

void read_listen(const Reader& r, const YAML::Node& listen, const std::string& path, const std::string&, std::vector<Endpoint>* out) {
  if (!listen.IsSequence() || listen.size() == 0) r.fail(listen, path, "expected a list of addresses like \"127.0.0.1:53\"");
  for (size_t i = 0; i < listen.size(); ++i) {
    Endpoint e;
    const std::string p = Reader::index(path, i);
    if (!parse_endpoint(r.string(listen[i], p), 53, &e))
      r.fail(listen[i], p, "expected an address like \"127.0.0.1:53\" or \"[::1]:53\", got \"" + listen[i].Scalar() + "\"");
    for (const Endpoint& other : *out)
      if (other == e) r.fail(listen[i], p, "listed twice");
    out->push_back(e);
  }
}

void read_http(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, Endpoint* out) {
  if (!parse_endpoint(r.string(n, path), 0, out))
    r.fail(n, path, "expected an address with a port like \"127.0.0.1:9153\", got \"" + n.Scalar() + "\"");
}

void read_http_token(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, std::string* out) {
  *out = r.string(n, path);
  if (out->empty()) r.fail(n, path, "must not be empty (leave the key out to need no token)");
}

void read_resolver(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, std::string* out) {
  *out = r.string(n, path);
  Endpoint e;
  if (!parse_endpoint(*out, 53, &e))
    r.fail(n, path, "expected an address like \"127.0.0.53\" or \"[::1]:53\", got \"" + *out + "\"");
}

// What binds sockets or sizes threads needs a restart; everything a worker or the
// control thread reads from the serving state or the monitor applies on reload.
void read_log_level(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, LogLevel* out) {
  const std::string name = r.string(n, path);
  const std::optional<LogLevel> level = parse_log_level(name);
  if (!level) r.fail(n, path, "expected error, warning, info or debug, got \"" + name + "\"");
  *out = *level;
}

void read_health_metrics(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&,
                         health::MetricsDetail* out) {
  const std::string name = r.string(n, path);
  if (name != "full" && name != "compact") r.fail(n, path, "expected full or compact, got \"" + name + "\"");
  *out = name == "full" ? health::MetricsDetail::full : health::MetricsDetail::compact;
}

const std::vector<Field<ServerConfig>>& server_fields() {
  using S = ServerConfig;
  constexpr Reload restart = Reload::needs_restart, applies = Reload::applies;
  static const std::vector<Field<S>> fields = {
      required(custom("listen", &S::listen, restart, "list of address[:port] (port 53 by default)", read_listen)),
      integer("workers", &S::workers, 1, 256, restart),
      custom("http", &S::http, restart, "address:port", read_http),
      custom("http_token", &S::http_token, applies, "string (bearer token; left out: none needed)", read_http_token),
      text("nsid", &S::nsid, 255, applies),
      integer("max_udp_size", &S::max_udp_size, 512, 4096, applies),
      duration("tcp_idle_timeout", &S::tcp_idle_timeout, Millis(100), kMaxDuration, applies),
      integer("tcp_max_connections", &S::tcp_max_connections, 1, 100000, applies),
      file("state_file", &S::state_file, applies),
      file("control_socket", &S::control_socket, restart),
      custom("rrl", &S::rrl, applies, "mapping (see server.rrl.*)", read_rrl),
      custom("resolver", &S::resolver, applies, "address[:port] (default: /etc/resolv.conf)", read_resolver),
      integer("http_max_connections", &S::http_max_connections, 1, 100000, applies),
      duration("http_idle_timeout", &S::http_idle_timeout, Millis(100), kMaxDuration, applies),
      text("version", &S::version, 255, applies),
      custom("cookies", &S::cookies, applies, "on, off or { secret_file: FILE }", read_cookies),
      custom("xdp", &S::xdp, restart, "{ interface: NAME, queues: all or [N, ...] }", read_xdp),
      custom("log_level", &S::log_level, applies, "error, warning, info or debug (default info)", read_log_level),
      custom("health_metrics", &S::health_metrics, applies,
             "full or compact (default full): compact leaves out per-check counters and durations", read_health_metrics),
  };
  return fields;
}

void read_endpoints(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&,
                    std::vector<std::string>* out) {
  if (!n.IsSequence() || n.size() == 0) r.fail(n, path, "expected a list of URLs like \"http://127.0.0.1:2379\"");
  for (size_t i = 0; i < n.size(); ++i) {
    const std::string url = r.string(n[i], Reader::index(path, i));
    const bool scheme = url.rfind("http://", 0) == 0 || url.rfind("https://", 0) == 0;
    const size_t host = url.find("//") + 2;
    if (!scheme || host >= url.size() || url.find('/', host) != std::string::npos)
      r.fail(n[i], Reader::index(path, i), "expected a URL like \"http://127.0.0.1:2379\" (no path), got \"" + url + "\"");
    out->push_back(url);
  }
}

void read_etcd_tls(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir,
                   sync::TlsFiles* out) {
  r.expect_map(n, path, {"ca_file", "cert_file", "key_file"});
  if (n["ca_file"]) out->ca_file = r.file_path(n["ca_file"], path + ".ca_file", dir);
  if (n["cert_file"]) out->cert_file = r.file_path(n["cert_file"], path + ".cert_file", dir);
  if (n["key_file"]) out->key_file = r.file_path(n["key_file"], path + ".key_file", dir);
  if (out->cert_file.empty() != out->key_file.empty())
    r.fail(n, path, "cert_file and key_file go together (a client certificate and its key)");
}

void read_etcd_prefix(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, std::string* out) {
  *out = r.string(n, path);
  if (out->empty() || out->back() != '/')
    r.fail(n, path, "expected a key prefix ending in \"/\" like \"/gslbd/global.example.com/\", got \"" + *out + "\"");
}

// An instance name is a key segment (votes/CLUSTER/INSTANCE).
bool good_instance(const std::string& name) {
  return !name.empty() && name.size() <= 255 &&
         std::none_of(name.begin(), name.end(), [](char c) { return c == '/' || std::isspace(static_cast<unsigned char>(c)); });
}

void read_instance(const Reader& r, const YAML::Node& n, const std::string& path, const std::string&, std::string* out) {
  *out = r.string(n, path);
  if (!good_instance(*out)) r.fail(n, path, "expected 1 to 255 characters without \"/\" or spaces, got \"" + *out + "\"");
}

const std::vector<Field<sync::EtcdConfig>>& etcd_fields() {
  using E = sync::EtcdConfig;
  constexpr Reload restart = Reload::needs_restart;
  static const std::vector<Field<E>> fields = {
      required(custom("endpoints", &E::endpoints, restart, "list of http:// or https:// URLs", read_endpoints)),
      custom("tls", &E::tls, restart, "{ ca_file, cert_file, key_file }", read_etcd_tls),
      required(custom("prefix", &E::prefix, restart, "key prefix ending in /", read_etcd_prefix)),
      custom("instance", &E::instance, restart, "name without / (default: server.nsid, else the host name)", read_instance),
      duration("lease_ttl", &E::lease_ttl, Millis(2000), std::chrono::hours(1), restart),
  };
  return fields;
}

void read_etcd(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& dir, sync::EtcdConfig* e) {
  read_fields(r, n, path, dir, etcd_fields(), e);
}

const std::vector<Field<sync::SyncConfig>>& sync_fields() {
  using S = sync::SyncConfig;
  static const std::vector<Field<S>> fields = {
      required(custom("etcd", &S::etcd, Reload::needs_restart, "mapping (see sync.etcd.*)", read_etcd)),
      member_field<S, sync::DownRule>(
          "down_when", &S::down_when, Reload::applies, "majority, all, any or a count 1..1000",
          [](const Reader& r, const YAML::Node& n, const std::string& path, const std::string&) {
            const std::string text = r.string(n, path);
            const auto rule = sync::parse_down_rule(text);
            if (!rule) r.fail(n, path, "expected majority, all, any or a number of instances 1..1000, got \"" + text + "\"");
            return *rule;
          },
          [](const sync::DownRule& rule) { return sync::to_string(rule); }),
  };
  return fields;
}

// sync.etcd.instance when left out: server.nsid, else the host name.
std::string default_instance(const ServerConfig& server) {
  if (!server.nsid.empty()) return server.nsid;
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) return "";
  return host;
}

void read_server(const Reader& r, const YAML::Node& n, ServerConfig* s, const std::string& config_dir) {
  read_fields(r, n, "server", config_dir, server_fields(), s);
  s->has_http = bool(n["http"]);
}

// The geo section; geo.networks is read once the clusters are known (read_networks).
void read_geo(const Reader& r, const YAML::Node& n, geo::Sources* g, const std::string& config_dir) {
  r.expect_map(n, "geo", {"ranges", "mmdb", "networks", "countries"});
  if (n["ranges"]) {
    const YAML::Node ranges = n["ranges"];
    if (ranges.IsScalar()) {
      g->ranges.push_back(r.file_path(ranges, "geo.ranges", config_dir));
    } else if (ranges.IsSequence()) {
      for (size_t i = 0; i < ranges.size(); ++i) g->ranges.push_back(r.file_path(ranges[i], Reader::index("geo.ranges", i), config_dir));
    } else {
      r.fail(ranges, "geo.ranges", "expected a file path or a list of them");
    }
  }
  if (n["mmdb"]) g->mmdb = r.file_path(n["mmdb"], "geo.mmdb", config_dir);
  if (n["countries"]) g->countries = r.file_path(n["countries"], "geo.countries", config_dir);
}

SoaConfig read_soa(const Reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_map(n, path, {"mname", "rname", "serial", "refresh", "retry", "expire", "minimum", "ttl"});
  SoaConfig soa;
  soa.present = true;
  soa.pos = r.pos(n);
  soa.mname = r.dname(r.required(n, path, "mname"), Reader::join(path, "mname"));
  soa.rname = r.dname(r.required(n, path, "rname"), Reader::join(path, "rname"));
  auto u32 = [&](const char* key, uint32_t* out) {
    if (n[key]) *out = static_cast<uint32_t>(r.integer(n[key], Reader::join(path, key), 0, UINT32_MAX));
  };
  u32("serial", &soa.serial);
  u32("refresh", &soa.refresh);
  u32("retry", &soa.retry);
  u32("expire", &soa.expire);
  if (n["minimum"]) soa.minimum = static_cast<uint32_t>(r.duration(n["minimum"], Reader::join(path, "minimum"), 1000).count() / 1000);
  if (n["ttl"]) soa.ttl = static_cast<uint32_t>(r.duration(n["ttl"], Reader::join(path, "ttl"), 1000).count() / 1000);
  return soa;
}

// "14d", "12h", "30m", "90s": the RRSIG times, which run to weeks.
std::chrono::seconds signing_period(const Reader& r, const YAML::Node& n, const std::string& path) {
  const std::string s = r.string(n, path);
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  const std::string unit(end, s.data() + s.size());
  const uint64_t scale = unit == "d" ? 86400 : unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : 0;
  // RRSIG times are serial numbers: a period past 68 years wraps (RFC 4034 3.1.5).
  if (ec != std::errc() || scale == 0 || value == 0 || value > 365ull * 86400 / scale)
    r.fail(n, path, "expected a period from 1s to 365d like \"14d\" or \"12h\", got \"" + s + "\"");
  return std::chrono::seconds(value * scale);
}

DnssecConfig read_dnssec(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& config_dir) {
  r.expect_map(n, path, {"keys", "denial", "signature_validity", "refresh"});
  DnssecConfig d;
  const YAML::Node keys = r.required(n, path, "keys");
  const std::string keys_path = Reader::join(path, "keys");
  if (!keys.IsSequence() || keys.size() == 0) r.fail(keys, keys_path, "expected a list of key pair base names");
  d.keys_pos = r.pos(keys);
  for (size_t i = 0; i < keys.size(); ++i) d.keys.push_back(r.file_path(keys[i], Reader::index(keys_path, i), config_dir));
  if (n["denial"]) {
    const std::string denial = r.string(n["denial"], Reader::join(path, "denial"));
    if (denial == "nsec3")
      d.denial = DnssecConfig::Denial::nsec3;
    else if (denial != "nsec")
      r.fail(n["denial"], Reader::join(path, "denial"), "expected nsec or nsec3, got \"" + denial + "\"");
  }
  if (n["signature_validity"])
    d.signature_validity = signing_period(r, n["signature_validity"], Reader::join(path, "signature_validity"));
  if (n["refresh"]) d.refresh = signing_period(r, n["refresh"], Reader::join(path, "refresh"));
  if (d.refresh >= d.signature_validity)
    r.fail(n, path, "refresh must be shorter than signature_validity");
  return d;
}

ZoneConfig read_zone(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& config_dir) {
  r.expect_map(n, path, {"origin", "soa", "ns", "records", "zonefile", "dnssec"});
  ZoneConfig z;
  z.pos = r.pos(n);
  z.path = path;
  z.origin = r.dname(r.required(n, path, "origin"), Reader::join(path, "origin"));
  if (n["soa"]) z.soa = read_soa(r, n["soa"], Reader::join(path, "soa"));
  if (n["ns"]) {
    const YAML::Node ns = n["ns"];
    z.ns_pos = r.pos(ns);
    if (!ns.IsSequence()) r.fail(ns, Reader::join(path, "ns"), "expected a list of name server names");
    for (size_t i = 0; i < ns.size(); ++i) z.ns.push_back(r.dname(ns[i], Reader::index(Reader::join(path, "ns"), i)));
  }
  if (n["records"]) {
    const YAML::Node rec = n["records"];
    z.records = r.string(rec, Reader::join(path, "records"));
    z.records_pos = r.text_start(rec);
  }
  if (n["zonefile"]) {
    z.zonefile = r.file_path(n["zonefile"], Reader::join(path, "zonefile"), config_dir);
    z.zonefile_pos = r.pos(n["zonefile"]);
  }
  if (!z.soa.present && z.zonefile.empty())
    r.fail(n, path, "missing required key 'soa' (or a zonefile with an SOA record)");
  if (n["dnssec"]) z.dnssec = read_dnssec(r, n["dnssec"], Reader::join(path, "dnssec"), config_dir);
  return z;
}

geo::Policy read_policy(const Reader& r, const YAML::Node& n, const std::string& path) {
  const std::string s = r.string(n, path);
  if (s == "nearest") return geo::Policy::nearest;
  if (s == "latency") return geo::Policy::latency;
  if (s == "failover") return geo::Policy::failover;
  if (s == "weighted") return geo::Policy::weighted;
  r.fail(n, path, "expected one of nearest, latency, failover, weighted, got \"" + s + "\"");
}

ServiceConfig read_service(const Reader& r, const YAML::Node& n, const std::string& path) {
  r.expect_map(n, path, {"name", "ttl", "transition_ttl", "policy", "answers", "clusters", "weights", "when_all_down"});
  ServiceConfig s;
  s.pos = r.pos(n);
  s.name = r.dname(r.required(n, path, "name"), Reader::join(path, "name"));
  // A service answers its own name only: "*" would be taken literally, never as
  // a wildcard (README, Services).
  if (("." + s.name).find(".*.") != std::string::npos)
    r.fail(n["name"], Reader::join(path, "name"),
           "a service name cannot have a \"*\" label: services are not wildcards, and only the literal name \"" +
               s.name + "\" would answer");
  if (n["ttl"]) s.ttl = static_cast<uint32_t>(r.duration(n["ttl"], Reader::join(path, "ttl"), 1000).count() / 1000);
  if (n["transition_ttl"])
    s.transition_ttl = static_cast<uint32_t>(r.duration(n["transition_ttl"], Reader::join(path, "transition_ttl"), 1000).count() / 1000);
  if (n["policy"]) s.policy = read_policy(r, n["policy"], Reader::join(path, "policy"));
  if (n["answers"]) s.answers = static_cast<unsigned>(r.integer(n["answers"], Reader::join(path, "answers"), 1, 64));
  const YAML::Node clusters = r.required(n, path, "clusters");
  const std::string cpath = Reader::join(path, "clusters");
  if (!clusters.IsSequence() || clusters.size() == 0) r.fail(clusters, cpath, "expected a list of cluster names");
  for (size_t i = 0; i < clusters.size(); ++i) {
    const std::string c = r.string(clusters[i], Reader::index(cpath, i));
    if (std::find(s.clusters.begin(), s.clusters.end(), c) != s.clusters.end())
      r.fail(clusters[i], Reader::index(cpath, i), "cluster \"" + c + "\" listed twice");
    s.clusters.push_back(c);
  }
  if (n["when_all_down"]) {
    const std::string v = r.string(n["when_all_down"], Reader::join(path, "when_all_down"));
    if (v == "servfail") {
      s.servfail_when_all_down = true;
    } else if (v != "fail_open") {
      r.fail(n["when_all_down"], Reader::join(path, "when_all_down"), "expected fail_open or servfail, got \"" + v + "\"");
    }
  }
  return s;
}

// The keys every check kind takes beside its own (clusters.NAME.checks[N].KIND.*).
const std::vector<Field<health::CheckSpec>>& check_fields() {
  using C = health::CheckSpec;
  static const std::vector<Field<C>> fields = {
      duration("interval", &C::interval, Millis(100), kMaxDuration, Reload::applies),
      duration("timeout", &C::timeout, Millis(10), kMaxDuration, Reload::applies),
      integer("rise", &C::rise, 1, 100, Reload::applies),
      integer("fall", &C::fall, 1, 100, Reload::applies),
  };
  return fields;
}

// The http check's plain keys (clusters.NAME.checks[N].http.*); url and expect have
// their own readers in read_check.
const std::vector<Field<health::HttpCheck>>& http_fields() {
  using H = health::HttpCheck;
  static const std::vector<Field<H>> fields = {
      flag("tls_verify", &H::tls_verify, Reload::applies),
      flag("fresh_connection", &H::fresh_connection, Reload::applies),
  };
  return fields;
}

health::CheckSpec read_check(const Reader& r, const YAML::Node& n, const std::string& path, const std::string& config_dir) {
  // `name` sits beside the kind, not in its body, where a dns check's `name` is the query name.
  const bool named = n.IsMap() && n["name"];
  if (!n.IsMap() || n.size() != (named ? 2u : 1u))
    r.fail(n, path, "expected one of {http: {...}}, {tcp: {...}}, {dns: {...}}, with an optional name");
  auto kind_entry = n.begin();
  if (kind_entry->first.Scalar() == "name") ++kind_entry;
  const std::string kind = kind_entry->first.Scalar();
  const YAML::Node body = kind_entry->second;
  const std::string bpath = Reader::join(path, kind);
  health::CheckSpec c;
  if (named) {
    c.name = r.string(n["name"], Reader::join(path, "name"));
    // A metric label value: kept to characters that read the same in PromQL and logs.
    if (c.name.empty() || c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != std::string::npos)
      r.fail(n["name"], Reader::join(path, "name"), "expected letters, digits, '_', '.' or '-', got \"" + c.name + "\"");
  }
  auto common = [&]() {
    for (const Field<health::CheckSpec>& f : check_fields())
      if (const YAML::Node v = body[f.key]) f.read(r, v, Reader::join(bpath, f.key), config_dir, &c);
    if (c.timeout > c.interval) r.fail(body["timeout"] ? body["timeout"] : body, Reader::join(bpath, "timeout"), "must not exceed the interval");
  };
  const std::vector<std::string> common_keys = field_keys(check_fields());
  if (kind == "http" || kind == "https") {
    std::vector<std::string> other_keys = common_keys;
    for (const std::string& key : field_keys(http_fields())) other_keys.push_back(key);
    r.expect_map(body, bpath, {"url", "expect", "body", "host", "ca_file"}, other_keys);
    c.kind = health::CheckSpec::Kind::http;
    c.http.url = r.string(r.required(body, bpath, "url"), Reader::join(bpath, "url"));
    if (c.http.url.rfind("http://", 0) != 0 && c.http.url.rfind("https://", 0) != 0)
      r.fail(body["url"], Reader::join(bpath, "url"), "expected an http:// or https:// URL, got \"" + c.http.url + "\"");
    if (body["expect"]) {
      const YAML::Node e = body["expect"];
      c.http.expect.clear();
      const std::string epath = Reader::join(bpath, "expect");
      if (e.IsSequence()) {
        for (size_t i = 0; i < e.size(); ++i) c.http.expect.push_back(static_cast<long>(r.integer(e[i], Reader::index(epath, i), 100, 599)));
      } else {
        c.http.expect.push_back(static_cast<long>(r.integer(e, epath, 100, 599)));
      }
    }
    if (body["body"]) c.http.body = r.string(body["body"], Reader::join(bpath, "body"));
    if (body["host"]) c.http.host = r.string(body["host"], Reader::join(bpath, "host"));
    for (const Field<health::HttpCheck>& f : http_fields())
      if (const YAML::Node v = body[f.key]) f.read(r, v, Reader::join(bpath, f.key), config_dir, &c.http);
    // Relative to the config's directory, like every path in it (README).
    if (body["ca_file"]) c.http.ca_file = r.file_path(body["ca_file"], Reader::join(bpath, "ca_file"), config_dir);
  } else if (kind == "tcp") {
    r.expect_map(body, bpath, {"address"}, common_keys);
    c.kind = health::CheckSpec::Kind::tcp;
    c.tcp.address = r.string(r.required(body, bpath, "address"), Reader::join(bpath, "address"));
    Endpoint e;
    if (!parse_endpoint(c.tcp.address, 0, &e))
      r.fail(body["address"], Reader::join(bpath, "address"), "expected an address with a port like \"127.0.0.1:443\", got \"" + c.tcp.address + "\"");
  } else if (kind == "dns") {
    r.expect_map(body, bpath, {"server", "name", "type", "rcode", "address"}, common_keys);
    c.kind = health::CheckSpec::Kind::dns;
    c.dns.server = r.string(r.required(body, bpath, "server"), Reader::join(bpath, "server"));
    Endpoint e;
    if (!parse_endpoint(c.dns.server, 53, &e))
      r.fail(body["server"], Reader::join(bpath, "server"), "expected an address like \"192.0.2.1\" or \"[2001:db8::1]:53\", got \"" + c.dns.server + "\"");
    c.dns.name = r.dname(r.required(body, bpath, "name"), Reader::join(bpath, "name"));
    if (const YAML::Node t = body["type"]) {
      const std::string text = r.string(t, Reader::join(bpath, "type"));
      const auto qtype = health::qtype_number(text);
      if (!qtype) r.fail(t, Reader::join(bpath, "type"), "expected a query type like A, AAAA, TXT or TYPE65, got \"" + text + "\"");
      c.dns.qtype = *qtype;
    }
    if (const YAML::Node rc = body["rcode"]) {
      const std::string text = r.string(rc, Reader::join(bpath, "rcode"));
      const auto rcode = health::rcode_number(text);
      if (!rcode) r.fail(rc, Reader::join(bpath, "rcode"), "expected an rcode like NOERROR, NXDOMAIN or SERVFAIL, got \"" + text + "\"");
      c.dns.expect_rcode = *rcode;
    }
    if (const YAML::Node a = body["address"]) {
      const std::string text = r.string(a, Reader::join(bpath, "address"));
      const bool v6 = c.dns.qtype == 28;
      if (c.dns.qtype != 1 && !v6)
        r.fail(a, Reader::join(bpath, "address"), "an expected address needs type A or AAAA, not " + health::qtype_name(c.dns.qtype));
      std::array<uint8_t, 16> address{};
      if (inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), address.data()) != 1)
        r.fail(a, Reader::join(bpath, "address"), std::string("expected an ") + (v6 ? "IPv6" : "IPv4") + " address (type " +
                                                      health::qtype_name(c.dns.qtype) + "), got \"" + text + "\"");
      c.dns.expect_address = address;
    }
  } else {
    r.fail(kind_entry->first, path, "unknown check kind \"" + kind + "\" (expected http, https, tcp or dns)");
  }
  common();
  return c;
}

ClusterConfig read_cluster(const Reader& r, const std::string& name, const YAML::Node& n, const std::string& path,
                           const std::string& config_dir) {
  r.expect_map(n, path, {"location", "ingress", "checks", "require", "initial_state"});
  ClusterConfig c;
  c.name = name;
  c.pos = r.pos(n);
  c.health.name = name;
  if (const YAML::Node l = n["location"]) {
    c.location = read_location(r, l, Reader::join(path, "location"));
    c.location_pos = r.pos(l["country"] ? l["country"] : l);
  }
  const YAML::Node ingress = r.required(n, path, "ingress");
  const std::string ipath = Reader::join(path, "ingress");
  if (!ingress.IsSequence() || ingress.size() == 0)
    r.fail(ingress, ipath, "expected a list of IPv4 and IPv6 addresses or host names");
  for (size_t i = 0; i < ingress.size(); ++i) {
    const std::string a = r.string(ingress[i], Reader::index(ipath, i));
    std::array<uint8_t, 4> v4;
    std::array<uint8_t, 16> v6;
    // A repeated address would go out as a duplicate record (RFC 2181 5: an RRset has no duplicates).
    auto once = [&](auto& list, const auto& address) {
      if (std::find(list.begin(), list.end(), address) != list.end())
        r.fail(ingress[i], Reader::index(ipath, i), "address " + a + " listed twice");
      list.push_back(address);
    };
    if (inet_pton(AF_INET, a.c_str(), v4.data()) == 1) {
      once(c.ipv4, v4);
    } else if (inet_pton(AF_INET6, a.c_str(), v6.data()) == 1) {
      once(c.ipv6, v6);
    } else if (a.find(':') != std::string::npos) {
      r.fail(ingress[i], Reader::index(ipath, i), "\"" + a + "\" is not an IPv6 address");
    } else if (a.find_first_not_of("0123456789.") == std::string::npos) {
      // Taken as a host name it would be looked up at run time, and never resolve.
      r.fail(ingress[i], Reader::index(ipath, i), "\"" + a + "\" is not an IPv4 address");
    } else {
      std::string wire;
      const bool hostname = a.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
                                std::string::npos && a.find('.') != std::string::npos && name_from_text(a, &wire);
      if (!hostname)
        r.fail(ingress[i], Reader::index(ipath, i), "expected an IPv4 or IPv6 address or a host name, got \"" + a + "\"");
      once(c.health.ingress_hosts, a.back() == '.' ? a : a + ".");
    }
  }
  if (n["checks"]) {
    const YAML::Node checks = n["checks"];
    const std::string cpath = Reader::join(path, "checks");
    if (!checks.IsSequence()) r.fail(checks, cpath, "expected a list of checks");
    for (size_t i = 0; i < checks.size(); ++i) c.health.checks.push_back(read_check(r, checks[i], Reader::index(cpath, i), config_dir));
    const std::vector<std::string> names = health::check_names(c.health.checks);
    for (size_t i = 0; i < names.size(); ++i) {
      for (size_t j = 0; j < i; ++j)
        if (names[j] == names[i])
          r.fail(checks[i]["name"] ? checks[i]["name"] : checks[i], Reader::index(cpath, i), "check name \"" + names[i] + "\" is already used by " + Reader::index(cpath, j) +
                                                          " (names are the metrics' check label)");
      c.health.checks[i].name = names[i];
    }
  }
  if (n["require"]) {
    const std::string v = r.string(n["require"], Reader::join(path, "require"));
    if (v == "any") {
      c.health.require_any = true;
    } else if (v != "all") {
      r.fail(n["require"], Reader::join(path, "require"), "expected all or any, got \"" + v + "\"");
    }
  }
  if (n["initial_state"]) {
    const std::string v = r.string(n["initial_state"], Reader::join(path, "initial_state"));
    if (v == "up") {
      c.health.initial_state = health::InitialState::up;
    } else if (v == "down") {
      c.health.initial_state = health::InitialState::down;
    } else if (v == "probe") {
      c.health.initial_state = health::InitialState::probe;
    } else {
      r.fail(n["initial_state"], Reader::join(path, "initial_state"), "expected probe, up or down, got \"" + v + "\"");
    }
  }
  return c;
}

// Ids are geo::ClusterId and geo::ServiceId (16 bits); past that, ids would wrap and
// one name would answer with another's addresses.
constexpr size_t kMaxIds = std::numeric_limits<geo::ClusterId>::max();
static_assert(std::numeric_limits<geo::ServiceId>::max() == kMaxIds);

// The largest answer the service can give (its `answers` clusters with the most
// written addresses of one family) must fit a TCP message; over UDP as many
// addresses as fit the client's payload are sent.
void check_answer_fits(const Reader& r, const YAML::Node& n, const std::string& path, const ServiceConfig& s,
                       const std::vector<ClusterConfig>& clusters, const std::vector<std::string>& names) {
  // Header, question (the longest name), OPT with an IPv6 ECS option and an NSID.
  constexpr size_t kFixed = 12 + 255 + 4 + 11 + 24 + 4 + 255;
  for (const size_t rdata : {size_t{4}, size_t{16}}) {
    std::vector<std::pair<size_t, const ClusterConfig*>> sizes;
    for (const std::string& name : s.clusters) {
      const ClusterConfig& c = clusters[static_cast<size_t>(std::find(names.begin(), names.end(), name) - names.begin())];
      sizes.emplace_back(rdata == 4 ? c.ipv4.size() : c.ipv6.size(), &c);
    }
    std::sort(sizes.begin(), sizes.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    size_t records = 0;
    for (size_t i = 0; i < sizes.size() && i < s.answers; ++i) records += sizes[i].first;
    const size_t per_record = 2 + 10 + rdata;   // compressed owner, type..rdlength, address
    if (kFixed + records * per_record <= 65535) continue;
    r.fail(n, path, "an answer of " + std::to_string(records) + (rdata == 4 ? " IPv4" : " IPv6") +
                        " addresses cannot fit a 65,535-byte TCP message (at most " +
                        std::to_string((65535 - kFixed) / per_record) + " fit): cluster " + sizes[0].second->name +
                        " has " + std::to_string(sizes[0].first) + "; write fewer ingress addresses or lower answers");
  }
}

// yaml-cpp keeps both entries of a repeated key and answers n["key"] with the first,
// so a copy-pasted block would silently lose its copy: refused, naming both places.
void refuse_duplicate_keys(const Reader& r, const YAML::Node& n, const std::string& path) {
  if (n.IsMap()) {
    std::map<std::string, YAML::Node> seen;
    for (const auto& kv : n) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "";
      const std::string at = Reader::join(path, key);
      if (kv.first.IsScalar()) {
        if (auto [first, added] = seen.emplace(key, kv.first); !added)
          r.fail(kv.first, at, "duplicate key (first written at " + r.pos(first->second).describe() + ")");
      }
      refuse_duplicate_keys(r, kv.second, at);
    }
  } else if (n.IsSequence()) {
    for (size_t i = 0; i < n.size(); ++i) refuse_duplicate_keys(r, n[i], Reader::index(path, i));
  }
}

}  // namespace

std::vector<SchemaKey> config_schema() {
  std::vector<SchemaKey> keys;
  list_fields("server", server_fields(), &keys);
  list_fields("server.rrl", rrl_fields(), &keys);
  list_fields("clusters.NAME.checks[N].KIND", check_fields(), &keys);
  list_fields("clusters.NAME.checks[N].http", http_fields(), &keys);
  list_fields("sync", sync_fields(), &keys);
  list_fields("sync.etcd", etcd_fields(), &keys);
  return keys;
}

std::string default_control_socket(const std::string& config_path) {
  // Under systemd (RuntimeDirectory=) the socket lives in /run/gslbd, where
  // `gslbd ctl` finds it without a config; elsewhere beside the config, so that
  // two daemons with two configs (tests, staging) each have their own.
  const char* runtime_dir = std::getenv("RUNTIME_DIRECTORY");
  return runtime_dir ? std::string(runtime_dir) + "/control.sock" : config_path + ".sock";
}

std::vector<std::string> restart_only_changes(const ServerConfig& running, const ServerConfig& next) {
  std::vector<std::string> changed;
  for (const Field<ServerConfig>& f : server_fields())
    if (f.reload == Reload::needs_restart && !f.same(running, next)) changed.push_back("server." + f.key);
  return changed;
}

std::vector<std::string> restart_only_changes(const std::optional<sync::SyncConfig>& running,
                                              const std::optional<sync::SyncConfig>& next) {
  if (running.has_value() != next.has_value()) return {"sync"};
  std::vector<std::string> changed;
  if (!running) return changed;
  for (const Field<sync::EtcdConfig>& f : etcd_fields()) {
    if (f.reload != Reload::needs_restart || f.same(running->etcd, next->etcd)) continue;
    // server.nsid alone may change on a reload; the operator wrote no instance.
    if (f.key == "instance" && running->etcd.instance_is_nsid && next->etcd.instance_is_nsid)
      changed.push_back("server.nsid (sync.etcd.instance defaults to it)");
    else
      changed.push_back("sync.etcd." + f.key);
  }
  return changed;
}

// A YAML file read whole: its tree (no key written twice), and a Reader on it.
struct YamlFile {
  YAML::Node root;
  Reader reader;
};

YamlFile read_yaml_file(const std::string& path, std::ifstream& in) {
  std::vector<std::string> lines;
  std::string text;
  for (std::string line; std::getline(in, line);) {
    text += line;
    text += '\n';
    lines.push_back(std::move(line));
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fail_at({path, e.mark.line + 1, e.mark.column + 1}, "", e.msg);
  }
  YamlFile file{root, Reader(path, std::move(lines))};
  refuse_duplicate_keys(file.reader, root, "");
  return file;
}

// geo.networks (`key` in the config): a YAML list of {cidr, location | clusters},
// read as strictly as the config itself. `location_pos` gets, per entry, where
// its location's country (or the entry) is written, for errors found compiling.
std::vector<geo::NetworkInput> read_networks(const Reader& config, const YAML::Node& key, const std::string& config_dir,
                                             const std::vector<std::string>& cluster_names,
                                             std::vector<SourcePos>* location_pos) {
  const std::string path = config.file_path(key, "geo.networks", config_dir);
  std::ifstream in(path);
  std::error_code ec;
  if (!in) config.fail(key, "geo.networks", "cannot open " + path + ": " + std::strerror(errno));
  if (std::filesystem::is_directory(path, ec)) config.fail(key, "geo.networks", path + " is a directory");
  const YamlFile file = read_yaml_file(path, in);
  const Reader& r = file.reader;
  std::vector<geo::NetworkInput> out;
  if (file.root.IsNull()) return out;
  if (!file.root.IsSequence()) r.fail(file.root, "", "expected a list of {cidr, location | clusters}");
  std::map<std::tuple<bool, std::array<uint8_t, 16>, uint8_t>, SourcePos> seen;  // prefix -> where written
  for (size_t i = 0; i < file.root.size(); ++i) {
    const YAML::Node item = file.root[i];
    const std::string at = Reader::index("", i);
    r.expect_map(item, at, {"cidr", "location", "clusters"});
    const YAML::Node cidr = r.required(item, at, "cidr");
    const std::string text = r.string(cidr, at + ".cidr");
    Prefix p;
    if (!parse_prefix(text, &p))
      r.fail(cidr, at + ".cidr", "expected a prefix with no host bits set, like 192.0.2.0/24 or 2001:db8::/32, got "" + text + """);
    std::array<uint8_t, 16> bytes{};
    std::copy(p.address, p.address + 16, bytes.begin());
    if (auto [first, added] = seen.emplace(std::tuple{p.v6, bytes, p.length}, r.pos(cidr)); !added)
      r.fail(cidr, at + ".cidr", "duplicate cidr " + text + " (first at " + first->second.describe() + ")");
    if (bool(item["location"]) == bool(item["clusters"])) r.fail(item, at, "expected exactly one of location, clusters");
    geo::NetworkInput n;
    n.v6 = p.v6;
    std::copy(p.address, p.address + 16, n.address);
    n.length = p.length;
    if (const YAML::Node l = item["location"]) {
      n.location = read_location(r, l, at + ".location");
      location_pos->push_back(r.pos(l["country"] ? l["country"] : l));
    } else {
      const YAML::Node list = item["clusters"];
      if (!list.IsSequence() || list.size() == 0) r.fail(list, at + ".clusters", "expected a non-empty list of cluster names");
      for (size_t k = 0; k < list.size(); ++k) {
        const std::string kpath = Reader::index(at + ".clusters", k);
        const std::string name = r.string(list[k], kpath);
        const auto found = std::find(cluster_names.begin(), cluster_names.end(), name);
        if (found == cluster_names.end()) r.fail(list[k], kpath, "no cluster named \"" + name + "\" in clusters");
        const auto id = static_cast<geo::ClusterId>(found - cluster_names.begin());
        if (std::find(n.clusters.begin(), n.clusters.end(), id) != n.clusters.end()) r.fail(list[k], kpath, "listed twice");
        n.clusters.push_back(id);
      }
      location_pos->push_back(r.pos(item));
    }
    out.push_back(std::move(n));
  }
  return out;
}

Config load_config(const std::string& path) {
  Config cfg;
  cfg.path = path;
  std::ifstream in(path);
  if (!in) throw ConfigError(path + ": cannot open: " + std::strerror(errno));
  const std::string config_dir = std::filesystem::absolute(path).parent_path().string();
  YamlFile file = read_yaml_file(path, in);
  const YAML::Node root = file.root;
  Reader& r = file.reader;
  if (!root.IsMap()) fail_at({path, 1, 1}, "", "expected a mapping with server, zones, services and clusters");
  r.expect_map(root, "", {"server", "geo", "latency", "zones", "services", "clusters", "sync"});
  for (const auto& kv : root) r.note_key(kv.first.Scalar(), kv.first);
  read_server(r, r.required(root, "", "server"), &cfg.server, config_dir);
  if (const YAML::Node n = root["sync"]) {
    sync::SyncConfig sc;
    read_fields(r, n, "sync", config_dir, sync_fields(), &sc);
    if (sc.etcd.instance.empty()) {
      sc.etcd.instance = default_instance(cfg.server);
      sc.etcd.instance_is_nsid = !cfg.server.nsid.empty();
    }
    if (!good_instance(sc.etcd.instance))
      r.fail(n["etcd"], "sync.etcd.instance", "left out, and neither server.nsid nor the host name (\"" +
                                                  sc.etcd.instance + "\") can name this instance: set it");
    cfg.sync = std::move(sc);
  }
  if (cfg.server.state_file.empty()) {
    // Under systemd (StateDirectory=) the config's directory is read-only.
    const char* state_dir = std::getenv("STATE_DIRECTORY");
    cfg.server.state_file = state_dir ? std::string(state_dir) + "/state" : path + ".state";
  }
  if (cfg.server.control_socket.empty()) cfg.server.control_socket = default_control_socket(path);
  if (root["geo"]) read_geo(r, root["geo"], &cfg.geo, config_dir);
  if (cfg.geo.countries.empty()) cfg.geo.countries = default_countries_file();
  if (root["latency"]) {
    const YAML::Node lat = root["latency"];
    r.expect_map(lat, "latency", {"table"});
    if (lat["table"]) cfg.geo.latency_table = r.file_path(lat["table"], "latency.table", config_dir);
  }

  const YAML::Node zones = r.required(root, "", "zones");
  if (!zones.IsSequence() || zones.size() == 0) r.fail(zones, "zones", "expected a list of zones");
  std::set<std::string> origins;
  for (size_t i = 0; i < zones.size(); ++i) {
    ZoneConfig z = read_zone(r, zones[i], Reader::index("zones", i), config_dir);
    std::string lower;
    name_from_text(z.origin, &lower);
    if (!origins.insert(lower).second) fail_at(z.pos, Reader::index("zones", i) + ".origin", "zone " + z.origin + " defined twice");
    cfg.zones.push_back(std::move(z));
  }

  std::vector<std::string> cluster_names;
  if (root["clusters"]) {
    const YAML::Node clusters = root["clusters"];
    if (!clusters.IsMap()) r.fail(clusters, "clusters", "expected a mapping of cluster name to cluster");
    for (const auto& kv : clusters) {
      const std::string name = kv.first.Scalar();
      if (name.empty()) r.fail(kv.first, "clusters", "expected a cluster name");
      cfg.clusters.push_back(read_cluster(r, name, kv.second, "clusters." + name, config_dir));
      cluster_names.push_back(name);
    }
    if (cfg.clusters.size() > kMaxIds)
      r.fail(clusters, "clusters", std::to_string(cfg.clusters.size()) + " clusters, more than the " +
                                       std::to_string(kMaxIds) + " a cluster id can number");
  }
  if (root["geo"] && root["geo"]["networks"])
    cfg.geo.networks = read_networks(r, root["geo"]["networks"], config_dir, cluster_names, &cfg.network_location_pos);

  if (root["services"]) {
    const YAML::Node services = root["services"];
    if (!services.IsSequence()) r.fail(services, "services", "expected a list of services");
    std::map<std::string, SourcePos> names;  // lower-case wire -> where its name is written
    for (size_t i = 0; i < services.size(); ++i) {
      const std::string spath = Reader::index("services", i);
      ServiceConfig s = read_service(r, services[i], spath);
      for (size_t k = 0; k < s.clusters.size(); ++k) {
        if (std::find(cluster_names.begin(), cluster_names.end(), s.clusters[k]) == cluster_names.end())
          r.fail(services[i]["clusters"][k], Reader::index(spath + ".clusters", k), "no cluster named \"" + s.clusters[k] + "\" in clusters");
      }
      std::string lower;
      name_from_text(s.name, &lower);
      if (auto [first, added] = names.emplace(lower, r.pos(services[i]["name"])); !added)
        r.fail(services[i]["name"], spath + ".name", "service " + s.name + " defined twice (first at " + first->second.describe() + ")");
      const YAML::Node w = services[i]["weights"];
      if (s.policy == geo::Policy::weighted) {
        if (!w) r.fail(services[i], spath, "policy weighted needs 'weights: {cluster: weight, ...}'");
        if (!w.IsMap()) r.fail(w, spath + ".weights", "expected a map like {cluster: weight, ...}");
        for (const auto& kv : w) {
          const std::string c = kv.first.Scalar();
          if (std::find(s.clusters.begin(), s.clusters.end(), c) == s.clusters.end())
            r.fail(kv.first, spath + ".weights." + c, "not one of this service's clusters");
        }
        for (const std::string& c : s.clusters) {
          if (!w[c]) r.fail(w, spath + ".weights", "missing a weight for cluster \"" + c + "\"");
          s.weights.push_back(static_cast<uint32_t>(r.integer(w[c], spath + ".weights." + c, 0, 1000000)));
        }
        if (std::all_of(s.weights.begin(), s.weights.end(), [](uint32_t weight) { return weight == 0; }))
          r.fail(w, spath + ".weights", "every weight is 0: at least one cluster needs a weight above 0");
      } else if (w) {
        r.fail(w, spath + ".weights", "only used with policy: weighted");
      }
      check_answer_fits(r, services[i], spath, s, cfg.clusters, cluster_names);
      cfg.services.push_back(std::move(s));
    }
    if (cfg.services.size() > kMaxIds)
      r.fail(services, "services", std::to_string(cfg.services.size()) + " services, more than the " +
                                       std::to_string(kMaxIds) + " a service id can number");
  }
  cfg.key_positions = r.take_key_positions();
  return cfg;
}

std::string restart_refusal(const Config& next, const std::vector<std::string>& keys) {
  std::string out;
  for (const std::string& key : keys) {
    // "server.nsid (sync.etcd.instance defaults to it)" is written at server.nsid.
    const auto at = next.key_positions.find(key.substr(0, key.find(' ')));
    if (!out.empty()) out += "; ";
    out += (at != next.key_positions.end() && at->second.line > 0 ? at->second.describe() : next.path) + ": " + key +
           " cannot change without a restart";
  }
  return out;
}

}  // namespace gslb::dns
