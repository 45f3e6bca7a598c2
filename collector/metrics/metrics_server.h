// MetricsServer: serves GET /metrics (the Prometheus text format) from a
// render function, on civetweb (the HTTP server prometheus-cpp's exposer is
// built on), in place of prometheus::Exposer, whose text serializer was ~95%
// of a scrape at half a million series (collector/metrics/exposition.h).
//
// HTTP: GET and HEAD on /metrics only (other paths 404, other methods 405),
// no keep-alive, a request timeout, a fixed pool of threads (a few idle
// clients cannot take every thread). Optional HTTP basic auth: a request
// without the configured user and password gets 401 with a realm. The body is
// sent uncompressed (Prometheus accepts that; gzip would cost more CPU than
// the render on loopback or a LAN).
//
// Thread-safety: the render function is called on the server's threads,
// possibly several at once; it must be thread-safe. Start() and the
// destructor are not concurrent with each other. The destructor stops the
// threads and returns once no render is running.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

class CivetServer;

namespace parallax::collector {

struct MetricsServerOptions {
  std::string listen;  // "host:port" ("127.0.0.1:9464", "[::1]:0", "0.0.0.0:9464")
  int threads = 4;
  int request_timeout_ms = 10000;
  std::string basic_auth_user;  // empty: no authentication
  std::string basic_auth_password;
};

class MetricsServer {
 public:
  // Appends the whole exposition to *out.
  using Render = std::function<void(std::string* out)>;

  // Listens and serves until destroyed. A listen address that cannot be
  // bound is an error naming it.
  static Status Start(const MetricsServerOptions& options, Render render,
                      std::unique_ptr<MetricsServer>* out);
  ~MetricsServer();

  // The ports it listens on (the port chosen by the kernel for ":0").
  std::vector<int> ports() const;

  // Splits "Basic dXNlcjpwYXNz" into user and password; false when the header
  // is not well-formed basic auth. Exposed for tests.
  static bool ParseBasicAuth(const std::string& header, std::string* user, std::string* password);

 private:
  class Handler;
  MetricsServer() = default;

  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
};

}  // namespace parallax::collector
