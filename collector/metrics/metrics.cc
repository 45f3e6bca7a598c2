#include "collector/metrics/metrics.h"

#include "common/escape.h"
#include "common/words.h"

namespace parallax::collector {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      check_total_(BuildCounter()
                       .Name("parallax_check_total")
                       .Help("SSH checks by probe, target and outcome")
                       .Register(*registry_)),
      check_up_(BuildGauge()
                    .Name("parallax_check_up")
                    .Help("1 if the last check of the target from the probe read an SSH banner")
                    .Register(*registry_)),
      connect_seconds_(BuildGauge()
                           .Name("parallax_check_connect_seconds")
                           .Help("TCP connect time of the last check (0 if it did not connect)")
                           .Register(*registry_)),
      banner_seconds_(BuildGauge()
                          .Name("parallax_check_banner_seconds")
                          .Help("Time from connect to the SSH identification line, last check")
                          .Register(*registry_)),
      last_check_(BuildGauge()
                      .Name("parallax_check_last_timestamp_seconds")
                      .Help("Unix time the last stored check of the pair started")
                      .Register(*registry_)),
      probe_connected_(BuildGauge()
                           .Name("parallax_probe_connected")
                           .Help("1 while the probe's stream to the collector is up")
                           .Register(*registry_)),
      probe_info_(BuildGauge()
                      .Name("parallax_probe_info")
                      .Help("1 per known probe, labelled with its network and site")
                      .Register(*registry_)),
      ingest_results_(BuildCounter()
                          .Name("parallax_ingest_results_total")
                          .Help("Results received from probes, by what became of them")
                          .Register(*registry_)),
      stream_events_(BuildCounter()
                         .Name("parallax_ingest_streams_total")
                         .Help("Probe streams by event: opened, replaced, rejected")
                         .Register(*registry_)),
      throttled_(BuildCounter()
                     .Name("parallax_ingest_throttled_total")
                     .Help("Times a probe stream's reads paused for the per-stream result "
                           "rate limit (stream_results_per_second)")
                     .Register(*registry_)),
      reloads_(BuildCounter()
                   .Name("parallax_config_reloads_total")
                   .Help("Configuration reloads by result")
                   .Register(*registry_)),
      target_up_(BuildGauge()
                     .Name("parallax_target_up")
                     .Help("1 if the diagnosis of the target is ok (SSH answers from every "
                           "healthy vantage point)")
                     .Register(*registry_)),
      target_cause_(BuildGauge()
                        .Name("parallax_target_cause")
                        .Help("1 for the target's current cause, 0 for causes it had before")
                        .Register(*registry_)),
      probe_healthy_(BuildGauge()
                         .Name("parallax_probe_healthy")
                         .Help("1 if the probe is connected, fresh and can see the world")
                         .Register(*registry_)),
      probe_egress_blocked_(BuildGauge()
                                .Name("parallax_probe_ssh_egress_blocked")
                                .Help("1 if the probe fails SSH to every target others reach "
                                      "while answers come back to it (an egress filter in "
                                      "front of the probe)")
                                .Register(*registry_)),
      probe_cannot_run_(BuildGauge()
                            .Name("parallax_probe_cannot_run_checks")
                            .Help("1 if most of the probe's results are probe_error (it cannot "
                                  "run its checks)")
                            .Register(*registry_)),
      network_blocked_(BuildGauge()
                           .Name("parallax_network_ssh_blocked")
                           .Help("1 if the network's probes fail SSH to every target others "
                                 "reach (isp_block)")
                           .Register(*registry_)),
      incidents_(BuildCounter()
                     .Name("parallax_incidents_total")
                     .Help("Incidents opened, by cause")
                     .Register(*registry_)),
      stored_(ingest_results_.Add({{"result", "stored"}})),
      duplicates_(ingest_results_.Add({{"result", "duplicate"}})),
      probe_clock_offset_(BuildGauge()
                              .Name("parallax_probe_clock_offset_seconds")
                              .Help("The probe's wall clock minus the collector's, as measured "
                                    "from its stream (positive: the probe is ahead)")
                              .Register(*registry_)),
      probe_spooled_(BuildGauge()
                         .Name("parallax_probe_spooled_results")
                         .Help("Results the probe holds that the collector has not acknowledged "
                               "(last heartbeat)")
                         .Register(*registry_)),
      probe_in_flight_(BuildGauge()
                           .Name("parallax_probe_checks_in_flight")
                           .Help("Checks the probe is running now (last heartbeat)")
                           .Register(*registry_)),
      probe_dropped_(BuildCounter()
                         .Name("parallax_probe_dropped_results_total")
                         .Help("Results the probe dropped because its spool was full "
                               "(reported in heartbeats)")
                         .Register(*registry_)),
      streams_(BuildGauge()
                   .Name("parallax_ingest_streams")
                   .Help("Probe streams connected now")
                   .Register(*registry_)
                   .Add({})),
      config_generation_(BuildGauge()
                             .Name("parallax_config_generation")
                             .Help("Generation of the configuration in force")
                             .Register(*registry_)
                             .Add({})),
      commit_seconds_(BuildHistogram()
                          .Name("parallax_store_commit_seconds")
                          .Help("Time to commit one batch of results to SQLite")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{
                                       0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                       0.5, 1, 2.5})) {
  RegisterStoreSeries();
}

