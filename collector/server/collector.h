// Collector: the whole server wired together — Store, World, Metrics and
// the /metrics endpoint, the gRPC ProbeService and QueryService.
//
// Start() opens everything and fails with a Status naming what could not be
// opened or bound. Reload() swaps in a new config (targets, selectors,
// intervals) and pushes new assignments to connected probes; settings that
// need a restart (listen addresses, TLS, storage) are kept and logged.
// Shutdown(): stop accepting, close streams, flush the store.
//
// Thread-safety: Reload and Shutdown from one controlling thread; everything
// else runs on gRPC's and the store's threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <memory>
#include <mutex>
#include <string>

#include "collector/adhoc/ad_hoc_checks.h"
#include "collector/config/config.h"
#include "collector/enroll/enroll_service.h"
#include "collector/ingest/probe_stream.h"
#include "collector/metrics/metrics.h"
#include "collector/metrics/metrics_server.h"
#include "collector/query/query_service.h"
#include "collector/server/evaluator.h"
#include "collector/server/leadership.h"
#include "collector/server/world.h"
#include "collector/state/live_state.h"
#include "collector/store/store.h"
#include "collector/web/web_server.h"
#include "common/clock.h"
#include "common/status.h"

namespace parallax::collector {

struct CollectorOptions {
  bool insecure = false;               // serve plaintext when the config has no tls section
  bool insecure_allow_remote = false;  // ... even on a non-loopback listen address
  std::string config_path;  // named in messages (e.g. "enrollment is off: set ... in PATH")
};

class Collector {
 public:
  static Status Start(const Config& config, const CollectorOptions& options,
                      std::unique_ptr<Collector>* out);
  ~Collector();

  Status Reload(const Config& config);
  // Counts a reload whose config did not load (the running one stays).
  void CountFailedReload() { metrics_.CountReload(false); }
  void Shutdown();

  int grpc_port() const { return grpc_port_; }
  std::vector<int> metrics_ports() const { return metrics_server_->ports(); }
  // The status page's port (web_listen), 0 when it is off.
  int web_port() const { return web_ ? web_->port() : 0; }
  ConfigSnapshot config() const;
  Evaluator* evaluator() { return evaluator_.get(); }
  // Who runs the diagnosis when several collectors share the database.
  Leadership* leadership() { return leadership_.get(); }
  // The collector's state: probes, newest results, verdicts, incidents.
  World* world() { return &world_; }
  // Ad-hoc checks (`parallax check`): for any front end besides the query
  // service's Check RPC (e.g. a status page).
  AdHocChecks* adhoc() { return adhoc_.get(); }

 private:
  Collector() = default;

  mutable std::mutex config_mu_;
  ConfigSnapshot config_;

  std::unique_ptr<Store> store_;
  World world_;
  Metrics metrics_{&world_.live()};  // renders from the world at scrape time
  StreamHub hub_;
  StreamCertificates certs_;
  std::unique_ptr<PolicyReports> policy_reports_;
  IngestDeps deps_;
  std::unique_ptr<Leadership> leadership_;  // before the evaluator: it calls it
  std::unique_ptr<Evaluator> evaluator_;
  std::unique_ptr<AdHocChecks> adhoc_;  // used by the store's writer thread: reset after it
  std::unique_ptr<MetricsServer> metrics_server_;
  std::unique_ptr<ProbeServiceImpl> probe_service_;
  std::unique_ptr<QueryServiceImpl> query_service_;
  std::unique_ptr<EnrollServiceImpl> enroll_service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<web::WebServer> web_;  // the status page; null when web_listen is off
  int grpc_port_ = 0;
  bool shut_down_ = false;
};

}  // namespace parallax::collector
