#include "collector/metrics/state_collectable.h"

#include <array>
#include <utility>

#include "collector/metrics/exposition.h"
#include "common/escape.h"
#include "common/words.h"

namespace parallax::collector {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// Label values come from probes and config: never raw control/bidi bytes in
// /metrics (prometheus-cpp's serializer escapes \ " and newline itself).
std::string Esc(const std::string& s) { return IsSafeText(s) ? s : EscapeForTerminal(s); }

MetricFamily Family(const char* name, const char* help, MetricType type) {
  MetricFamily f;
  f.name = name;
  f.help = help;
  f.type = type;
  return f;
}

void Add(MetricFamily* f, std::vector<ClientMetric::Label> labels, double value) {
  ClientMetric& m = f->metric.emplace_back();
  m.label = std::move(labels);
  if (f->type == MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

std::string Label(const std::map<std::string, std::string>& labels, const char* key) {
  auto it = labels.find(key);
  return it == labels.end() ? std::string() : Esc(it->second);
}

}  // namespace

std::vector<MetricFamily> StateCollectable::Collect() const {
  std::vector<MetricFamily> out;
  std::set<std::string> probes;
  CollectProbes(&out, &probes);
  CollectPairs(&out);
  CollectDiagnosis(probes, &out);
  return out;
}

void StateCollectable::CollectProbes(std::vector<MetricFamily>* out,
                                     std::set<std::string>* probes) const {
  MetricFamily connected =
      Family("parallax_probe_connected", "1 while the probe's stream to the collector is up",
             MetricType::Gauge);
  MetricFamily info =
      Family("parallax_probe_info", "1 per known probe, labelled with its network and site",
             MetricType::Gauge);
  MetricFamily offset = Family("parallax_probe_clock_offset_seconds",
                               "The probe's wall clock minus the collector's, as measured from "
                               "its stream (positive: the probe is ahead)",
                               MetricType::Gauge);
  MetricFamily spooled = Family("parallax_probe_spooled_results",
                                "Results the probe holds that the collector has not "
                                "acknowledged (last heartbeat)",
                                MetricType::Gauge);
  MetricFamily in_flight =
      Family("parallax_probe_checks_in_flight", "Checks the probe is running now (last heartbeat)",
             MetricType::Gauge);
  MetricFamily late = Family("parallax_probe_check_late_seconds",
                             "How late the probe starts its checks: the most a check started "
                             "after its time in about the last 10 s, or how long the oldest due "
                             "check has waited (last heartbeat; above 0: it is overloaded)",
                             MetricType::Gauge);
  MetricFamily paused = Family("parallax_probe_checks_paused",
                               "1 while the probe holds back new checks because it ran out of "
                               "descriptors or buffers (last heartbeat)",
                               MetricType::Gauge);
  MetricFamily pauses = Family("parallax_probe_check_pauses_total",
                               "Times the probe held back new checks because it ran out of "
                               "descriptors or buffers (heartbeats; per probe boot)",
                               MetricType::Counter);
  MetricFamily heartbeat = Family("parallax_probe_last_heartbeat_timestamp_seconds",
                                  "Unix time the probe's last heartbeat arrived (collector's "
                                  "clock); heartbeats come every 5 s, busy or idle",
                                  MetricType::Gauge);
  MetricFamily dropped = Family("parallax_probe_dropped_results_total",
                                "Results the probe dropped because its spool was full "
                                "(reported in heartbeats)",
                                MetricType::Counter);
  MetricFamily throttled = Family("parallax_ingest_throttled_total",
                                  "Times a probe stream's reads paused for the per-stream result "
                                  "rate limit (stream_results_per_second)",
                                  MetricType::Counter);
  state_->VisitProbes([&](const std::string& name, const ProbeState& p) {
    probes->insert(name);
    const std::string probe = Esc(name);
    Add(&connected, {{"probe", probe}}, p.connected ? 1 : 0);
    Add(&info,
        {{"network", Label(p.labels, "network")},
         {"probe", probe},
         {"site", Label(p.labels, "site")}},
        1);
    if (p.clock_measured) Add(&offset, {{"probe", probe}}, p.clock_offset_ms / 1000.0);
    if (p.heartbeat_ms != 0) {
      Add(&spooled, {{"probe", probe}}, static_cast<double>(p.heartbeat.spooled()));
      Add(&in_flight, {{"probe", probe}}, static_cast<double>(p.heartbeat.in_flight()));
      Add(&late, {{"probe", probe}}, p.heartbeat.late_ms() / 1000.0);
      Add(&paused, {{"probe", probe}}, p.heartbeat.checks_paused() ? 1 : 0);
      Add(&pauses, {{"probe", probe}}, static_cast<double>(p.heartbeat.check_pauses()));
      Add(&heartbeat, {{"probe", probe}}, p.heartbeat_ms / 1000.0);
      Add(&dropped, {{"probe", probe}}, static_cast<double>(p.dropped_total));
    }
    if (p.throttled != 0) Add(&throttled, {{"probe", probe}}, static_cast<double>(p.throttled));
  });
  for (MetricFamily* f : {&connected, &info, &offset, &spooled, &in_flight, &late, &paused, &pauses,
                          &heartbeat, &dropped, &throttled}) {
    out->push_back(std::move(*f));
  }
}

namespace {

// The per-pair families, in the order they are written.
struct PairFamily {
  const char* name;
  const char* help;
  MetricType type;
};
constexpr PairFamily kTotal = {"parallax_check_total", "SSH checks by probe, target and outcome",
                               MetricType::Counter};
constexpr PairFamily kPairGauges[] = {
    {"parallax_check_up", "1 if the last check of the target from the probe read an SSH banner",
     MetricType::Gauge},
    {"parallax_check_connect_seconds",
     "TCP connect time of the last check (0 if it did not connect)", MetricType::Gauge},
    {"parallax_check_banner_seconds",
     "Time from connect to the SSH identification line, last check", MetricType::Gauge},
    {"parallax_check_last_timestamp_seconds",
     "Unix time the last stored check of the pair started (collector's clock)", MetricType::Gauge},
};
constexpr int kPairGaugeCount = 4;
constexpr PairFamily kHostKey = {"parallax_pair_hostkey_info",
                                 "1 per probe x target with the SSH host key the probe saw at its "
                                 "latest key exchange (fingerprint SHA256:..., key type)",
                                 MetricType::Gauge};

// The four gauges' values of one pair, in kPairGauges' order.
std::array<double, kPairGaugeCount> PairGaugeValues(const PairState& pair) {
  const v1::CheckResult& r = pair.newest;
  return {r.outcome() == v1::OUTCOME_OK ? 1.0 : 0.0, r.connect_us() / 1e6, r.banner_us() / 1e6,
          ResultTimeMs(r) / 1000.0};
}

std::array<std::string, v1::Outcome_ARRAYSIZE> OutcomeWords() {
  std::array<std::string, v1::Outcome_ARRAYSIZE> words;
  for (int o = 0; o < v1::Outcome_ARRAYSIZE; ++o) {
    words[o] = std::string(OutcomeWord(static_cast<v1::Outcome>(o)));
  }
  return words;
}

}  // namespace

void StateCollectable::CollectPairs(std::vector<MetricFamily>* out) const {
  MetricFamily total = Family(kTotal.name, kTotal.help, kTotal.type);
  std::vector<MetricFamily> gauges;
  for (const PairFamily& f : kPairGauges) gauges.push_back(Family(f.name, f.help, f.type));
  MetricFamily hostkey = Family(kHostKey.name, kHostKey.help, kHostKey.type);
  const auto outcome_words = OutcomeWords();  // once, not per series
  size_t pairs = 0;
  state_->VisitTargets(
      [&](const std::string&, const LiveState::PairsOfTarget& p) { pairs += p.size(); });
  pairs += pairs / 8;  // headroom for pairs added between the two visits
  total.metric.reserve(pairs);
  for (MetricFamily& f : gauges) f.metric.reserve(pairs);

  state_->VisitTargets([&](const std::string& target_name, const LiveState::PairsOfTarget& pairs) {
    const std::string target = Esc(target_name);
    for (const auto& [probe_name, pair] : pairs) {
      const std::string probe = Esc(probe_name);
      for (int o = 0; o < v1::Outcome_ARRAYSIZE; ++o) {
        if (pair.checks[o] == 0) continue;
        std::vector<ClientMetric::Label> labels;
        labels.reserve(3);
        labels.push_back({"outcome", outcome_words[o]});
        labels.push_back({"probe", probe});
        labels.push_back({"target", target});
        Add(&total, std::move(labels), pair.checks[o]);
      }
      const auto values = PairGaugeValues(pair);
      for (int g = 0; g < kPairGaugeCount; ++g) {
        Add(&gauges[g], {{"probe", probe}, {"target", target}}, values[g]);
      }
      if (!pair.host_key.fingerprint().empty()) {
        Add(&hostkey,
            {{"fingerprint", Esc(pair.host_key.fingerprint())},
             {"probe", probe},
             {"target", target},
             {"type", Esc(pair.host_key.type())}},
            1);
      }
    }
  });
  out->push_back(std::move(total));
  for (MetricFamily& f : gauges) out->push_back(std::move(f));
  out->push_back(std::move(hostkey));
}

void StateCollectable::RenderPairs(std::string* out) const {
  // One pass over the state per family (a family's series must be
  // contiguous), writing straight into *out, reserved from the last render's
  // size: no per-series allocation and no second copy of the text.
  out->reserve(out->size() + pair_bytes_hint_.load(std::memory_order_relaxed));
  const size_t start = out->size();
  const auto outcome_words = OutcomeWords();
  std::string target_label, labels;  // reused: no allocation per series
  // {probe="P",target="T"} of a pair, shared by its series.
  auto pair_labels = [&](const std::string& probe_name) {
    labels.assign("probe=\"");
    AppendLabelValue(Esc(probe_name), &labels);
    labels.append("\",target=\"");
    labels.append(target_label);
    labels.append("\"}");
  };
  AppendFamilyHeader(kTotal.name, kTotal.help, kTotal.type, out);
  state_->VisitTargets([&](const std::string& target_name, const LiveState::PairsOfTarget& pairs) {
    target_label.clear();
    AppendLabelValue(Esc(target_name), &target_label);
    for (const auto& [probe_name, pair] : pairs) {
      pair_labels(probe_name);
      for (int o = 0; o < v1::Outcome_ARRAYSIZE; ++o) {
        if (pair.checks[o] == 0) continue;
        out->append(kTotal.name);
        out->append("{outcome=\"");
        out->append(outcome_words[o]);
        out->append("\",");
        out->append(labels);
        out->push_back(' ');
        AppendDouble(static_cast<double>(pair.checks[o]), out);
        out->push_back('\n');
      }
    }
  });
  for (int g = 0; g < kPairGaugeCount; ++g) {
    const PairFamily& family = kPairGauges[g];
    AppendFamilyHeader(family.name, family.help, family.type, out);
    state_->VisitTargets(
        [&](const std::string& target_name, const LiveState::PairsOfTarget& pairs) {
          target_label.clear();
          AppendLabelValue(Esc(target_name), &target_label);
          for (const auto& [probe_name, pair] : pairs) {
            pair_labels(probe_name);
            out->append(family.name);
            out->push_back('{');
            out->append(labels);
            out->push_back(' ');
            AppendDouble(PairGaugeValues(pair)[g], out);
            out->push_back('\n');
          }
        });
  }
  AppendFamilyHeader(kHostKey.name, kHostKey.help, kHostKey.type, out);
  state_->VisitTargets([&](const std::string& target_name, const LiveState::PairsOfTarget& pairs) {
    target_label.clear();
    AppendLabelValue(Esc(target_name), &target_label);
    for (const auto& [probe_name, pair] : pairs) {
      if (pair.host_key.fingerprint().empty()) continue;
      out->append(kHostKey.name);
      out->append("{fingerprint=\"");
      AppendLabelValue(Esc(pair.host_key.fingerprint()), out);
      out->append("\",probe=\"");
      AppendLabelValue(Esc(probe_name), out);
      out->append("\",target=\"");
      out->append(target_label);
      out->append("\",type=\"");
      AppendLabelValue(Esc(pair.host_key.type()), out);
      out->append("\"} 1\n");
    }
  });
  const size_t bytes = out->size() - start;
  pair_bytes_hint_.store(bytes + bytes / 8, std::memory_order_relaxed);
}

void StateCollectable::Render(std::string* out) const {
  std::vector<MetricFamily> families;
  std::set<std::string> probes;
  CollectProbes(&families, &probes);
  AppendExposition(families, out);
  RenderPairs(out);
  families.clear();
  CollectDiagnosis(probes, &families);
  AppendExposition(families, out);
}

void StateCollectable::CollectDiagnosis(const std::set<std::string>& probes,
                                        std::vector<MetricFamily>* out) const {
  MetricFamily target_up = Family("parallax_target_up",
                                  "1 if the diagnosis of the target is ok (SSH answers from every "
                                  "healthy vantage point)",
                                  MetricType::Gauge);
  MetricFamily target_cause =
      Family("parallax_target_cause",
             "1 for the target's current cause, 0 for causes it had before", MetricType::Gauge);
  MetricFamily hostkey_changed =
      Family("parallax_target_hostkey_changed",
             "1 if the target answers with an SSH host key other than the pinned one, from "
             "every vantage point (hostkey_changed) or from some (hostkey_mismatch)",
             MetricType::Gauge);
  MetricFamily healthy =
      Family("parallax_probe_healthy", "1 if the probe is connected, fresh and can see the world",
             MetricType::Gauge);
  MetricFamily egress = Family("parallax_probe_ssh_egress_blocked",
                               "1 if the probe fails SSH to every target others reach while "
                               "answers come back to it (an egress filter in front of the probe)",
                               MetricType::Gauge);
  MetricFamily cannot_run = Family("parallax_probe_cannot_run_checks",
                                   "1 if most of the probe's results are probe_error (it cannot "
                                   "run its checks)",
                                   MetricType::Gauge);
  MetricFamily network = Family("parallax_network_ssh_blocked",
                                "1 if the network's probes fail SSH to every target others reach "
                                "(isp_block)",
                                MetricType::Gauge);
  const DiagnosisSource* source = source_.load();
  if (source != nullptr) {
    DiagnosisFacts facts = source->Facts();
    std::lock_guard<std::mutex> lock(mu_);
    std::map<std::string, uint32_t> seen;
    for (const auto& [target_name, cause] : facts.target_causes) {
      const std::string target = Esc(target_name);
      Add(&target_up, {{"target", target}}, cause == v1::CAUSE_OK ? 1 : 0);
      Add(&hostkey_changed, {{"target", target}},
          cause == v1::CAUSE_HOSTKEY_CHANGED || cause == v1::CAUSE_HOSTKEY_MISMATCH ? 1 : 0);
      auto it = causes_seen_.find(target_name);
      uint32_t bits = (it == causes_seen_.end() ? 0 : it->second);
      const int now = static_cast<int>(cause);
      if (now >= 0 && now < 32) bits |= 1u << now;
      seen[target_name] = bits;
      for (int c = 0; c < 32; ++c) {
        if ((bits & (1u << c)) == 0) continue;
        Add(&target_cause,
            {{"cause", std::string(CauseWord(static_cast<v1::Cause>(c)))}, {"target", target}},
            c == now ? 1 : 0);
      }
    }
    causes_seen_ = std::move(seen);  // targets no longer published are forgotten
    for (const DiagnosisFacts::ProbeFacts& p : facts.probes) {
      if (!probes.count(p.probe)) continue;  // expired since the evaluation
      const std::string probe = Esc(p.probe);
      Add(&healthy, {{"probe", probe}}, p.healthy ? 1 : 0);
      Add(&egress, {{"probe", probe}}, p.ssh_egress_blocked ? 1 : 0);
      Add(&cannot_run, {{"probe", probe}}, p.cannot_run_checks ? 1 : 0);
    }
    std::set<std::string> blocked(facts.blocked_networks.begin(), facts.blocked_networks.end());
    networks_seen_.insert(blocked.begin(), blocked.end());
    for (const std::string& n : networks_seen_) {
      Add(&network, {{"network", Esc(n)}}, blocked.count(n) ? 1 : 0);
    }
  }
  for (MetricFamily* f :
       {&target_up, &target_cause, &hostkey_changed, &healthy, &egress, &cannot_run, &network}) {
    out->push_back(std::move(*f));
  }
}

}  // namespace parallax::collector