void Metrics::RegisterStoreSeries() {
  store_errors_ = &BuildCounter()
                       .Name("parallax_store_errors_total")
                       .Help(
                           "Failed SQLite write transactions (after retries), by kind: busy, "
                           "full, io, corrupt, other")
                       .Register(*registry_);
  for (const char* kind : {"busy", "full", "io", "corrupt", "other"}) {
    store_errors_->Add({{"kind", kind}});
  }
  auto gauge = [&](const char* name, const char* help) {
    return &BuildGauge().Name(name).Help(help).Register(*registry_).Add({});
  };
  store_database_bytes_ =
      gauge("parallax_store_database_bytes", "Size of the SQLite database file");
  store_wal_bytes_ = gauge("parallax_store_wal_bytes", "Size of the SQLite write-ahead log file");
  store_free_bytes_ = gauge("parallax_store_free_bytes",
                            "Free space for the collector in the database's directory (statvfs)");
  store_retention_lag_ = gauge("parallax_store_retention_lag_seconds",
                               "How far the oldest stored result is beyond storage.retention "
                               "(0 when retention keeps up)");
}

void Metrics::SetStoreStats(const std::map<std::string, uint64_t>& errors_by_kind,
                            double database_bytes, double wal_bytes, double free_bytes,
                            double retention_lag_seconds) {
  for (const auto& [kind, count] : errors_by_kind) {
    prometheus::Counter& c = store_errors_->Add({{"kind", kind}});
    const double delta = static_cast<double>(count) - c.Value();
    if (delta > 0) c.Increment(delta);
  }
  store_database_bytes_->Set(database_bytes);
  store_wal_bytes_->Set(wal_bytes);
  if (free_bytes >= 0) store_free_bytes_->Set(free_bytes);
  store_retention_lag_->Set(retention_lag_seconds);
}

Metrics::PairSeries& Metrics::PairLocked(const std::string& probe, const std::string& target) {
  auto [it, inserted] = pairs_.try_emplace({probe, target});
  PairSeries& s = it->second;
  if (inserted) {
    prometheus::Labels labels{{"probe", probe}, {"target", target}};
    s.up = &check_up_.Add(labels);
    s.connect_seconds = &connect_seconds_.Add(labels);
    s.banner_seconds = &banner_seconds_.Add(labels);
    s.last_check = &last_check_.Add(labels);
  }
  return s;
}

void Metrics::ObserveResults(const std::string& probe, std::span<const v1::CheckResult> results) {
  std::lock_guard<std::mutex> lock(mu_);
  for (const v1::CheckResult& r : results) {
    PairSeries& s = PairLocked(probe, r.target());
    int o = r.outcome();
    if (o < 0 || o >= v1::Outcome_ARRAYSIZE) o = v1::OUTCOME_UNSPECIFIED;
    if (s.by_outcome[o] == nullptr) {
      s.by_outcome[o] =
          &check_total_.Add({{"probe", probe},
                             {"target", r.target()},
                             {"outcome", std::string(OutcomeWord(static_cast<v1::Outcome>(o)))}});
    }
    s.by_outcome[o]->Increment();
    // Results may arrive out of order after a resend: gauges follow the newest.
    // On the collector's clock (see LiveState's ResultTimeMs).
    double started =
        (r.collector_started_unix_ms() != 0 ? r.collector_started_unix_ms() : r.started_unix_ms()) /
        1000.0;
    if (started < s.last_check->Value()) continue;
    s.last_check->Set(started);
    s.up->Set(r.outcome() == v1::OUTCOME_OK ? 1 : 0);
    s.connect_seconds->Set(r.connect_us() / 1e6);
    s.banner_seconds->Set(r.banner_us() / 1e6);
  }
}

void Metrics::SetProbeConnected(const std::string& probe, bool connected) {
  probe_connected_.Add({{"probe", probe}}).Set(connected ? 1 : 0);
}

