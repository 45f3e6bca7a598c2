#include "collector/diagnosis/classify.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string_view>

namespace parallax::collector::diagnosis {

Kind KindOf(v1::Outcome o) {
  switch (o) {
    case v1::OUTCOME_OK:
      return Kind::kOk;
    case v1::OUTCOME_REFUSED:
      return Kind::kRefused;
    case v1::OUTCOME_BANNER_TIMEOUT:
    case v1::OUTCOME_CLOSED:
    case v1::OUTCOME_RESET:
      return Kind::kUnresponsive;
    case v1::OUTCOME_NOT_SSH:
      return Kind::kNotSsh;
    case v1::OUTCOME_DNS_ERROR:
      return Kind::kDns;
    default:
      return Kind::kFiltered;  // timeout, host/network unreachable
  }
}

bool AliveEvidence(const v1::CheckResult& r) {
  const v1::Liveness& l = r.liveness();
  if (l.icmp_reply()) return true;
  for (const v1::PortProbe& p : l.ports()) {
    if (p.outcome() == v1::OUTCOME_OK || p.outcome() == v1::OUTCOME_REFUSED) return true;
  }
  return false;
}

bool LivenessTried(const v1::CheckResult& r) {
  return r.liveness().icmp_attempted() || r.liveness().ports_size() > 0;
}

bool SomethingAnswered(const v1::CheckResult& r) {
  return AliveEvidence(r) || r.outcome() == v1::OUTCOME_REFUSED ||
         KindOf(r.outcome()) == Kind::kUnresponsive || r.outcome() == v1::OUTCOME_NOT_SSH;
}

double Confidence(size_t agreeing, size_t networks) {
  if (agreeing == 0) return 0;
  double c = 1.0 - std::pow(0.5, static_cast<double>(agreeing)) +
             0.05 * (static_cast<double>(networks) - 1);
  return std::min(0.99, c);
}

namespace {}  // namespace

size_t DistinctNetworks(const std::vector<Row>& rows, const std::vector<uint32_t>& idx) {
  // Rows that decide are of listed (healthy) probes: their facts are set.
  uint64_t small = 0;  // the usual case: network ids below 64
  bool all_small = true;
  for (uint32_t i : idx) {
    int id = rows[i].facts->network_id;
    if (id >= 0 && id < 64) {
      small |= uint64_t{1} << id;
    } else {
      all_small = false;
    }
  }
  if (all_small) return static_cast<size_t>(__builtin_popcountll(small));
  std::vector<int> n;
  n.reserve(idx.size());
  for (uint32_t i : idx) n.push_back(rows[i].facts->network_id);
  std::sort(n.begin(), n.end());
  return static_cast<size_t>(std::unique(n.begin(), n.end()) - n.begin());
}

namespace {

void Mark(std::vector<Row>& rows, const std::vector<uint32_t>& idx, v1::Role role) {
  for (uint32_t i : idx) rows[i].role = role;
}

}  // namespace

Classification Classify(const TargetInput& t, const FleetContext& ctx) {
  Classification c;
  c.rows.reserve(t.results.size());
  const int64_t window = ctx.stale_intervals * t.interval_ms + t.timeout_ms;
  // Both maps are ordered by probe name: walk them side by side.
  auto fit = ctx.probes.begin();
  const auto end = ctx.probes.end();
  const std::string* previous = nullptr;
  for (const Observation& obs : t.results) {
    const std::string& probe = obs.probe;
    Row row;
    row.probe = &probe;
    row.observation = &obs;
    if (previous != nullptr && probe <= *previous) {
      row.facts = ctx.Find(probe);  // out of order or repeated: look it up
    } else {
      if (fit != end && fit->probe == probe) {  // the usual case: every probe reports
        row.facts = &*fit++;
      } else {
        int cmp = -1;
        while (fit != end && (cmp = fit->probe.compare(probe)) < 0) ++fit;
        row.facts = cmp == 0 ? &*fit++ : nullptr;
      }
      previous = &probe;
    }
    auto idx = static_cast<uint32_t>(c.rows.size());
    v1::Outcome outcome = obs.result->outcome();
    if (row.facts == nullptr || !row.facts->healthy) {
      row.role = v1::ROLE_EXCLUDED_UNHEALTHY;
    } else if (ctx.now_ms - obs.received_ms > window) {
      row.role = v1::ROLE_EXCLUDED_STALE;
    } else if (outcome != v1::OUTCOME_OK && row.facts->network_blocked) {
      row.role = v1::ROLE_SET_ASIDE;
      c.aside.push_back(idx);
    } else if (outcome == v1::OUTCOME_OK) {
      c.ok.push_back(idx);
    } else {
      c.fail.push_back(idx);
    }
    c.rows.push_back(row);
  }
  auto outcome_of = [&](uint32_t i) { return c.rows[i].observation->result->outcome(); };

  if (c.ok.empty() && c.fail.empty() && c.aside.empty()) {
    c.cause = v1::CAUSE_UNKNOWN;
  } else if (c.fail.empty()) {
    Mark(c.rows, c.ok, v1::ROLE_AGREES);
    c.agreeing = c.ok;
    if (c.aside.empty()) {
      c.cause = v1::CAUSE_OK;
    } else {
      c.cause = v1::CAUSE_ISP_BLOCK;
      // Those that reach it confirm the host is fine: they count as support.
      Mark(c.rows, c.aside, v1::ROLE_AGREES);
      Mark(c.rows, c.ok, v1::ROLE_AGREES_REACHES_IT);
      c.agreeing = c.aside;
      c.agreeing.insert(c.agreeing.end(), c.ok.begin(), c.ok.end());
    }
  } else if (c.ok.empty()) {
    std::array<int, 6> count{};
    for (uint32_t i : c.fail) ++count[static_cast<int>(KindOf(outcome_of(i)))];
    int kinds = 0;
    for (int n : count) kinds += n > 0;
    Mark(c.rows, c.fail, v1::ROLE_AGREES);
    if (kinds > 1) {
      // Every vantage point fails, but differently: the most common kind
      // (the first in Kind order on a tie) agrees, the others disagree.
      c.cause = v1::CAUSE_PARTIAL;
      auto common = static_cast<Kind>(std::max_element(count.begin(), count.end()) - count.begin());
      for (uint32_t i : c.fail) {
        if (KindOf(outcome_of(i)) != common) c.rows[i].role = v1::ROLE_DISAGREES;
      }
    } else {
      c.agreeing = c.fail;
      switch (KindOf(outcome_of(c.fail[0]))) {
        case Kind::kRefused:
          c.cause = v1::CAUSE_SSH_REFUSED;
          break;
        case Kind::kUnresponsive:
          c.cause = v1::CAUSE_SSH_UNRESPONSIVE;
          break;
        case Kind::kNotSsh:
          c.cause = v1::CAUSE_NOT_SSH;
          break;
        case Kind::kDns:
          c.cause = v1::CAUSE_DNS_ERROR;
          break;
        default: {
          bool alive = false;
          for (uint32_t i : c.fail) alive |= AliveEvidence(*c.rows[i].observation->result);
          c.cause = alive ? v1::CAUSE_FIREWALL_BLOCK : v1::CAUSE_HOST_OFFLINE;
        }
      }
    }
  } else {
    // Some healthy vantage points read SSH, some fail. A failing probe that
    // reads SSH anywhere reads it from another target than this one.
    bool all_reach_others = true;
    for (uint32_t i : c.fail) all_reach_others &= c.rows[i].facts->reaches_some;
    if (all_reach_others) {
      c.cause = v1::CAUSE_SOURCE_BLOCK;
      Mark(c.rows, c.fail, v1::ROLE_AGREES_BLOCKED);
      Mark(c.rows, c.ok, v1::ROLE_AGREES_REACHES_IT);
      c.agreeing = c.fail;
      c.agreeing.insert(c.agreeing.end(), c.ok.begin(), c.ok.end());
    } else {
      c.cause = v1::CAUSE_PARTIAL;
      Mark(c.rows, c.fail, v1::ROLE_DISAGREES);
      Mark(c.rows, c.ok, v1::ROLE_REACHES_IT);
    }
  }
  if (c.cause == v1::CAUSE_PARTIAL) {
    c.confidence = 0.3;
  } else if (c.cause != v1::CAUSE_UNKNOWN) {
    c.agreeing_networks = DistinctNetworks(c.rows, c.agreeing);
    c.confidence = Confidence(c.agreeing.size(), c.agreeing_networks);
  }
  return c;
}

}  // namespace parallax::collector::diagnosis
