#include "collector/server/collector.h"

#include <unistd.h>

#include <chrono>
#include <set>

#include "collector/auth/access.h"
#include "collector/auth/listen_policy.h"
#include "collector/store/pg_util.h"
#include "common/escape.h"
#include "common/log.h"
#include "common/tls.h"
#include "common/version.h"

namespace parallax::collector {

namespace {

std::vector<TargetRecord> TargetRecords(const Config& config) {
  std::vector<TargetRecord> out;
  for (const TargetConfig& t : config.targets) out.push_back({t.name, t.host, t.port, t.labels});
  return out;
}

// Seeds the live picture from storage so status survives a restart.
Status LoadState(Store* store, LiveState* state) {
  std::vector<ProbeRecord> probes;
  Status st = store->ListProbes(&probes);
  if (!st.ok()) return st;
  for (const ProbeRecord& p : probes) {
    ProbeState ps;
    ps.labels = p.labels;
    ps.version = p.version;
    ps.last_seen_ms = p.last_seen_ms;
    state->AddKnownProbe(p.name, ps);  // expires at once if beyond probe_ttl
  }
  std::vector<ResultRow> rows;
  st = store->LatestResults(&rows);
  if (!st.ok()) return st;
  for (const ResultRow& row : rows) state->SeedResult(row.probe, row.result);
  std::map<std::string, std::vector<std::string>> pins;
  st = store->LoadHostKeyPins(&pins);
  if (!st.ok()) return st;
  state->host_key_pins().Seed(std::move(pins));
  state->host_key_pins().SetPersist(
      [store](const std::string& target, const std::vector<std::string>& fps, int64_t at_ms) {
        Status s = store->SaveHostKeyPins(target, fps, at_ms);
        if (!s.ok()) {
          Logf(LogLevel::kWarning, "storing the host key pin of %s: %s", target.c_str(),
               s.message().c_str());
        }
      });
  state->ExpireProbes();  // with their seeded results
  return Status::Ok();
}

// /metrics: a civetweb pool large enough that a few idle clients cannot take
// every thread, a short request timeout, optional basic auth; the text is
// written by our exposition writer (collector/metrics/exposition.h).
Status StartMetricsServer(const Config& config, const Metrics* metrics,
                          std::unique_ptr<MetricsServer>* out) {
  const MetricsConfig& m = config.metrics;
  MetricsServerOptions options;
  options.listen = config.metrics_listen;
  options.threads = m.threads;
  options.request_timeout_ms = m.request_timeout_ms;
  options.basic_auth_user = m.basic_auth_user;
  options.basic_auth_password = m.basic_auth_password;
  return MetricsServer::Start(
      options, [metrics](std::string* out) { metrics->Render(out); }, out);
}

// The status page (web_listen): the query service's answers in-process, TLS
// and client-certificate rules as for the gRPC port.
Status StartWeb(const Config& config, const CollectorOptions& options, QueryServiceImpl* query,
                AdHocChecks* adhoc, std::function<std::shared_ptr<const Config>()> current,
                std::unique_ptr<web::WebServer>* out) {
  if (config.web_listen.empty()) return Status::Ok();
  web::WebOptions o;
  o.listen = config.web_listen;
  o.config = std::move(current);
  if (config.tls.enabled()) {
    o.tls_cert = config.tls.cert;
    o.tls_key = config.tls.key;
    o.client_ca = config.tls.client_ca;
  } else {
    // Plaintext only where the gRPC port may be plaintext (--insecure), and
    // on loopback unless --insecure-allow-remote.
    Status st = CheckInsecureListen(config.web_listen, options.insecure_allow_remote);
    if (!st.ok()) return Status::InvalidArgument("web_" + st.message());
  }
  auto unavailable = [](const grpc::Status& g) {
    return g.error_code() == grpc::StatusCode::NOT_FOUND ? Status::NotFound(g.error_message())
                                                         : Status::Unavailable(g.error_message());
  };
  web::WebSource source;
  source.status = [query, unavailable](v1::StatusResponse* resp) {
    v1::StatusRequest req;
    grpc::Status g = query->Status(nullptr, &req, resp);
    return g.ok() ? Status::Ok() : unavailable(g);
  };
  source.incidents = [query, unavailable](v1::IncidentsResponse* resp) {
    v1::IncidentsRequest req;
    req.set_limit(50);
    grpc::Status g = query->Incidents(nullptr, &req, resp);
    return g.ok() ? Status::Ok() : unavailable(g);
  };
  source.explain = [query, unavailable](const std::string& target, v1::ExplainResponse* resp) {
    v1::ExplainRequest req;
    req.set_target(target);
    grpc::Status g = query->Explain(nullptr, &req, resp);
    return g.ok() ? Status::Ok() : unavailable(g);
  };
  source.now_ms = WallClockMs;
  if (adhoc != nullptr) {
    source.checks = std::make_shared<web::WebChecks>(
        [adhoc](const AdHocRequest& request, AdHocCallbacks callbacks, AdHocStarted* started,
                std::string* message) {
          return adhoc->Start(request, std::move(callbacks), started, message);
        },
        WallClockMs);
  }
  return web::WebServer::Start(std::move(o), std::move(source), out);
}

// This collector's name among collectors sharing a database: its listen
// address, the host's name in place of a wildcard host.
std::string CollectorName(const std::string& listen) {
  std::string host = listen, port;
  const size_t colon = listen.rfind(':');
  if (colon != std::string::npos) {
    host = listen.substr(0, colon);
    port = listen.substr(colon + 1);
  }
  if (host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::") {
    char name[256] = {};
    host = gethostname(name, sizeof(name) - 1) == 0 && name[0] != '\0' ? name : "localhost";
  }
  return port.empty() ? host : host + ":" + port;
}

// "sqlite <path>" or "postgres <dsn without its password>", for the log.
std::string StorageDescription(const StorageConfig& s) {
  if (s.driver == "postgres") return "postgres \"" + pg::RedactDsn(s.dsn) + "\"";
  return s.path;
}

}  // namespace

Status Collector::Start(const Config& config, const CollectorOptions& options,
                        std::unique_ptr<Collector>* out) {
  std::unique_ptr<Collector> c(new Collector());
  c->config_ = {std::make_shared<const Config>(config), 1};
  c->metrics_.SetConfigGeneration(1);

  StoreOptions so;
  so.driver = config.storage.driver;
  so.path = config.storage.path;
  so.dsn = config.storage.dsn;
  so.partition_width = config.storage.partition_width;
  so.retention = config.storage.retention;
  so.busy_timeout = config.storage.busy_timeout;
  so.busy_retry = config.storage.busy_retry;
  so.incident_retention = config.storage.incident_retention;
  so.compaction = config.storage.compaction;
  so.change_retention = config.storage.change_retention;
  Metrics* metrics = &c->metrics_;
  so.on_commit = [metrics](double seconds) { metrics->ObserveCommit(seconds); };
  so.on_stats = [metrics](const StoreStats& s) {
    metrics->SetStoreStats(s.errors, static_cast<double>(s.database_bytes),
                           static_cast<double>(s.wal_bytes), static_cast<double>(s.free_bytes),
                           s.retention_lag_seconds);
  };
  Status st = Store::Open(so, &c->store_);
  if (!st.ok()) {
    // PostgresStore's errors name storage.dsn (password redacted) already.
    if (so.driver == "postgres") return Status::IoError(st.message());
    return Status::IoError("storage.path \"" + so.path + "\": " + st.message());
  }
  Collector* self = c.get();
  c->world_.live().SetProbeTtl(
      config.probe_ttl.count(), WallClockMs, [self](const std::string& probe) {
        if (self->policy_reports_) self->policy_reports_->Forget(probe);
        Logf(LogLevel::kInfo,
             "probe %s expired: disconnected for longer than probe_ttl; its history stays stored",
             EscapeForTerminal(probe).c_str());
      });
  st = LoadState(c->store_.get(), &c->world_.live());
  if (!st.ok()) return st;
  c->store_->SyncTargets(TargetRecords(config));

  st = StartMetricsServer(config, &c->metrics_, &c->metrics_server_);
  if (!st.ok()) return st;

  c->deps_.store = c->store_.get();
  c->deps_.state = &c->world_.live();
  c->deps_.metrics = &c->metrics_;
  c->deps_.hub = &c->hub_;
  c->deps_.certs = &c->certs_;
  c->policy_reports_ = std::make_unique<PolicyReports>(*c->metrics_.registry());
  c->deps_.policy_reports = c->policy_reports_.get();
  c->deps_.config = [self] { return self->config(); };
  c->deps_.now_ms = WallClockMs;
  c->deps_.collector_version = PARALLAX_VERSION;
  c->probe_service_ = std::make_unique<ProbeServiceImpl>(&c->deps_);
  std::unique_ptr<PgCoordinator> coordinator;
  if (c->store_->shared()) {
    coordinator = std::make_unique<PgCoordinator>(so.dsn, CollectorName(config.listen));
  }
  c->leadership_ = std::make_unique<Leadership>(std::move(coordinator), &c->world_.live(),
                                                &c->metrics_, WallClockMs);
  c->evaluator_ = std::make_unique<Evaluator>(
      c->store_.get(), &c->world_, &c->metrics_, [self] { return self->config(); }, WallClockMs);
  if (c->store_->shared()) {
    c->evaluator_->set_leadership(
        [self] { return self->leadership_->Step(self->evaluator_->Period()); });
  }
  AdHocDeps adhoc;
  adhoc.hub = &c->hub_;
  adhoc.config = [self] { return self->config(); };
  adhoc.now_ms = WallClockMs;
  adhoc.fleet = [self] { return self->world_.FleetFacts(); };
  c->adhoc_ = std::make_unique<AdHocChecks>(std::move(adhoc));
  c->deps_.adhoc_expects = [self](const std::string& probe, const std::string& id,
                                  const std::string& target) {
    return self->adhoc_ != nullptr && self->adhoc_->Expects(probe, id, target);
  };
  c->deps_.adhoc_result = [self](const std::string& probe, const v1::CheckResult& r) {
    if (self->adhoc_ != nullptr) self->adhoc_->OnResult(probe, r);
  };
  c->query_service_ = std::make_unique<QueryServiceImpl>(
      c->store_.get(), &c->world_.live(), [self] { return self->config(); }, WallClockMs,
      [self](const std::string& target) { return self->world_.Explain(target); },
      [self] { return self->world_.Causes(); });
  c->query_service_->set_adhoc(c->adhoc_.get());
  c->query_service_->set_follower([self] { return self->leadership_->FollowerMessage(); },
                                  [self] { return self->leadership_->LeaderAddress(); });
  c->query_service_->set_refusals([self] {
    std::map<std::string, QueryServiceImpl::Refusals> out;
    for (auto& [probe, r] : self->policy_reports_->Snapshot()) {
      out[probe] = {r.refused, std::move(r.first)};
    }
    return out;
  });

  st = EnrollServiceImpl::Create(config, options.config_path, &c->enroll_service_);
  if (!st.ok()) return st;
  c->metrics_.SetDiagnosisSource(&c->world_);

  std::shared_ptr<grpc::ServerCredentials> creds;
  if (config.tls.enabled()) {
    // Client certificates are requested, verified when presented, but not
    // required by the handshake: a new probe calls EnrollService/Enroll
    // without one; AccessProcessor refuses every other call without one.
    ServerTlsExtras extras;
    extras.client_cert_optional = true;
    if (config.enroll.enabled()) extras.extra_chain_pem_file = config.enroll.ca_cert;
    st = MakeServerCredentials(config.tls.cert, config.tls.key, config.tls.client_ca, &creds,
                               extras);
    if (!st.ok()) return st;
    if (!config.tls.client_ca.empty()) {
      // mTLS: every call is checked against the caller's certificate role
      // and the revocation list (collector/auth/access.h).
      creds->SetAuthMetadataProcessor(std::make_shared<AccessProcessor>(
          [self]() -> std::shared_ptr<const Config> { return self->config().config; }));
    } else {
      Logf(LogLevel::kWarning,
           "tls without client_ca: clients are not authenticated, any client may pose as any "
           "probe and read every result (set tls.client_ca for mTLS)");
    }
  } else if (options.insecure) {
    st = CheckInsecureListen(config.listen, options.insecure_allow_remote);
    if (!st.ok()) return st;
    Logf(LogLevel::kWarning,
         "--insecure: serving probes and the CLI in plaintext on %s, without authentication",
         config.listen.c_str());
    creds = grpc::InsecureServerCredentials();
  } else {
    return Status::InvalidArgument(
        "tls: no certificate configured (tls.cert, tls.key); configure TLS or pass --insecure "
        "to serve plaintext");
  }

  st = StartWeb(
      config, options, c->query_service_.get(), c->adhoc_.get(),
      [self]() -> std::shared_ptr<const Config> { return self->config().config; }, &c->web_);
  if (!st.ok()) return st;
  if (c->web_) {
    Logf(LogLevel::kInfo, "status page on %s://%s (port %d)",
         config.tls.enabled() ? "https" : "http", config.web_listen.c_str(), c->web_->port());
  }

  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen, creds, &c->grpc_port_);
  builder.RegisterService(c->probe_service_.get());
  builder.RegisterService(c->query_service_.get());
  builder.RegisterService(c->enroll_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(config.max_receive_message_bytes));
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);
  c->server_ = builder.BuildAndStart();
  if (!c->server_ || c->grpc_port_ == 0) {
    return Status::Unavailable("listen \"" + config.listen +
                               "\": cannot listen (address in use or not local?)");
  }
  c->evaluator_->Start();
  std::string metrics_port = std::to_string(c->metrics_server_->ports().at(0));
  Logf(LogLevel::kInfo,
       "parallax-collector %s: gRPC on %s (port %d, %s), metrics on %s (port %s), %zu targets, "
       "storage %s",
       PARALLAX_VERSION, config.listen.c_str(), c->grpc_port_,
       config.tls.enabled() ? (config.tls.client_ca.empty() ? "TLS" : "mTLS") : "plaintext",
       config.metrics_listen.c_str(), metrics_port.c_str(), config.targets.size(),
       StorageDescription(config.storage).c_str());
  *out = std::move(c);
  return Status::Ok();
}