void Metrics::SetProbeInfo(const std::string& probe,
                           const std::map<std::string, std::string>& labels) {
  auto label = [&](const char* key) {
    auto it = labels.find(key);
    // Label values come from probes: never raw control/bidi bytes in /metrics.
    return it == labels.end() ? std::string() : EscapeForTerminal(it->second);
  };
  std::lock_guard<std::mutex> lock(mu_);
  prometheus::Gauge*& series = probe_info_series_[probe];
  if (series != nullptr) probe_info_.Remove(series);
  series =
      &probe_info_.Add({{"probe", probe}, {"network", label("network")}, {"site", label("site")}});
  series->Set(1);
}

void Metrics::SetProbeClockOffset(const std::string& probe, double seconds) {
  probe_clock_offset_.Add({{"probe", probe}}).Set(seconds);
}

void Metrics::ObserveHeartbeat(const std::string& probe, const std::string& boot_id,
                               const v1::Heartbeat& hb) {
  probe_spooled_.Add({{"probe", probe}}).Set(static_cast<double>(hb.spooled()));
  probe_in_flight_.Add({{"probe", probe}}).Set(static_cast<double>(hb.in_flight()));
  prometheus::Counter& dropped = probe_dropped_.Add({{"probe", probe}});
  std::lock_guard<std::mutex> lock(mu_);
  auto& [seen_boot, seen] = dropped_seen_[probe];
  if (seen_boot != boot_id) {
    seen_boot = boot_id;
    seen = 0;
  }
  if (hb.dropped() > seen) {
    dropped.Increment(static_cast<double>(hb.dropped() - seen));
    seen = hb.dropped();
  }
}

void Metrics::CountIngest(int stored, int duplicates) {
  stored_.Increment(stored);
  duplicates_.Increment(duplicates);
}

void Metrics::CountRejected(const std::string& reason, int n) {
  ingest_results_.Add({{"result", "rejected"}, {"reason", reason}}).Increment(n);
}

void Metrics::CountStreamEvent(const std::string& event) {
  stream_events_.Add({{"event", event}}).Increment();
}

void Metrics::CountThrottled(const std::string& probe) {
  throttled_.Add({{"probe", probe}}).Increment();
}

void Metrics::CountReload(bool ok) { reloads_.Add({{"result", ok ? "ok" : "error"}}).Increment(); }

void Metrics::SetTargetCause(const std::string& target, v1::Cause cause) {
  std::lock_guard<std::mutex> lock(mu_);
  target_up_.Add({{"target", target}}).Set(cause == v1::CAUSE_OK ? 1 : 0);
  auto& by_cause = causes_[target];
  if (by_cause.find(cause) == by_cause.end()) {
    by_cause[cause] =
        &target_cause_.Add({{"target", target}, {"cause", std::string(CauseWord(cause))}});
  }
  for (auto& [c, gauge] : by_cause) gauge->Set(c == cause ? 1 : 0);
}

void Metrics::SetProbeHealthy(const std::string& probe, bool healthy) {
  probe_healthy_.Add({{"probe", probe}}).Set(healthy ? 1 : 0);
}

void Metrics::SetProbeFacts(const std::string& probe, bool ssh_egress_blocked,
                            bool cannot_run_checks) {
  probe_egress_blocked_.Add({{"probe", probe}}).Set(ssh_egress_blocked ? 1 : 0);
  probe_cannot_run_.Add({{"probe", probe}}).Set(cannot_run_checks ? 1 : 0);
}

void Metrics::SetNetworkBlocked(const std::string& network, bool blocked) {
  network_blocked_.Add({{"network", network}}).Set(blocked ? 1 : 0);
}

void Metrics::CountIncident(v1::Cause cause) {
  incidents_.Add({{"cause", std::string(CauseWord(cause))}}).Increment();
}

void Metrics::RetainTargets(const std::set<std::string>& keep) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = causes_.begin(); it != causes_.end();) {
    if (keep.count(it->first)) {
      ++it;
      continue;
    }
    for (auto& [c, gauge] : it->second) target_cause_.Remove(gauge);
    target_up_.Remove(&target_up_.Add({{"target", it->first}}));
    it = causes_.erase(it);
  }
  for (auto it = pairs_.begin(); it != pairs_.end();) {
    if (keep.count(it->first.second)) {
      ++it;
      continue;
    }
    PairSeries& s = it->second;
    check_up_.Remove(s.up);
    connect_seconds_.Remove(s.connect_seconds);
    banner_seconds_.Remove(s.banner_seconds);
    last_check_.Remove(s.last_check);
    for (prometheus::Counter* c : s.by_outcome) {
      if (c != nullptr) check_total_.Remove(c);
    }
    it = pairs_.erase(it);
  }
}

}  // namespace parallax::collector
