#include "collector/web/web_server.h"

#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cctype>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>  // first: Boost 1.74 Asio under C++20
#include <vector>

#include "collector/auth/access.h"
#include "collector/auth/peer_identity.h"
#include "collector/cli/render.h"
#include "collector/web/assets.h"
#include "collector/web/html.h"
#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr size_t kHeaderLimit = 8 * 1024;
constexpr size_t kBodyLimit = 4 * 1024;
constexpr int kMaxRequestsPerConnection = 100;
// What a page is allowed to do: its own script and style, nothing inline,
// nothing from elsewhere (a second wall behind the escaping).
constexpr char kSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
// The query service method whose rights the page needs (a read).
constexpr char kReadMethod[] = "/parallax.v1.QueryService/Status";
// ... and the one whose rights the "check now" box needs.
constexpr char kCheckMethod[] = "/parallax.v1.QueryService/Check";

WebResponse Html(int code, std::string body) {
  return {code, "text/html; charset=utf-8", std::move(body)};
}

WebResponse Error(int code, std::string_view title, std::string_view message) {
  return Html(code, ErrorPage(code, title, message));
}

WebResponse Json(const nlohmann::json& doc, int code = 200) {
  return {code, "application/json", DumpCompact(doc)};
}

WebResponse JsonError(int code, const std::string& message) {
  return Json({{"error", message}}, code);
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// "application/json; charset=utf-8" -> "application/json".
std::string MediaType(std::string_view content_type) {
  std::string t = Lower(content_type.substr(0, content_type.find(';')));
  size_t b = t.find_first_not_of(" \t"), e = t.find_last_not_of(" \t");
  return b == std::string::npos ? "" : t.substr(b, e - b + 1);
}

// The Host header's name without the port: "[::1]:80" -> "::1".
std::string HostName(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t close = host.find(']');
    return std::string(host.substr(1, close == std::string_view::npos ? 0 : close - 1));
  }
  return std::string(host.substr(0, host.find(':')));
}

bool IpOrLocalhost(const std::string& name) {
  beast::error_code ec;
  asio::ip::make_address(name, ec);
  return !ec || Lower(name) == "localhost";
}

// POST /api/check and GET /api/check/ID.
WebResponse CheckRoute(const WebSource& source, const WebRequest& req, std::string_view path) {
  if (source.checks == nullptr) return JsonError(404, "ad-hoc checks are not served here");
  if (!req.check_refusal.empty()) return JsonError(403, req.check_refusal);
  if (path == "/api/check") {
    if (req.method != "POST") {
      return JsonError(405, "POST /api/check starts a check; GET /api/check/ID reads one");
    }
    if (MediaType(req.content_type) != "application/json") {
      return JsonError(415, "Content-Type " + QuoteForMessage(req.content_type) +
                                " refused: a check is started with application/json");
    }
    const std::string own = std::string(req.tls ? "https://" : "http://") + req.host;
    if (!req.origin.empty() && Lower(req.origin) != Lower(own)) {
      return JsonError(403, "cross-origin request refused: Origin " + QuoteForMessage(req.origin) +
                                " is not this page's " + QuoteForMessage(own));
    }
    if (!req.sec_fetch_site.empty() && req.sec_fetch_site != "same-origin" &&
        req.sec_fetch_site != "none") {
      return JsonError(
          403, "cross-site request refused: Sec-Fetch-Site " + QuoteForMessage(req.sec_fetch_site));
    }
    if (!req.tls && !IpOrLocalhost(HostName(req.host))) {
      return JsonError(403, "Host " + QuoteForMessage(req.host) +
                                " refused: over plain HTTP checks are started only at an IP "
                                "address or localhost (DNS rebinding)");
    }
    WebCheckReply r = source.checks->Start(req.caller, req.body);
    return Json(r.doc, r.code);
  }
  if (req.method != "GET" && req.method != "HEAD") {
    return JsonError(405, "GET /api/check/ID reads a check");
  }
  std::string id;
  if (!PathDecode(path.substr(std::string_view("/api/check/").size()), &id) || id.empty()) {
    return JsonError(400, "a check id is needed after /api/check/");
  }
  WebCheckReply r = source.checks->Get(req.caller, id);
  return Json(r.doc, r.code);
}

