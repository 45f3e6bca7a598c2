#include "collector/metrics/metrics_server.h"

#include <CivetServer.h>
#include <openssl/crypto.h>

#include <cstring>
#include <string_view>

#include "collector/metrics/exposition.h"

namespace parallax::collector {
namespace {

// RFC 4648 base64 (standard alphabet, padding optional); false on any other
// character.
bool DecodeBase64(std::string_view in, std::string* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == '+') {
      v = 62;
    } else if (c == '/') {
      v = 63;
    } else if (c == '=') {
      break;
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

bool SameSecret(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

class MetricsServer::Handler : public CivetHandler {
 public:
  Handler(const MetricsServerOptions& options, Render render)
      : user_(options.basic_auth_user),
        password_(options.basic_auth_password),
        render_(std::move(render)) {}

  bool handleGet(CivetServer*, mg_connection* conn) override { return Serve(conn, true); }
  bool handleHead(CivetServer*, mg_connection* conn) override { return Serve(conn, false); }
  bool handlePost(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handlePut(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handleDelete(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handlePatch(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }
  bool handleOptions(CivetServer*, mg_connection* conn) override { return NotAllowed(conn); }

 private:
  bool Authorized(mg_connection* conn) const {
    if (user_.empty()) return true;
    const char* header = mg_get_header(conn, "Authorization");
    std::string user, password;
    return header != nullptr && ParseBasicAuth(header, &user, &password) &&
           SameSecret(user, user_) && SameSecret(password, password_);
  }

  bool Serve(mg_connection* conn, bool body) {
    const mg_request_info* info = mg_get_request_info(conn);
    if (info == nullptr || info->local_uri == nullptr ||
        std::strcmp(info->local_uri, "/metrics") != 0) {
      mg_send_http_error(conn, 404, "%s", "not found: the metrics are at /metrics\n");
      return true;
    }
    if (!Authorized(conn)) {
      mg_printf(conn,
                "HTTP/1.1 401 Unauthorized\r\n"
                "WWW-Authenticate: Basic realm=\"parallax-collector\"\r\n"
                "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
                "unauthorized\n");
      return true;
    }
    std::string text;
    render_(&text);
    mg_printf(conn,
              "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
              "Connection: close\r\n\r\n",
              kExpositionContentType, text.size());
    if (body) mg_write(conn, text.data(), text.size());
    return true;
  }

  static bool NotAllowed(mg_connection* conn) {
    mg_printf(conn,
              "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET, HEAD\r\n"
              "Content-Type: text/plain\r\nContent-Length: 19\r\nConnection: close\r\n\r\n"
              "method not allowed\n");
    return true;
  }

  const std::string user_, password_;
  const Render render_;
};

bool MetricsServer::ParseBasicAuth(const std::string& header, std::string* user,
                                   std::string* password) {
  constexpr std::string_view kScheme = "Basic ";
  std::string_view h(header);
  if (h.size() <= kScheme.size() || h.size() > 4096) return false;
  for (size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(h[i])) !=
        std::tolower(static_cast<unsigned char>(kScheme[i]))) {
      return false;
    }
  }
  h.remove_prefix(kScheme.size());
  while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
  std::string decoded;
  if (!DecodeBase64(h, &decoded)) return false;
  const size_t colon = decoded.find(':');
  if (colon == std::string::npos) return false;
  *user = decoded.substr(0, colon);
  *password = decoded.substr(colon + 1);
  return true;
}

Status MetricsServer::Start(const MetricsServerOptions& options, Render render,
                            std::unique_ptr<MetricsServer>* out) {
  std::unique_ptr<MetricsServer> s(new MetricsServer());
  s->handler_ = std::make_unique<Handler>(options, std::move(render));
  const std::vector<std::string> civet_options = {
      "listening_ports",       options.listen,
      "num_threads",           std::to_string(options.threads),
      "request_timeout_ms",    std::to_string(options.request_timeout_ms),
      "keep_alive_timeout_ms", std::to_string(options.request_timeout_ms),
      "enable_keep_alive",     "no"};
  try {
    s->server_ = std::make_unique<CivetServer>(civet_options);
  } catch (const std::exception& e) {
    return Status::Unavailable("metrics_listen \"" + options.listen +
                               "\": cannot listen: " + e.what());
  }
  // Every path goes to the handler, which answers 404 for all but /metrics.
  s->server_->addHandler("/", s->handler_.get());
  *out = std::move(s);
  return Status::Ok();
}

MetricsServer::~MetricsServer() {
  if (server_) server_->close();  // joins the threads: no render runs after this
}

std::vector<int> MetricsServer::ports() const { return server_->getListeningPorts(); }

}  // namespace parallax::collector
