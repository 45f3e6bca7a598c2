#include "collector/diagnosis/classify.h"

#include <algorithm>
#include <array>
#include <climits>
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
  if (!r.has_liveness()) return false;
  const v1::Liveness& l = r.liveness();
  if (l.icmp_reply()) return true;
  for (const v1::PortProbe& p : l.ports()) {
    if (p.outcome() == v1::OUTCOME_OK || p.outcome() == v1::OUTCOME_REFUSED) return true;
  }
  // The closed-port test drew a reset (or a connect) from the host itself.
  if (l.has_closed_port() && (l.closed_port().outcome() == v1::OUTCOME_REFUSED ||
                              l.closed_port().outcome() == v1::OUTCOME_OK)) {
    return true;
  }
  // The host itself sent the ICMP error of the SSH connect, or SSH answers
  // on an alternative port.
  return (l.has_ssh_icmp_error() && l.ssh_icmp_error().from_target()) ||
         l.ssh_answered_on_port() != 0;
}

Icmp IcmpOf(const v1::IcmpError& e) {
  if (e.family() == 6) {
    if (e.type() != 1) return Icmp::kOther;  // destination unreachable
    switch (e.code()) {
      case 4:
        return Icmp::kPortUnreachable;
      case 1:  // administratively prohibited
      case 5:  // source address failed ingress/egress policy
      case 6:  // reject route to destination
        return Icmp::kProhibited;
      case 0:  // no route
      case 3:  // address unreachable
        return Icmp::kHostUnreachable;
      default:
        return Icmp::kOther;
    }
  }
  if (e.type() != 3) return Icmp::kOther;
  switch (e.code()) {
    case 3:
      return Icmp::kPortUnreachable;
    case 9:
    case 10:
    case 13:
      return Icmp::kProhibited;
    case 0:
    case 1:
    case 6:
    case 7:
      return Icmp::kHostUnreachable;
    default:
      return Icmp::kOther;
  }
}