ConfigSnapshot Collector::config() const {
  std::lock_guard<std::mutex> lock(config_mu_);
  return config_;
}

Status Collector::Reload(const Config& next) {
  ConfigSnapshot current = config();
  const Config& old = *current.config;
  if (next.listen != old.listen || next.metrics_listen != old.metrics_listen ||
      next.web_listen != old.web_listen || next.tls.cert != old.tls.cert ||
      next.tls.key != old.tls.key || next.tls.client_ca != old.tls.client_ca ||
      next.storage.path != old.storage.path || next.storage.driver != old.storage.driver ||
      next.storage.dsn != old.storage.dsn ||
      next.max_receive_message_bytes != old.max_receive_message_bytes ||
      next.enroll.ca_key != old.enroll.ca_key || next.enroll.ca_cert != old.enroll.ca_cert ||
      next.enroll.tokens != old.enroll.tokens || next.enroll.cert_days != old.enroll.cert_days) {
    Logf(LogLevel::kWarning,
         "reload: listen, metrics_listen, web_listen, tls, enroll, storage.driver/path/dsn and "
         "max_receive_message_bytes "
         "changes "
         "take effect only after a "
         "restart; keeping the running ones");
  }
  auto merged = std::make_shared<Config>(next);
  merged->listen = old.listen;
  merged->metrics_listen = old.metrics_listen;
  merged->web_listen = old.web_listen;
  merged->max_receive_message_bytes = old.max_receive_message_bytes;
  merged->tls = old.tls;
  merged->enroll = old.enroll;    // the EnrollService keeps what it loaded at start
  merged->metrics = old.metrics;  // the web server's settings are fixed at start
  merged->storage.path = old.storage.path;
  merged->storage.driver = old.storage.driver;
  merged->storage.dsn = old.storage.dsn;
  merged->storage.partition_width = old.storage.partition_width;
  uint64_t generation;
  {
    std::lock_guard<std::mutex> lock(config_mu_);
    generation = ++config_.generation;
    config_.config = merged;
  }
  store_->SyncTargets(TargetRecords(*merged));
  std::set<std::string> names;
  for (const TargetConfig& t : merged->targets) names.insert(t.name);
  world_.live().RetainTargets({names.begin(), names.end()});
  world_.live().SetProbeTtl(merged->probe_ttl.count(), {});
  metrics_.SetConfigGeneration(generation);
  metrics_.CountReload(true);
  PushAssignments(deps_);
  CloseRevokedStreams(hub_.All(), certs_, merged->revoked);
  Logf(LogLevel::kInfo, "config reloaded: generation %llu, %zu targets, pushed to %zu probes",
       static_cast<unsigned long long>(generation), merged->targets.size(), hub_.size());
  return Status::Ok();
}

void Collector::Shutdown() {
  if (shut_down_) return;
  shut_down_ = true;
  if (web_) web_->Stop();  // no page reads the state any more
  Logf(LogLevel::kInfo, "shutting down: closing probe streams, flushing storage");
  // Streams are cancelled after the deadline; in-flight commits still finish.
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  evaluator_->Stop();
  store_->Flush();
  Logf(LogLevel::kInfo, "shutdown complete");
}

Collector::~Collector() {
  if (server_) Shutdown();
  web_.reset();
  // The store's last callbacks use world_ and metrics_: end it first.
  server_.reset();
  // Its timer reads the evaluator; no stream can ask it anything now (and
  // Shutdown flushed the store, so no commit callback hands it a result).
  adhoc_.reset();
  metrics_.SetDiagnosisSource(nullptr);
  metrics_server_.reset();  // no scrape reads the evaluator or the state any more
  evaluator_.reset();
  store_.reset();
}

}  // namespace parallax::collector
