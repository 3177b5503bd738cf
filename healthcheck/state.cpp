#include "healthcheck/state.h"

#include <algorithm>
#include <iterator>
#include <map>

namespace gslb::health {

const char* to_string(Status s) {
  switch (s) {
    case Status::up: return "up";
    case Status::down: return "down";
    case Status::unknown: break;
  }
  return "unknown";
}

namespace {

CheckState initial_check_state(InitialState initial, HealthState::TimePoint now) {
  CheckState cs;
  cs.since = now;
  switch (initial) {
    case InitialState::probe: cs.awaiting_first = true; break;
    case InitialState::up: cs.status = Status::up; break;
    case InitialState::down: cs.status = Status::down; break;
  }
  return cs;
}

}  // namespace

// Checks without a result yet do not move the cluster: a check added to a healthy
// cluster by a reload must not take it out of answers until it has been probed.
Status HealthState::derive(const Cluster& c) {
  if (c.checks.empty()) return Status::up;
  auto count = [&](Status s) {
    return std::count_if(c.checks.begin(), c.checks.end(),
                         [s](const CheckState& cs) { return cs.status == s; });
  };
  const auto n = static_cast<std::ptrdiff_t>(c.checks.size());
  const auto up = count(Status::up);
  const auto down = count(Status::down);
  if (c.def.require_any) {
    if (up > 0) return Status::up;
    if (down == n) return Status::down;
  } else {
    if (down > 0) return Status::down;
    if (up == n) return Status::up;
  }
  return c.health;
}

void HealthState::configure(std::vector<ClusterDef> defs, TimePoint now) {
  std::vector<Cluster> next;
  next.reserve(defs.size());
  for (auto& def : defs) {
    Cluster c;
    const auto old = std::find_if(clusters_.begin(), clusters_.end(),
                                  [&](const Cluster& o) { return o.def.name == def.name; });
    // identity -> indices of the old cluster's checks with it, consumed in order.
    std::map<std::string, std::vector<std::size_t>> old_checks;
    if (old != clusters_.end()) {
      for (std::size_t i = old->def.checks.size(); i-- > 0;)
        old_checks[old->def.checks[i].identity].push_back(i);
      c.health = old->health;
    }
    for (const auto& check : def.checks) {
      auto& candidates = old_checks[check.identity];
      if (!candidates.empty()) {
        c.checks.push_back(old->checks[candidates.back()]);
        candidates.pop_back();
      } else {
        c.checks.push_back(initial_check_state(check.initial.value_or(def.initial_state), now));
      }
    }
    c.def = std::move(def);
    c.health = derive(c);
    next.push_back(std::move(c));
  }
  clusters_ = std::move(next);
  awaiting_ = 0;
  for (const Cluster& c : clusters_)
    awaiting_ += std::count_if(c.checks.begin(), c.checks.end(), [](const CheckState& cs) { return cs.awaiting_first; });
}

std::optional<ClusterChange> HealthState::record(std::size_t cluster, std::size_t check,
                                                 const ProbeResult& result, TimePoint now) {
  if (cluster >= clusters_.size() || check >= clusters_[cluster].checks.size())
    return std::nullopt;
  // A probe that could not run says nothing about its target: neither a failure
  // towards `fall` nor a break in a run of successes.
  if (result.local != LocalError::none) return std::nullopt;
  Cluster& c = clusters_[cluster];
  const CheckDef& def = c.def.checks[check];
  CheckState& cs = c.checks[check];

  cs.consecutive = (cs.has_result && cs.last_ok == result.ok) ? cs.consecutive + 1 : 1;
  cs.last_ok = result.ok;
  cs.has_result = true;
  if (cs.awaiting_first) --awaiting_;
  cs.awaiting_first = false;
  cs.last_reason = result.reason;
  cs.last_latency = result.latency;

  const Status before = cs.status;
  if (cs.status == Status::unknown) {
    cs.status = result.ok ? Status::up : Status::down;
  } else if (cs.status == Status::up && !result.ok && cs.consecutive >= def.fall) {
    cs.status = Status::down;
  } else if (cs.status == Status::down && result.ok && cs.consecutive >= def.rise) {
    cs.status = Status::up;
  }
  if (cs.status == before) return std::nullopt;
  cs.since = now;

  const Status cluster_before = c.health;
  c.health = derive(c);
  if (c.health == cluster_before) return std::nullopt;

  ClusterChange change;
  change.cluster = cluster;
  change.cause = c.health == Status::up ? ClusterChange::Cause::became_healthy : ClusterChange::Cause::became_unhealthy;
  change.up = answerable(cluster);
  change.fields = {c.def.name, {}, def.name, result.ok ? std::string() : to_string(result.failure)};
  change.log_line = "cluster " + c.def.name + " " + to_string(c.health) +
                    (is_drained(cluster) ? " (drained)" : "") + ": " + def.identity + ": " +
                    result.reason + " (";
  if (before == Status::unknown) {
    change.log_line += "first probe)";
  } else {
    const unsigned threshold = result.ok ? def.rise : def.fall;
    change.log_line += std::to_string(cs.consecutive) + "/" + std::to_string(threshold) +
                       (result.ok ? " successes)" : " failures)");
  }
  return change;
}

HealthState::DrainResult HealthState::set_drained(const std::string& name, bool drained) {
  DrainResult r;
  const auto it = std::find_if(clusters_.begin(), clusters_.end(),
                               [&](const Cluster& c) { return c.def.name == name; });
  if (it == clusters_.end()) return r;
  r.found = true;
  const bool was = drained_.count(name) > 0;
  if (was == drained) return r;
  if (drained)
    drained_.insert(name);
  else
    drained_.erase(name);
  const auto index = static_cast<std::size_t>(it - clusters_.begin());
  ClusterChange change;
  change.cluster = index;
  change.cause = drained ? ClusterChange::Cause::drained : ClusterChange::Cause::undrained;
  change.up = answerable(index);
  change.fields = {name, {}, {}, drained ? "drained" : "undrained"};
  change.log_line = "cluster " + name + (drained ? " drained" : " undrained") + ", now " +
                    (change.up ? "up" : "down") + " (health " + to_string(it->health) + ")";
  r.change = std::move(change);
  return r;
}

bool HealthState::is_drained(std::size_t cluster) const {
  return drained_.count(clusters_[cluster].def.name) > 0;
}

bool HealthState::answerable(std::size_t cluster) const {
  const auto agreed = agreed_.find(clusters_[cluster].def.name);
  const bool up = agreed != agreed_.end() ? agreed->second : clusters_[cluster].health == Status::up;
  return up && !is_drained(cluster);
}

std::vector<ClusterChange> HealthState::replace_drained(const std::set<std::string>& names) {
  std::vector<ClusterChange> changes;
  std::set<std::string> moved;
  std::set_symmetric_difference(drained_.begin(), drained_.end(), names.begin(), names.end(),
                                std::inserter(moved, moved.end()));
  for (const std::string& name : moved)
    if (auto r = set_drained(name, names.count(name) > 0); r.change) changes.push_back(std::move(*r.change));
  // Names of clusters not configured here are kept too, for a reload that adds them.
  drained_ = names;
  return changes;
}

bool HealthState::transitioning(std::size_t cluster) const {
  const auto& checks = clusters_[cluster].checks;
  return std::any_of(checks.begin(), checks.end(),
                     [](const CheckState& cs) { return cs.transitioning(); });
}

std::vector<uint8_t> HealthState::up_vector() const {
  std::vector<uint8_t> v(clusters_.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = answerable(i) ? 1 : 0;
  return v;
}

std::vector<uint8_t> HealthState::transitioning_vector() const {
  std::vector<uint8_t> v(clusters_.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = transitioning(i) ? 1 : 0;
  return v;
}

}  // namespace gslb::health
