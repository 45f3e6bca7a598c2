#include "collector/metrics/metrics.h"

#include "collector/metrics/exposition.h"
#include "common/words.h"

namespace parallax::collector {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

Metrics::Metrics(const LiveState* state)
    : registry_(std::make_shared<prometheus::Registry>()),
      world_(std::make_shared<StateCollectable>(state)),
      ingest_results_(BuildCounter()
                          .Name("parallax_ingest_results_total")
                          .Help("Results received from probes, by what became of them")
                          .Register(*registry_)),
      stream_events_(BuildCounter()
                         .Name("parallax_ingest_streams_total")
                         .Help("Probe streams by event: opened, replaced, rejected")
                         .Register(*registry_)),
      reloads_(BuildCounter()
                   .Name("parallax_config_reloads_total")
                   .Help("Configuration reloads by result")
                   .Register(*registry_)),
      incidents_(BuildCounter()
                     .Name("parallax_incidents_total")
                     .Help("Incidents opened, by cause")
                     .Register(*registry_)),
      stored_(ingest_results_.Add({{"result", "stored"}})),
      duplicates_(ingest_results_.Add({{"result", "duplicate"}})),
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
      commit_seconds_(
          BuildHistogram()
              .Name("parallax_store_commit_seconds")
              .Help("Time to commit one batch of results to SQLite")
              .Register(*registry_)
              .Add({},
                   prometheus::Histogram::BucketBoundaries{0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                           0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5})),
      leader_(BuildGauge()
                  .Name("parallax_collector_leader")
                  .Help("1 while this collector is the leader (runs the diagnosis; always with "
                        "SQLite), 0 while it is a follower")
                  .Register(*registry_)
                  .Add({})) {
  leader_.Set(1);
  RegisterStoreSeries();
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  std::vector<prometheus::MetricFamily> out = registry_->Collect();
  if (!exports_state_.load()) return out;  // a follower: the leader exports them
  for (prometheus::MetricFamily& f : world_->Collect()) out.push_back(std::move(f));
  return out;
}

void Metrics::Render(std::string* out) const {
  // The registry's families, then the world's, written straight from the
  // state (the same text as AppendExposition(Collect()); a test holds them
  // equal).
  AppendExposition(registry_->Collect(), out);
  if (exports_state_.load()) world_->Render(out);
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

void Metrics::CountReload(bool ok) { reloads_.Add({{"result", ok ? "ok" : "error"}}).Increment(); }

void Metrics::CountIncident(v1::Cause cause) {
  incidents_.Add({{"cause", std::string(CauseWord(cause))}}).Increment();
}

}  // namespace parallax::collector
