// Small HTTP/1.0 helpers for the observability tests, loopback only: a client
// (GET/POST to 127.0.0.1:port, URL encoding) and a webhook recorder, a
// loopback HTTP server that stores every request body by path (what
// Alertmanager's webhook receivers post).
//
// HttpCall is thread-safe (no shared state). WebhookRecorder runs one accept
// thread; its accessors are thread-safe.
#pragma once

#include <netinet/in.h>

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace parallax::testing {

// 127.0.0.1:port.
sockaddr_in Loopback(int port);

struct HttpReply {
  int status = 0;  // 0: no connection or no valid reply
  std::string body;
};

// One request to http://127.0.0.1:port<path>, 5 s socket timeouts.
HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::string& body = "",
                   const std::string& content_type = "application/json");

// Percent-encodes everything but unreserved characters (RFC 3986).
std::string UrlEncode(const std::string& s);

class WebhookRecorder {
 public:
  WebhookRecorder();  // listens on 127.0.0.1, port 0
  ~WebhookRecorder();
  int port() const { return port_; }
  // Bodies posted to `path`, oldest first.
  std::vector<std::string> Bodies(const std::string& path) const;
  std::vector<std::string> Paths() const;

 private:
  void Loop();
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::map<std::string, std::vector<std::string>> bodies_;
  std::thread thread_;
};

}  // namespace parallax::testing