namespace {

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Protocol ProtocolOf(const v1::CheckResult& r) {
  // The probe's banner parser and second opinion name what answered at the
  // start of the detail (probe/checks/banner_parser.cc, check_run.cc).
  std::string_view d = r.detail();
  if (StartsWith(d, "speaks SSH protocol 1 only")) return Protocol::kSsh1;
  if (StartsWith(d, "unsupported SSH protocol version")) return Protocol::kOtherSshVersion;
  if (StartsWith(d, "RESP (Redis) error")) return Protocol::kRedis;
  if (StartsWith(d, "HTTP response")) return Protocol::kHttp;
  if (StartsWith(d, "HTML document")) return Protocol::kHtml;
  if (StartsWith(d, "SMTP or FTP greeting")) return Protocol::kSmtpOrFtp;
  if (StartsWith(d, "POP3 greeting")) return Protocol::kPop3;
  if (StartsWith(d, "IMAP greeting")) return Protocol::kImap;
  if (StartsWith(d, "echoes the probe's own") || StartsWith(d, "quotes the probe's own")) {
    return Protocol::kEcho;
  }
  if (StartsWith(d, "binary data")) return Protocol::kBinary;
  const std::string& speaks = r.liveness().second_opinion().speaks();
  if (speaks == "tls") return Protocol::kTls;
  if (speaks == "http") return Protocol::kHttp;
  return Protocol::kUnknown;
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

std::string HostOfAddress(std::string_view address) {
  if (!address.empty() && address.front() == '[') {
    size_t close = address.find(']');
    return std::string(close == std::string_view::npos ? address : address.substr(1, close - 1));
  }
  size_t colon = address.rfind(':');
  // An IPv6 address without brackets has several colons: keep it whole.
  if (colon == std::string_view::npos || address.find(':') != colon) return std::string(address);
  return std::string(address.substr(0, colon));
}

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

const v1::CheckResult& ResultAt(const Classification& c, uint32_t i) {
  return *c.rows[i].observation->result;
}

// The first failing row whose SSH connect failed with an ICMP error of one of
// `kinds` (-1: none).
int32_t IcmpWitness(const Classification& c, Icmp a, Icmp b) {
  for (uint32_t i : c.fail) {
    const v1::CheckResult& r = ResultAt(c, i);
    if (!r.has_liveness() || !r.liveness().has_ssh_icmp_error()) continue;
    Icmp k = IcmpOf(r.liveness().ssh_icmp_error());
    if (k == a || k == b) return static_cast<int32_t>(i);
  }
  return -1;
}

// The cause when every fresh vantage point fails alike (c.fail, same Kind):
// named by what answered them.
void FailAlike(Classification& c) {
  const v1::CheckResult& first = ResultAt(c, c.fail[0]);
  switch (KindOf(first.outcome())) {
    case Kind::kRefused: {
      // One pass (results are scattered in memory): sshd moved when every
      // vantage point found SSH on the same alternative port; a REJECT rule
      // when an ICMP port-unreachable/prohibited came back instead of a reset.
      uint32_t moved = first.has_liveness() ? first.liveness().ssh_answered_on_port() : 0;
      int32_t icmp = -1, alt = -1;
      for (uint32_t i : c.fail) {
        const v1::CheckResult& r = ResultAt(c, i);
        if (!r.has_liveness()) {
          moved = 0;
          continue;
        }
        const v1::Liveness& l = r.liveness();
        if (l.ssh_answered_on_port() != moved) moved = 0;
        if (alt < 0 && l.ssh_answered_on_port() != 0) alt = static_cast<int32_t>(i);
        if (icmp < 0 && l.has_ssh_icmp_error()) {
          Icmp k = IcmpOf(l.ssh_icmp_error());
          if (k == Icmp::kPortUnreachable || k == Icmp::kProhibited) icmp = static_cast<int32_t>(i);
        }
      }
      if (moved != 0) {
        c.cause = v1::CAUSE_SSH_MOVED;
        c.answer = Answer::kAltPort;
        c.moved_port = moved;
        c.witness = static_cast<int32_t>(c.fail[0]);
      } else if (icmp >= 0) {
        c.cause = v1::CAUSE_FIREWALL_BLOCK;
        c.answer = ResultAt(c, icmp).liveness().ssh_icmp_error().from_target()
                       ? Answer::kIcmpRejectOnHost
                       : Answer::kIcmpProhibitedOnPath;
        c.witness = icmp;
      } else {
        c.cause = v1::CAUSE_SSH_REFUSED;
        c.answer = Answer::kTcpReset;
        c.witness = alt;  // a vantage point that found SSH on an alt port, or -1
      }
      return;
    }
    case Kind::kUnresponsive:
      c.cause = v1::CAUSE_SSH_UNRESPONSIVE;
      for (uint32_t i : c.fail) {
        if (ResultAt(c, i).pre_banner_size() > 0) {
          c.answer = Answer::kServerWords;
          c.witness = static_cast<int32_t>(i);
          break;
        }
      }
      return;
    case Kind::kNotSsh:
      c.cause = v1::CAUSE_NOT_SSH;
      c.answer = Answer::kProtocol;
      c.witness = static_cast<int32_t>(c.fail[0]);
      c.protocol = ProtocolOf(first);
      return;
    case Kind::kDns:
      c.cause = v1::CAUSE_DNS_ERROR;
      return;
    default:
      break;
  }
  // Timeouts and unreachables: a prohibition on the way or on the host, then
  // any sign of life, then a gateway's word that the host is gone.
  if (int32_t w = IcmpWitness(c, Icmp::kProhibited, Icmp::kPortUnreachable); w >= 0) {
    c.cause = v1::CAUSE_FIREWALL_BLOCK;
    c.answer = ResultAt(c, w).liveness().ssh_icmp_error().from_target()
                   ? Answer::kIcmpRejectOnHost
                   : Answer::kIcmpProhibitedOnPath;
    c.witness = w;
    return;
  }
  for (uint32_t i : c.fail) {
    if (AliveEvidence(ResultAt(c, i))) {
      c.cause = v1::CAUSE_FIREWALL_BLOCK;
      c.answer = Answer::kDropHostAlive;
      c.witness = static_cast<int32_t>(i);
      return;
    }
  }
  c.cause = v1::CAUSE_HOST_OFFLINE;
  if (int32_t w = IcmpWitness(c, Icmp::kHostUnreachable, Icmp::kHostUnreachable); w >= 0) {
    c.answer = Answer::kGatewayHostUnreachable;
    c.witness = w;
  } else {
    c.answer = Answer::kNothing;
  }
}

}  // namespace

namespace {

std::vector<std::string> AddressesOf(const Classification& c, const std::vector<uint32_t>& idx) {
  std::vector<std::string> out;
  for (uint32_t i : idx) {
    const v1::CheckResult& r = *c.rows[i].observation->result;
    if (!r.address().empty()) out.push_back(HostOfAddress(r.address()));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// Rule 4 (engine.h): the ok rows' host keys against the pins.
void JudgeHostKeys(const TargetInput& t, Classification& c) {
  for (uint32_t i : c.ok) {
    const v1::HostKey* k = c.rows[i].observation->host_key;
    if (k == nullptr || k->fingerprint().empty()) continue;
    bool pinned = std::find(t.pinned_keys.begin(), t.pinned_keys.end(), k->fingerprint()) !=
                  t.pinned_keys.end();
    (pinned ? c.key_pinned : c.key_changed).push_back(i);
  }
  if (c.key_changed.empty()) return;
  Mark(c.rows, c.ok, v1::ROLE_REACHES_IT);
  Mark(c.rows, c.key_changed, v1::ROLE_AGREES);
  c.agreeing = c.key_changed;
  c.cause = c.key_pinned.empty() ? v1::CAUSE_HOSTKEY_CHANGED : v1::CAUSE_HOSTKEY_MISMATCH;
}

}  // namespace

bool DnsMismatch(Classification& c) {
  if (c.ok.empty() || c.fail.empty()) return false;
  for (uint32_t i : c.fail) {
    const v1::CheckResult& r = *c.rows[i].observation->result;
    if (!r.resolved() || r.address().empty() || KindOf(r.outcome()) == Kind::kDns) return false;
  }
  for (uint32_t i : c.ok) {
    if (!c.rows[i].observation->result->resolved()) return false;
  }
  std::vector<std::string> fail = AddressesOf(c, c.fail), ok = AddressesOf(c, c.ok);
  for (const std::string& a : fail) {
    if (std::binary_search(ok.begin(), ok.end(), a)) return false;  // fails and reads there
  }
  c.fail_addresses = std::move(fail);
  c.ok_addresses = std::move(ok);
  return true;
}

bool ProbesBanned(const Classification& c, int64_t interval_ms, int64_t timeout_ms) {
  if (c.fail.size() < 2) return false;
  int64_t first = INT64_MAX, last = 0, last_read = 0;
  bool host_answers = !c.ok.empty();
  for (uint32_t i : c.fail) {
    const Observation& o = *c.rows[i].observation;
    Kind k = KindOf(o.result->outcome());
    if (k != Kind::kRefused && k != Kind::kFiltered && k != Kind::kUnresponsive) return false;
    if (o.last_ok_ms <= 0 || o.failing_since_ms <= o.last_ok_ms) return false;
    // A ban is silent (a drop, a reset, a close). A server that says why
    // ("Exceeded MaxStartups", "Too many users") speaks for itself.
    if (o.result->pre_banner_size() > 0) return false;
    first = std::min(first, o.failing_since_ms);
    last = std::max(last, o.failing_since_ms);
    last_read = std::max(last_read, o.last_ok_ms);
    host_answers |= SomethingAnswered(*o.result);
  }
  // Probes check on their own phases: one event (sshd stopped) reaches them
  // up to an interval apart, more under load (1.2 intervals seen in the lab,
  // 3 on a starved machine whose probes started their checks late). Bans in
  // turn come farther apart, and the probes banned later read SSH after the
  // first one's failures began (a vantage point that reads it now does too).
  // One event cannot do that: every read began before it, every failure
  // after it, but for checks in flight when it came (begun at most a
  // timeout earlier).
  const bool read_after_first_failure = !c.ok.empty() || last_read >= first + timeout_ms;
  return host_answers && last - first >= 2 * interval_ms && read_after_first_failure;
}

Classification Classify(const TargetInput& t, const FleetContext& ctx) {
  Classification c;
  c.rows.reserve(t.results.size());
  const int64_t window = ctx.stale_intervals * t.interval_ms + t.timeout_ms;
  // Both maps are ordered by probe name: walk them side by side.
  auto fit = ctx.probes.begin();
  const auto end = ctx.probes.end();
  const std::string* previous = nullptr;
  constexpr size_t kAhead = 8;  // results live elsewhere: fetch a few rows ahead
  for (size_t i = 0; i < std::min(kAhead, t.results.size()); ++i) {
    Prefetch(t.results[i].result);
  }
  for (const Observation& obs : t.results) {
    if (size_t ahead = c.rows.size() + kAhead; ahead < t.results.size()) {
      Prefetch(t.results[ahead].result);
    }
    const std::string& probe = obs.probe;
    Row row;
    row.probe = &probe;
    row.observation = &obs;
    if (fit != end && fit->probe == probe) {  // the usual case: the next listed probe
      row.facts = &*fit++;
      previous = &probe;
    } else if (previous != nullptr && probe <= *previous) {
      row.facts = ctx.Find(probe);  // out of order or repeated: look it up
    } else {
      int cmp = -1;
      while (fit != end && (cmp = fit->probe.compare(probe)) < 0) ++fit;
      row.facts = cmp == 0 ? &*fit++ : nullptr;
      previous = &probe;
    }
    auto idx = static_cast<uint32_t>(c.rows.size());
    v1::Outcome outcome = obs.result->outcome();
    if (row.facts == nullptr || !row.facts->healthy) {
      row.role = v1::ROLE_EXCLUDED_UNHEALTHY;
    } else if (ctx.now_ms - obs.received_ms > window) {
      row.role = v1::ROLE_EXCLUDED_STALE;
    } else if (outcome == v1::OUTCOME_PROBE_ERROR) {
      row.role = v1::ROLE_EXCLUDED_PROBE_ERROR;  // no observation of the target at all
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
    } else if (ProbesBanned(c, t.interval_ms, t.timeout_ms)) {
      c.cause = v1::CAUSE_PROBES_BANNED;
      Mark(c.rows, c.fail, v1::ROLE_AGREES_BLOCKED);
      c.agreeing = c.fail;
    } else {
      c.agreeing = c.fail;
      FailAlike(c);
    }
  } else if (DnsMismatch(c)) {
    c.cause = v1::CAUSE_DNS_MISMATCH;
    Mark(c.rows, c.fail, v1::ROLE_AGREES);
    Mark(c.rows, c.ok, v1::ROLE_AGREES_REACHES_IT);
    c.agreeing = c.fail;
    c.agreeing.insert(c.agreeing.end(), c.ok.begin(), c.ok.end());
  } else if (ProbesBanned(c, t.interval_ms, t.timeout_ms)) {
    c.cause = v1::CAUSE_PROBES_BANNED;
    Mark(c.rows, c.fail, v1::ROLE_AGREES_BLOCKED);
    Mark(c.rows, c.ok, v1::ROLE_AGREES_REACHES_IT);
    c.agreeing = c.fail;
    c.agreeing.insert(c.agreeing.end(), c.ok.begin(), c.ok.end());
  } else {
    // Some healthy vantage points read SSH, some fail. A failing probe that
    // reads SSH anywhere reads it from another target than this one.
    // A failure that began less than one interval + timeout ago is young:
    // the probe has not checked its other targets since, so what it "reaches"
    // predates this failure (its own egress may have broken meanwhile, rule
    // 1e), and the probes that still read SSH may not have checked since the
    // fault began either. The verdict is provisional: hysteresis does not
    // count it toward a change (hysteresis.h).
    bool all_reach_others = true;
    for (uint32_t i : c.fail) {
      all_reach_others &= c.rows[i].facts->reaches_some;
      int64_t since = c.rows[i].observation->failing_since_ms;
      if (since > 0 && ctx.now_ms - since < t.interval_ms + t.timeout_ms) c.provisional = true;
    }
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
  if (c.cause == v1::CAUSE_OK && !t.pinned_keys.empty()) JudgeHostKeys(t, c);
  if (c.cause == v1::CAUSE_PARTIAL) {
    c.confidence = 0.3;
  } else if (c.cause != v1::CAUSE_UNKNOWN) {
    c.agreeing_networks = DistinctNetworks(c.rows, c.agreeing);
    c.confidence = Confidence(c.agreeing.size(), c.agreeing_networks);
  }
  return c;
}

}  // namespace parallax::collector::diagnosis