WebResponse FromStatus(const Status& st) {
  if (st.code() == Status::Code::kNotFound) return Error(404, "Not Found", st.message());
  return Error(503, "Service Unavailable", st.message());
}

// The page's and the API's data for every target.
Status Overview(const WebSource& source, v1::StatusResponse* status,
                v1::IncidentsResponse* incidents, v1::ExplainResponse* explain) {
  Status st = source.status(status);
  if (st.ok()) st = source.incidents(incidents);
  if (st.ok()) st = source.explain("", explain);
  return st;
}

std::string PeerPem(SSL* ssl) {
  X509* cert = SSL_get_peer_certificate(ssl);
  if (cert == nullptr) return "";
  std::string pem;
  BIO* bio = BIO_new(BIO_s_mem());
  if (bio != nullptr && PEM_write_bio_X509(bio, cert) == 1) {
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    if (n > 0) pem.assign(data, static_cast<size_t>(n));
  }
  BIO_free(bio);
  X509_free(cert);
  return pem;
}

}  // namespace

WebResponse HandleRequest(const WebSource& source, std::string_view method,
                          std::string_view target) {
  WebRequest req;
  req.method = method;
  req.target = target;
  return HandleRequest(source, req);
}

WebResponse HandleRequest(const WebSource& source, const WebRequest& req) {
  std::string_view target = req.target;
  std::string_view path = target.substr(0, target.find('?'));
  if (path == "/api/check" || path.substr(0, 11) == "/api/check/") {
    return CheckRoute(source, req, path);
  }
  if (req.method != "GET" && req.method != "HEAD") {
    return Error(405, "Method Not Allowed", "only GET and HEAD are served");
  }
  if (path == "/static/app.js") return {200, "text/javascript; charset=utf-8", std::string(kAppJs)};
  if (path == "/static/style.css") return {200, "text/css; charset=utf-8", std::string(kStyleCss)};
  if (path == "/" || path == "/api/status") {
    v1::StatusResponse status;
    v1::IncidentsResponse incidents;
    v1::ExplainResponse explain;
    Status st = Overview(source, &status, &incidents, &explain);
    if (!st.ok()) return FromStatus(st);
    int64_t now = source.now_ms();
    if (path == "/") {
      CheckBox box{source.checks != nullptr, req.check_refusal};
      return Html(200, IndexPage(status, incidents, explain, now, box));
    }
    return Json(StatusDocument(status, incidents, explain, now));
  }
  for (std::string_view prefix : {std::string_view("/target/"), std::string_view("/api/target/")}) {
    if (path.substr(0, prefix.size()) != prefix) continue;
    std::string name;
    if (!PathDecode(path.substr(prefix.size()), &name) || name.empty()) {
      return Error(400, "Bad Request", "a target name is needed after " + std::string(prefix));
    }
    v1::ExplainResponse explain;
    Status st = source.explain(name, &explain);
    if (!st.ok()) return FromStatus(st);
    int64_t now = source.now_ms();
    if (prefix == "/target/") return Html(200, TargetPage(explain, now));
    return Json(TargetDocument(explain, now));
  }
  return Error(404, "Not Found", "no page at " + std::string(path));
}

// Declaration order matters for destruction: the io_context goes before
// what its abandoned sessions still touch (options, source, the TLS context,
// the connection count), after the acceptor that uses it.
struct WebServer::Impl {
  WebOptions options;
  WebSource source;
  std::atomic<int> connections{0};
  std::optional<ssl::context> tls;
  asio::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::vector<std::thread> threads;
  bool stopped = false;

  void Accept();
};

namespace {

// One connection. kTls: a TLS stream whose client certificate (if required)
// was checked after the handshake.
template <bool kTls>
class Session : public std::enable_shared_from_this<Session<kTls>> {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Session(WebServer::Impl* server, tcp::socket&& socket)
      : server_(server), stream_(MakeStream(server, std::move(socket))) {
    ++server_->connections;
  }
  ~Session() { --server_->connections; }

