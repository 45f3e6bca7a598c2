#include "tests/observability/ssh_port.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tests/integration/harness.h"
#include "tests/observability/http_util.h"

namespace parallax::testing {
namespace {

constexpr char kIdentification[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

// True if a non-blocking connect completes within `timeout_ms`; keeps the fd.
bool ConnectWithin(int port, int timeout_ms, std::vector<int>* fds) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  fds->push_back(fd);
  sockaddr_in sa = Loopback(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, timeout_ms) != 1) return false;
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

}  // namespace

SshPort::SshPort() : port_(FreePort()) {}

SshPort::~SshPort() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  for (int fd : fillers_) close(fd);
  if (fd_ >= 0) close(fd_);
}

bool SshPort::Bind() {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa = Loopback(port_);
  return fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
}

bool SshPort::TimeOut() {
  if (fd_ >= 0 || !Bind() || listen(fd_, 0) != 0) return false;
  // Fill the accept queue until a connect no longer completes (bounded).
  for (int i = 0; i < 8; ++i) {
    if (!ConnectWithin(port_, 300, &fillers_)) return true;
  }
  return false;
}

bool SshPort::Answer() {
  if (fd_ < 0 && !Bind()) return false;
  // listen() again on a listening socket only raises its backlog.
  if (listen(fd_, 128) != 0) return false;
  thread_ = std::thread([this] { Serve(); });
  for (int fd : fillers_) close(fd);
  fillers_.clear();
  return true;
}

void SshPort::Serve() {
  while (!stop_) {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 100) != 1) continue;
    int c = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    if (write(c, kIdentification, sizeof(kIdentification) - 1) > 0) {
      // Read the client's identification (it may already be there) so the
      // close is a clean FIN, not a reset over unread data.
      pollfd r{c, POLLIN, 0};
      char buf[512];
      if (poll(&r, 1, 500) == 1) (void)!read(c, buf, sizeof(buf));
    }
    close(c);
  }
}

}  // namespace parallax::testing
