// The agreement rule: pure, so the unit tests feed it votes directly.
#include <algorithm>
#include <charconv>

#include "sync/sync.h"

namespace gslb::sync {

std::optional<DownRule> parse_down_rule(const std::string& text) {
  if (text == "majority") return DownRule{DownRule::Kind::majority, 0};
  if (text == "all") return DownRule{DownRule::Kind::all, 0};
  if (text == "any") return DownRule{DownRule::Kind::any, 0};
  unsigned n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || n == 0 || n > 1000) return std::nullopt;
  return DownRule{DownRule::Kind::count, n};
}

std::string to_string(const DownRule& rule) {
  switch (rule.kind) {
    case DownRule::Kind::majority: return "majority";
    case DownRule::Kind::all: return "all";
    case DownRule::Kind::any: return "any";
    case DownRule::Kind::count: break;
  }
  return std::to_string(rule.count);
}

// A tie under `majority` (two instances, one each way) keeps the cluster up: for a
// name server, answering with a cluster one vantage point doubts costs less than
// taking it away from every resolver on one instance's word.
std::optional<bool> agreed_up(const std::vector<bool>& votes, const DownRule& rule) {
  if (votes.empty()) return std::nullopt;
  const auto down = static_cast<std::size_t>(std::count(votes.begin(), votes.end(), false));
  switch (rule.kind) {
    case DownRule::Kind::majority: return !(2 * down > votes.size());
    case DownRule::Kind::all: return down != votes.size();
    case DownRule::Kind::any: return down == 0;
    case DownRule::Kind::count: break;
  }
  // With fewer live instances than N (two of three crashed), all of them must agree:
  // otherwise a survivor would answer with a cluster it sees dead for as long as the
  // others are gone.
  return down < std::min<std::size_t>(rule.count, votes.size());
}

}  // namespace gslb::sync