  void Run() {
    asio::dispatch(Tcp().get_executor(), [self = this->shared_from_this()] { self->Start(); });
  }

 private:
  static Stream MakeStream(WebServer::Impl* server, tcp::socket&& socket) {
    if constexpr (kTls) {
      return Stream(std::move(socket), *server->tls);
    } else {
      return Stream(std::move(socket));
    }
  }
  beast::tcp_stream& Tcp() {
    if constexpr (kTls) {
      return stream_.next_layer();
    } else {
      return stream_;
    }
  }

  void Start() {
    SetAddressCaller();
    Tcp().expires_after(server_->options.timeout);
    if constexpr (kTls) {
      stream_.async_handshake(ssl::stream_base::server,
                              [self = this->shared_from_this()](beast::error_code ec) {
                                if (ec) return;  // e.g. no client certificate: refused
                                self->CheckPeer();
                                self->Read();
                              });
    } else {
      Read();
    }
  }

  // mTLS: the certificate the handshake verified must have a reader's or
  // an admin's rights, as for the query service.
  void CheckPeer() {
    if constexpr (kTls) {
      if (server_->options.client_ca.empty()) return;
      who_ = IdentityFromPem(PeerPem(stream_.native_handle()));
      Status st = CheckMethodAccess(who_, kReadMethod);
      if (!st.ok()) refusal_ = st.message();
      st = CheckMethodAccess(who_, kCheckMethod);
      if (!st.ok()) check_refusal_ = "checks need an admin's certificate: " + st.message();
      if (who_.authenticated && !who_.name.empty()) {
        caller_ = std::string(RoleName(who_.role)) + ":" + who_.name;
      }
    }
  }

  // Without a certificate's name: the peer's address (not its port).
  void SetAddressCaller() {
    beast::error_code ec;
    tcp::endpoint peer = Tcp().socket().remote_endpoint(ec);
    if (ec) {
      caller_ = "unknown";
    } else if (peer.address().is_v4()) {
      caller_ = "ipv4:" + peer.address().to_string();
    } else {
      caller_ = "ipv6:[" + peer.address().to_string() + "]";
    }
  }

  void Read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    Tcp().expires_after(server_->options.timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      return Reply(
          parser_->get(),
          JsonError(413, "the request body is over " + std::to_string(kBodyLimit) + " bytes"),
          false);
    }
    if (ec) return Close();
    const auto& req = parser_->get();
    WebResponse r;
    std::string refusal = refusal_;
    if (refusal.empty() && kTls && !server_->options.client_ca.empty() && server_->options.config) {
      std::shared_ptr<const Config> config = server_->options.config();
      if (config && IsRevoked(config->revoked, who_)) {
        refusal = "certificate revoked: " + who_.Describe();
      }
    }
    if (!refusal.empty()) {
      Logf(LogLevel::kWarning, "web: refused %s: %s",
           EscapeForTerminal(std::string(req.target())).c_str(),
           EscapeForTerminal(refusal).c_str());
      r = {403, "text/html; charset=utf-8", ErrorPage(403, "Forbidden", refusal)};
    } else {
      WebRequest w;
      w.method = std::string(req.method_string());
      w.target = std::string(req.target());
      w.content_type = std::string(req[http::field::content_type]);
      w.origin = std::string(req[http::field::origin]);
      w.host = std::string(req[http::field::host]);
      w.sec_fetch_site = std::string(req["Sec-Fetch-Site"]);
      w.body = req.body();
      w.tls = kTls;
      w.caller = caller_;
      w.check_refusal = check_refusal_;
      r = HandleRequest(server_->source, w);
    }
    Reply(req, std::move(r), refusal.empty());
  }

