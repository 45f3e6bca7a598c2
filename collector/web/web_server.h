// WebServer: the collector's status page over HTTP or HTTPS (config
// `web_listen`, docs/WEB.md). Boost.Beast on its own io_context threads, so
// a slow or hostile browser never delays probe streams, queries or the
// evaluator.
//
// Routes (GET and HEAD; anything else 405, but POST /api/check):
//   /                     the matrix, incidents and probes (collector/web/html.h)
//   /target/NAME          one target's explanation (404 if not configured)
//   /api/status           JSON the page's script polls
//   /api/target/NAME      JSON for an explanation page
//   POST /api/check       starts an ad-hoc check (the "check now" box,
//                         collector/web/web_checks.h): 202 {"id", "href"}
//   /api/check/ID         that check's progress (results, done, verdict)
//   /static/app.js, /static/style.css
// The /api/check routes answer JSON, errors as {"error": "..."}.
//
// Who may check: whoever may call the query service's Check: with mTLS
// (client_ca) an admin's certificate (collector/auth/access.h; a reader sees
// the box disabled and gets 403), without client_ca everyone who reaches
// the page (as the gRPC port). The caller's identity for the per-caller rate
// limit is "ROLE:CN" of the certificate (the CLI's caller with the same
// certificate shares it), else "ipv4:ADDRESS" / "ipv6:[ADDRESS]".
// Cross-site requests are refused (403) before anything starts: the POST
// needs Content-Type application/json (415 otherwise; a form cannot send it
// without a CORS preflight, which gets 405), an Origin, if sent, equal to
// the page's own (scheme://Host), Sec-Fetch-Site, if sent, "same-origin";
// over plaintext the Host must be an IP address or "localhost" (a DNS
// rebinding page has neither).
//
// Bounds: at most `max_connections` connections (more are closed at once),
// request headers up to 8 KiB, a body up to 4 KiB (413 beyond), `timeout`
// for the handshake and for each request (an idle keep-alive connection is
// closed after it), at most 100 requests per connection.
//
// TLS (when `tls_cert` is set): the query service's certificate; with
// `client_ca` a client certificate is required by the handshake (a browser
// without one is refused), and the certificate must be allowed to call the
// query service's reads (reader or admin role, collector/auth/access.h) and
// not revoked (checked on every request against the current config).
// Without TLS it serves plaintext, like the gRPC port with --insecure.
//
// Thread-safety: Start and Stop from one controlling thread; the data
// functions are called on the server's threads, concurrently.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "collector/config/config.h"
#include "collector/web/web_checks.h"
#include "common/status.h"
#include "parallax/v1/query.pb.h"

namespace parallax::collector::web {

// Where the pages' data comes from: the query service's answers, in-process.
struct WebSource {
  std::function<Status(v1::StatusResponse*)> status;
  std::function<Status(v1::IncidentsResponse*)> incidents;
  // `target` "" gives every target; NotFound for a target not configured.
  std::function<Status(const std::string& target, v1::ExplainResponse*)> explain;
  std::function<int64_t()> now_ms;
  // The "check now" box; null: no box, /api/check is 404.
  std::shared_ptr<WebChecks> checks;
};

struct WebOptions {
  std::string listen;  // "host:port"; port 0 picks a free one
  std::string tls_cert, tls_key, client_ca;
  // The current config (its `revoked:` list), read on every TLS request.
  std::function<std::shared_ptr<const Config>()> config;
  int max_connections = 64;
  std::chrono::milliseconds timeout{10000};
  int threads = 2;
};

class WebServer {
 public:
  // Binds and starts serving; a Status names web_listen or the TLS file.
  static Status Start(WebOptions options, WebSource source, std::unique_ptr<WebServer>* out);
  ~WebServer();  // Stop()
  // Closes the listener and every connection, joins the threads.
  void Stop();
  int port() const;

  struct Impl;

 private:
  explicit WebServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The answer to one request, without the network (tests call it directly):
// status code, content type, body.
struct WebResponse {
  int code = 200;
  std::string content_type;
  std::string body;
};
// One request as the handler sees it.
struct WebRequest {
  std::string method, target;
  std::string content_type, origin, host, sec_fetch_site, body;  // headers as sent
  bool tls = false;
  std::string caller;         // the rate limit's identity (see above)
  std::string check_refusal;  // why this caller may not run checks; "" may
};
WebResponse HandleRequest(const WebSource& source, const WebRequest& request);
// GET/HEAD/...: a request with no body from a caller who may check.
WebResponse HandleRequest(const WebSource& source, std::string_view method,
                          std::string_view target);

}  // namespace parallax::collector::web
