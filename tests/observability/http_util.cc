#include "tests/observability/http_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace parallax::testing {
namespace {

void SetTimeouts(int fd, int seconds) {
  timeval tv{seconds, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

bool WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

// Reads one HTTP request (headers + Content-Length body); false on error.
bool ReadRequest(int fd, std::string* path, std::string* body) {
  std::string in;
  char buf[8192];
  size_t header_end = std::string::npos;
  while (header_end == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0 || in.size() > (1 << 20)) return false;
    in.append(buf, n);
    header_end = in.find("\r\n\r\n");
  }
  size_t sp1 = in.find(' ');
  size_t sp2 = in.find(' ', sp1 + 1);
  if (sp1 == std::string::npos || sp2 == std::string::npos) return false;
  *path = in.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t length = 0;
  std::string headers = in.substr(0, header_end);
  for (char& c : headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t cl = headers.find("content-length:");
  if (cl != std::string::npos) length = std::strtoul(headers.c_str() + cl + 15, nullptr, 10);
  *body = in.substr(header_end + 4);
  while (body->size() < length && body->size() < (8u << 20)) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) return false;
    body->append(buf, n);
  }
  return true;
}

}  // namespace

sockaddr_in Loopback(int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::string& body, const std::string& content_type) {
  HttpReply reply;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return reply;
  SetTimeouts(fd, 5);
  sockaddr_in addr = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return reply;
  }
  std::string req = method + " " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n";
  if (!body.empty() || method == "POST") {
    req += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\n";
  }
  req += "\r\n" + body;
  std::string resp;
  if (WriteAll(fd, req)) {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0 && resp.size() < (64u << 20)) resp.append(buf, n);
  }
  close(fd);
  size_t sp = resp.find(' ');
  size_t header_end = resp.find("\r\n\r\n");
  if (resp.rfind("HTTP/", 0) != 0 || sp == std::string::npos || header_end == std::string::npos) {
    return reply;
  }
  reply.status = std::atoi(resp.c_str() + sp + 1);
  reply.body = resp.substr(header_end + 4);
  return reply;
}

std::string UrlEncode(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

WebhookRecorder::WebhookRecorder() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = Loopback(0);
  socklen_t len = sizeof(addr);
  if (fd_ < 0 || bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd_, 64) != 0 || getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return;
  }
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Loop(); });
}

WebhookRecorder::~WebhookRecorder() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

void WebhookRecorder::Loop() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    SetTimeouts(c, 5);
    std::string path, body;
    if (ReadRequest(c, &path, &body)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        bodies_[path].push_back(body);
      }
      WriteAll(c, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
    }
    close(c);
  }
}

std::vector<std::string> WebhookRecorder::Bodies(const std::string& path) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = bodies_.find(path);
  return it == bodies_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> WebhookRecorder::Paths() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out;
  for (const auto& [path, b] : bodies_) out.push_back(path);
  return out;
}

}  // namespace parallax::testing