  void Reply(const http::request<http::string_body>& req, WebResponse r, bool may_keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.code), req.version());
    res->set(http::field::server, "parallax-collector");
    res->set(http::field::content_type, r.content_type);
    res->set(http::field::cache_control, "no-store");
    res->set("Content-Security-Policy", kSecurityPolicy);
    res->set("X-Content-Type-Options", "nosniff");
    res->set("Referrer-Policy", "no-referrer");
    if (kTls) res->set(http::field::strict_transport_security, "max-age=31536000");
    bool head = req.method() == http::verb::head;
    res->body() = std::move(r.body);
    res->prepare_payload();
    if (head) res->body().clear();
    ++requests_;
    res->keep_alive(req.keep_alive() && requests_ < kMaxRequestsPerConnection && may_keep_alive);
    Tcp().expires_after(server_->options.timeout);
    http::async_write(stream_, *res,
                      [self = this->shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec || !res->keep_alive()) return self->Close();
                        self->Read();
                      });
  }

  void Close() {
    if constexpr (kTls) {
      Tcp().expires_after(std::chrono::seconds(2));
      stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
        beast::error_code ignored;
        self->Tcp().socket().close(ignored);
      });
    } else {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    }
  }

  WebServer::Impl* server_;
  Stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit};
  std::optional<http::request_parser<http::string_body>> parser_;
  PeerIdentity who_;
  std::string refusal_;
  std::string check_refusal_;
  std::string caller_;
  int requests_ = 0;
};

}  // namespace

void WebServer::Impl::Accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
      // EMFILE and the like: try again shortly, never spin.
      auto timer = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
      timer->async_wait([this, timer](beast::error_code) {
        if (acceptor.is_open()) Accept();
      });
      return;
    }
    if (connections.load() >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);  // over the cap: closed at once
    } else if (tls) {
      std::make_shared<Session<true>>(this, std::move(socket))->Run();
    } else {
      std::make_shared<Session<false>>(this, std::move(socket))->Run();
    }
    Accept();
  });
}

WebServer::WebServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebServer::~WebServer() { Stop(); }

int WebServer::port() const {
  beast::error_code ec;
  auto ep = impl_->acceptor.local_endpoint(ec);
  return ec ? 0 : ep.port();
}

void WebServer::Stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  asio::post(impl_->ioc, [impl = impl_.get()] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
  });
  impl_->ioc.stop();  // abandons open connections; their sockets close with the context
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
}

Status WebServer::Start(WebOptions options, WebSource source, std::unique_ptr<WebServer>* out) {
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->source = std::move(source);
  const WebOptions& o = impl->options;
  std::string where = "web_listen \"" + o.listen + "\"";
  size_t colon = o.listen.rfind(':');
  if (colon == std::string::npos) return Status::InvalidArgument(where + ": not host:port");
  std::string host = o.listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int port = std::atoi(o.listen.c_str() + colon + 1);

  if (!o.tls_cert.empty()) {
    impl->tls.emplace(ssl::context::tls_server);
    beast::error_code ec;
    impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                           ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                           ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    impl->tls->use_certificate_chain_file(o.tls_cert, ec);
    if (ec) return Status::IoError(where + ": tls.cert \"" + o.tls_cert + "\": " + ec.message());
    impl->tls->use_private_key_file(o.tls_key, ssl::context::pem, ec);
    if (ec) return Status::IoError(where + ": tls.key \"" + o.tls_key + "\": " + ec.message());
    if (!o.client_ca.empty()) {
      impl->tls->load_verify_file(o.client_ca, ec);
      if (ec) {
        return Status::IoError(where + ": tls.client_ca \"" + o.client_ca + "\": " + ec.message());
      }
      impl->tls->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
    }
  }

  beast::error_code ec;
  tcp::resolver resolver(impl->ioc);
  auto endpoints = resolver.resolve(host, std::to_string(port), ec);
  if (ec || endpoints.empty()) {
    return Status::InvalidArgument(where + ": cannot resolve \"" + host + "\": " + ec.message());
  }
  tcp::endpoint ep = endpoints.begin()->endpoint();
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::Unavailable(where + ": cannot listen: " + ec.message());

  impl->Accept();
  Impl* raw = impl.get();
  for (int i = 0; i < std::max(1, o.threads); ++i) {
    impl->threads.emplace_back([raw] { raw->ioc.run(); });
  }
  out->reset(new WebServer(std::move(impl)));
  return Status::Ok();
}

}  // namespace parallax::collector::web
