#include "collector/server/world.h"

#include <algorithm>

#include "collector/diagnosis/evidence_proto.h"

namespace parallax::collector {
namespace {

// `results`: the target's newest result per probe (may be null); each
// evidence row gets its probe's pre-banner lines and ICMP/path evidence.
void ToProto(const diagnosis::Verdict& v, const std::string& host, uint32_t port, int64_t since_ms,
             int64_t now_ms, const std::map<std::string, ProbeState>& probes,
             const LiveState::PairsOfTarget* results, v1::Verdict* out) {
  diagnosis::SetVerdictFields(v, host, port, since_ms, now_ms, out);
  for (const diagnosis::Evidence& e : v.evidence) {
    v1::EvidenceItem* item = out->add_evidence();
    diagnosis::SetWordedEvidence(e, item);
    auto p = probes.find(e.probe);
    if (p != probes.end())
      item->mutable_labels()->insert(p->second.labels.begin(), p->second.labels.end());
    if (p != probes.end() && p->second.clock_measured) {
      item->set_clock_measured(true);
      item->set_clock_offset_s(p->second.clock_offset_ms / 1000.0);
    }
    auto r =
        results != nullptr ? results->find(e.probe) : LiveState::PairsOfTarget::const_iterator();
    if (results != nullptr && r != results->end()) {
      const v1::CheckResult& res = r->second.newest;
      // A verdict that was not re-diagnosed keeps its roles; its ages age.
      // (A result newer than the evaluation counts as age 0.)
      item->set_age_s(static_cast<double>(std::max<int64_t>(0, now_ms - ResultTimeMs(res))) /
                      1000.0);
      item->set_connect_ms(res.connect_us() / 1000.0);
      diagnosis::SetResultEvidence(res, item);
      item->set_previous_address(r->second.previous_address);
      item->set_address_changed_unix_ms(r->second.address_changed_ms);
      item->set_source_address(r->second.source_address);
    }
  }
}

}  // namespace

void World::Publish(std::shared_ptr<const Verdicts> verdicts) {
  std::lock_guard<std::mutex> lock(mu_);
  verdicts_ = std::move(verdicts);
}

std::shared_ptr<const Verdicts> World::verdicts() const {
  std::lock_guard<std::mutex> lock(mu_);
  return verdicts_;
}

v1::ExplainResponse World::Explain(const std::string& target) const {
  std::shared_ptr<const Verdicts> p = verdicts();
  v1::ExplainResponse out;
  for (const Verdicts::Entry& e : p->verdicts) {
    if (target.empty() || e.verdict->target == target) {
      live_.VisitTargetResults(e.verdict->target, [&](const LiveState::PairsOfTarget& results) {
        ToProto(*e.verdict, e.target->host, e.target->port, e.since_ms, p->evaluated_ms,
                p->probe_state, &results, out.add_verdicts());
      });
    }
  }
  for (const diagnosis::ProbeHealth& ph : p->probes) {
    v1::ProbeHealth* h = out.add_probes();
    h->set_probe(ph.probe);
    h->mutable_labels()->insert(ph.labels.begin(), ph.labels.end());
    h->set_healthy(ph.healthy);
    h->set_reason(ph.reason);
  }
  return out;
}

std::shared_ptr<const diagnosis::FleetContext> World::FleetFacts() const {
  return verdicts()->context;
}

DiagnosisFacts World::Facts() const {
  std::shared_ptr<const Verdicts> p = verdicts();
  DiagnosisFacts out;
  out.target_causes.reserve(p->verdicts.size());
  for (const Verdicts::Entry& e : p->verdicts) {
    out.target_causes.emplace_back(e.verdict->target, e.verdict->cause);
  }
  for (const diagnosis::ProbeHealth& h : p->probes) {
    out.probes.push_back({h.probe, h.healthy, h.ssh_egress_blocked, h.cannot_run_checks});
  }
  out.blocked_networks = p->blocked_networks;
  return out;
}

std::map<std::string, std::pair<v1::Cause, std::string>> World::Causes() const {
  std::shared_ptr<const Verdicts> p = verdicts();
  std::map<std::string, std::pair<v1::Cause, std::string>> out;
  for (const Verdicts::Entry& e : p->verdicts) {
    out[e.verdict->target] = {e.verdict->cause, e.verdict->summary};
  }
  return out;
}

}  // namespace parallax::collector
