#include "collector/diagnosis/engine.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "common/words.h"

namespace parallax::collector::diagnosis {
namespace {

enum class Kind { kOk, kRefused, kFiltered, kUnresponsive, kNotSsh, kDns };

Kind KindOf(v1::Outcome o) {
  switch (o) {
    case v1::OUTCOME_OK: return Kind::kOk;
    case v1::OUTCOME_REFUSED: return Kind::kRefused;
    case v1::OUTCOME_BANNER_TIMEOUT:
    case v1::OUTCOME_CLOSED:
    case v1::OUTCOME_RESET: return Kind::kUnresponsive;
    case v1::OUTCOME_NOT_SSH: return Kind::kNotSsh;
    case v1::OUTCOME_DNS_ERROR: return Kind::kDns;
    default: return Kind::kFiltered;  // timeout, host/network unreachable
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

std::string NetworkOf(const std::string& probe, const Labels& labels) {
  auto it = labels.find("network");
  return it != labels.end() && !it->second.empty() ? it->second : "probe:" + probe;
}

std::string LivenessText(const v1::CheckResult& r) {
  const v1::Liveness& l = r.liveness();
  std::string out;
  if (l.icmp_attempted()) {
    out += l.icmp_reply() ? "ping answers" : "no ping reply" + (l.icmp_error().empty() ? "" : " (" + l.icmp_error() + ")");
  }
  for (const v1::PortProbe& p : l.ports()) {
    if (!out.empty()) out += ", ";
    out += "port " + std::to_string(p.port()) + " " +
           (p.outcome() == v1::OUTCOME_OK ? std::string("open")
                                          : std::string(OutcomeWord(p.outcome())));
  }
  return out;
}

std::string Join(const std::vector<std::string>& items, const std::string& sep = ", ") {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : sep) + s;
  return out;
}

double Confidence(size_t agreeing, size_t networks) {
  if (agreeing == 0) return 0;
  double c = 1.0 - std::pow(0.5, static_cast<double>(agreeing)) + 0.05 * (networks - 1);
  return std::min(0.99, c);
}

std::string Plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

// Per probe: what it saw across all targets (fresh results only).
struct ProbeView {
  const ProbeInput* input = nullptr;
  std::string network;
  bool healthy = true;
  std::string reason;
  int fresh = 0;
  int ok = 0;
  bool alive = false;
  std::vector<int> fail_targets;  // indices into Input::targets
};

// Per target: which networks of healthy probes read SSH from it (enough to
// answer "does a network other than N reach it?" in O(1)).
struct OkNetworks {
  const std::string* first = nullptr;
  bool several = false;
  void Add(const std::string* network) {
    if (first == nullptr) {
      first = network;
    } else if (*first != *network) {
      several = true;
    }
  }
  bool OtherThan(const std::string& network) const {
    return several || (first != nullptr && *first != network);
  }
};

// Walks t.results and `views` (both ordered by probe name) side by side,
// calling f(view or nullptr, probe, result) without a lookup per result.
template <typename Views, typename F>
void ForEachResult(Views& views, const TargetInput& t, F f) {
  auto vit = views.begin();
  for (const auto& [probe, r] : t.results) {
    while (vit != views.end() && vit->first < probe) ++vit;
    f(vit != views.end() && vit->first == probe ? &vit->second : nullptr, probe, r);
  }
}

bool IsFresh(const Input& in, const TargetInput& t, const v1::CheckResult& r) {
  return in.now_ms - r.started_unix_ms() <= in.stale_intervals * t.interval_ms + t.timeout_ms;
}

std::map<std::string, ProbeView> ProbeViews(const Input& in, std::vector<OkNetworks>* ok_nets) {
  std::map<std::string, ProbeView> views;
  int64_t min_interval = 0, max_timeout = 0;
  for (const TargetInput& t : in.targets) {
    min_interval = min_interval == 0 ? t.interval_ms : std::min(min_interval, t.interval_ms);
    max_timeout = std::max(max_timeout, t.timeout_ms);
  }
  for (const auto& [name, p] : in.probes) {
    ProbeView& v = views[name];
    v.input = &p;
    v.network = NetworkOf(name, p.labels);
    int64_t silent = in.now_ms - p.last_seen_ms;
    if (!p.connected) {
      v.healthy = false;
      v.reason = "not connected to the collector";
    } else if (min_interval > 0 && silent > in.stale_intervals * min_interval + max_timeout) {
      v.healthy = false;
      v.reason = "nothing received for " + std::to_string(silent / 1000) + " s";
    }
  }
  ok_nets->assign(in.targets.size(), OkNetworks());
  for (size_t ti = 0; ti < in.targets.size(); ++ti) {
    const TargetInput& t = in.targets[ti];
    ForEachResult(views, t, [&](ProbeView* v, const std::string&, const v1::CheckResult& r) {
      if (v == nullptr || !IsFresh(in, t, r)) return;
      ++v->fresh;
      if (r.outcome() == v1::OUTCOME_OK) {
        ++v->ok;
        if (v->healthy) (*ok_nets)[ti].Add(&v->network);
      } else {
        v->fail_targets.push_back(static_cast<int>(ti));
      }
      v->alive |= AliveEvidence(r) || r.outcome() == v1::OUTCOME_REFUSED ||
                  KindOf(r.outcome()) == Kind::kUnresponsive || r.outcome() == v1::OUTCOME_NOT_SSH;
    });
  }
  return views;
}

}  // namespace

Output Diagnose(const Input& in) {
  Output out;
  std::vector<OkNetworks> ok_nets;
  std::map<std::string, ProbeView> views = ProbeViews(in, &ok_nets);

  // 1. Isolated probes: fail everything (two targets at least), no liveness
  //    evidence answers, while others reach one of those targets.
  for (auto& [name, v] : views) {
    if (!v.healthy || v.fresh < 2 || v.ok > 0 || v.alive) continue;
    for (int t : v.fail_targets) {
      if (ok_nets[t].OtherThan(v.network)) {
        v.healthy = false;
        v.reason = "fails every target (" + std::to_string(v.fresh) +
                   ") and no liveness check answers, while other probes reach them: its own "
                   "network looks down";
        break;
      }
    }
  }

  // 2. Blocked networks: every healthy probe of the network fails SSH to every
  //    target it checks, two or more of which other networks reach.
  std::map<std::string, std::vector<const ProbeView*>> by_network;
  for (const auto& [name, v] : views) {
    if (v.healthy) by_network[v.network].push_back(&v);
  }
  std::set<std::string> blocked;
  for (const auto& [network, members] : by_network) {
    bool all_fail = true;
    std::set<int> reached_elsewhere;
    for (const ProbeView* v : members) {
      if (v->fresh == 0 || v->ok > 0) all_fail = false;
      for (int t : v->fail_targets) {
        if (ok_nets[t].OtherThan(network)) reached_elsewhere.insert(t);
      }
    }
    if (all_fail && reached_elsewhere.size() >= 2) blocked.insert(network);
  }
  out.blocked_networks.assign(blocked.begin(), blocked.end());

  for (const auto& [name, v] : views) {
    out.probes.push_back({name, v.input->labels, v.healthy, v.reason});
  }

  // 3. One verdict per target.
  for (const TargetInput& t : in.targets) {
    Verdict verdict;
    verdict.target = t.name;
    verdict.evidence.reserve(t.results.size());
    std::vector<const v1::CheckResult*> results;  // parallel to verdict.evidence
    results.reserve(t.results.size());
    std::vector<size_t> ok_idx, fail_idx, aside_idx;
    ForEachResult(views, t, [&](const ProbeView* v, const std::string& probe,
                                const v1::CheckResult& r) {
      Evidence e;
      e.probe = probe;
      e.network = v != nullptr ? v->network : NetworkOf(probe, {});
      e.outcome = r.outcome();
      e.connect_ms = r.connect_us() / 1000.0;
      e.age_s = (in.now_ms - r.started_unix_ms()) / 1000.0;
      e.alive_evidence = AliveEvidence(r);
      size_t idx = verdict.evidence.size();
      if (v == nullptr || !v->healthy) {
        e.role = "excluded: unhealthy probe";
      } else if (!IsFresh(in, t, r)) {
        e.role = "excluded: stale";
      } else if (r.outcome() != v1::OUTCOME_OK && blocked.count(e.network)) {
        e.role = "set aside: its network blocks SSH";
        aside_idx.push_back(idx);
      } else if (r.outcome() == v1::OUTCOME_OK) {
        ok_idx.push_back(idx);
      } else {
        fail_idx.push_back(idx);
      }
      verdict.evidence.push_back(std::move(e));
      results.push_back(&r);
    });
    auto networks_of = [&](const std::vector<size_t>& idx) {
      std::vector<std::string_view> n;
      n.reserve(idx.size());
      for (size_t i : idx) n.push_back(verdict.evidence[i].network);
      std::sort(n.begin(), n.end());
      n.erase(std::unique(n.begin(), n.end()), n.end());
      return std::vector<std::string>(n.begin(), n.end());
    };
    auto detail_of = [&](size_t i) {
      const v1::CheckResult& r = *results[i];
      std::string d = r.outcome() == v1::OUTCOME_OK ? r.identification() : r.detail();
      if (d.empty() && r.pre_banner_size() > 0) d = "server said: " + r.pre_banner(0);
      std::string live = LivenessText(r);
      if (!live.empty()) d += (d.empty() ? "" : "; ") + live;
      return d;
    };
    auto probes_of = [&](const std::vector<size_t>& idx) {
      std::vector<std::string> p;
      for (size_t i : idx) p.push_back(verdict.evidence[i].probe);
      return p;
    };
    auto mark = [&](const std::vector<size_t>& idx, std::string_view role) {
      for (size_t i : idx) verdict.evidence[i].role = role;
    };
    std::string where = "port " + std::to_string(t.port);
    std::vector<size_t> agreeing;

    if (ok_idx.empty() && fail_idx.empty() && aside_idx.empty()) {
      verdict.cause = v1::CAUSE_UNKNOWN;
      verdict.summary = "No fresh result from any healthy probe: Parallax cannot tell.";
    } else if (fail_idx.empty()) {
      mark(ok_idx, "agrees");
      agreeing = ok_idx;
      if (aside_idx.empty()) {
        verdict.cause = v1::CAUSE_OK;
        verdict.summary = "SSH answers from " + Plural(ok_idx.size(), "vantage point") + " in " +
                          Plural(networks_of(ok_idx).size(), "network") + ".";
      } else {
        verdict.cause = v1::CAUSE_ISP_BLOCK;
        verdict.blocked_networks = networks_of(aside_idx);
        mark(aside_idx, "agrees");
        // Those that reach it confirm the host is fine: they count as support.
        agreeing = aside_idx;
        agreeing.insert(agreeing.end(), ok_idx.begin(), ok_idx.end());
        verdict.summary = "SSH fails only from network " + Join(verdict.blocked_networks) + " (" +
                          Join(probes_of(aside_idx)) +
                          "), which cannot reach SSH on other targets either, while " +
                          Plural(ok_idx.size(), "vantage point") +
                          " elsewhere read it: that network blocks outbound SSH.";
        if (!ok_idx.empty()) mark(ok_idx, "agrees (reaches it)");
      }
    } else if (ok_idx.empty()) {
      std::set<Kind> kinds;
      for (size_t i : fail_idx) kinds.insert(KindOf(verdict.evidence[i].outcome));
      size_t n = fail_idx.size();
      std::string from = Plural(n, "vantage point") + " in " +
                         Plural(networks_of(fail_idx).size(), "network");
      agreeing = fail_idx;
      mark(fail_idx, "agrees");
      if (kinds.size() > 1) {
        verdict.cause = v1::CAUSE_PARTIAL;
        std::vector<std::string> parts;
        for (size_t i : fail_idx) {
          parts.push_back(verdict.evidence[i].probe + " " +
                          std::string(OutcomeWord(verdict.evidence[i].outcome)));
        }
        verdict.summary = "Every vantage point fails, but differently (" + Join(parts) +
                          "): competing explanations are a per-source block on top of another "
                          "fault, or a fault that changed while probes checked.";
        agreeing.clear();
        std::map<Kind, int> count;
        for (size_t i : fail_idx) ++count[KindOf(verdict.evidence[i].outcome)];
        Kind common = std::max_element(count.begin(), count.end(), [](auto& a, auto& b) {
                        return a.second < b.second;
                      })->first;
        for (size_t i : fail_idx) {
          if (KindOf(verdict.evidence[i].outcome) != common) verdict.evidence[i].role = "disagrees";
        }
      } else {
        Kind k = *kinds.begin();
        const v1::CheckResult& first = *results[fail_idx[0]];
        switch (k) {
          case Kind::kRefused:
            verdict.cause = v1::CAUSE_SSH_REFUSED;
            verdict.summary = "Refused on " + where + " from every vantage point (" + from +
                              "): nothing accepts SSH there — sshd stopped, moved to another "
                              "port, or a firewall rejects it.";
            break;
          case Kind::kUnresponsive:
            verdict.cause = v1::CAUSE_SSH_UNRESPONSIVE;
            verdict.summary = "TCP connects on " + where + " from " + from +
                              ", but no SSH identification line comes back: sshd overloaded "
                              "(MaxStartups), a tarpit, or a middlebox.";
            break;
          case Kind::kNotSsh:
            verdict.cause = v1::CAUSE_NOT_SSH;
            verdict.summary = "Another protocol answers on " + where + " (" + from + ")" +
                              (first.detail().empty() ? "" : ": " + first.detail()) + ".";
            break;
          case Kind::kDns:
            verdict.cause = v1::CAUSE_DNS_ERROR;
            verdict.summary = "The name " + t.host + " does not resolve from " + from + ".";
            break;
          default: {
            std::vector<size_t> alive, tried;
            for (size_t i : fail_idx) {
              const v1::CheckResult& r = *results[i];
              if (AliveEvidence(r)) alive.push_back(i);
              if (LivenessTried(r)) tried.push_back(i);
            }
            if (!alive.empty()) {
              verdict.cause = v1::CAUSE_FIREWALL_BLOCK;
              verdict.summary = "SSH on " + where + " is filtered from " + from +
                                " (no answer, or ICMP prohibited) while the host is up (" +
                                detail_of(alive[0]) +
                                "): a firewall drops or rejects SSH.";
            } else {
              verdict.cause = v1::CAUSE_HOST_OFFLINE;
              verdict.summary = "Nothing answers from " + from + ": no SSH" +
                                (tried.empty() ? "" : ", no ping, no liveness port") +
                                " — the host is down or its address unreachable.";
              if (tried.empty()) {
                verdict.summary += " (No liveness evidence was gathered: a firewall that drops "
                                   "everything looks the same; enable ICMP or liveness_ports.)";
              }
            }
          }
        }
      }
    } else {
      // Some healthy vantage points read SSH, some fail.
      std::vector<std::string> reaching_others, not_reaching;
      for (size_t i : fail_idx) {
        // It fails this target, so any target it reads SSH from is another.
        bool other_ok = views.at(verdict.evidence[i].probe).ok > 0;
        (other_ok ? reaching_others : not_reaching).push_back(verdict.evidence[i].probe);
      }
      std::vector<std::string> nets = networks_of(fail_idx);
      if (not_reaching.empty()) {
        verdict.cause = v1::CAUSE_SOURCE_BLOCK;
        mark(fail_idx, "agrees (blocked)");
        mark(ok_idx, "agrees (reaches it)");
        agreeing = fail_idx;
        agreeing.insert(agreeing.end(), ok_idx.begin(), ok_idx.end());
        verdict.summary = "SSH fails only from " + Join(probes_of(fail_idx)) + " (" +
                          Join(nets) + "), which " +
                          (fail_idx.size() == 1 ? "reaches" : "reach") + " other targets, while " +
                          Plural(ok_idx.size(), "other vantage point") +
                          " read it: the host bans or does not allow those sources (fail2ban, "
                          "firewall source rules).";
      } else {
        verdict.cause = v1::CAUSE_PARTIAL;
        mark(fail_idx, "disagrees");
        mark(ok_idx, "reaches it");
        verdict.summary = "SSH fails from " + Join(probes_of(fail_idx)) + " but answers from " +
                          Join(probes_of(ok_idx)) + ". Competing explanations: network " +
                          Join(nets) +
                          " blocks outbound SSH (isp_block), or the host blocks those sources "
                          "(source_block); checks of more targets from those probes tell them apart.";
      }
    }
    if (!aside_idx.empty() && verdict.cause != v1::CAUSE_ISP_BLOCK) {
      verdict.summary += " (Failures from network " + Join({blocked.begin(), blocked.end()}) +
                         " are set aside: it blocks SSH to every target.)";
    }
    if (verdict.cause != v1::CAUSE_PARTIAL && verdict.cause != v1::CAUSE_UNKNOWN) {
      verdict.confidence = Confidence(agreeing.size(), networks_of(agreeing).size());
      if (agreeing.size() == 1) verdict.summary += " Seen from one vantage point only.";
    } else {
      verdict.confidence = verdict.cause == v1::CAUSE_PARTIAL ? 0.3 : 0.0;
    }
    for (size_t i = 0; i < verdict.evidence.size(); ++i) {
      Evidence& e = verdict.evidence[i];
      if (e.role == "disagrees") verdict.disagreeing.push_back(e.probe);
      // Details only where they explain something: not for an ok verdict.
      if (verdict.cause != v1::CAUSE_OK) e.detail = detail_of(i);
    }
    verdict.remediation = Remediation(verdict.cause);
    out.verdicts.push_back(std::move(verdict));
  }
  return out;
}

}  // namespace parallax::collector::diagnosis
