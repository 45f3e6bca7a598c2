#include "bench/banner_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace parallax::bench {
namespace {

// epoll data: the fd in the low 32 bits, its kind above.
enum Kind : uint64_t { kBannerListen = 1, kSilentListen = 2, kConn = 3, kWake = 4 };
uint64_t Tag(Kind k, int fd) {
  return (static_cast<uint64_t>(k) << 32) | static_cast<uint32_t>(fd);
}

std::string Errno(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

BannerListener::~BannerListener() { Stop(); }

Status BannerListener::Bind(bool listen, int* fd, int* port) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (*fd < 0) return Status::IoError(Errno("socket"));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  if (inet_pton(AF_INET, options_.address.c_str(), &a.sin_addr) != 1) {
    return Status::InvalidArgument("listener address: \"" + options_.address +
                                   "\" is not an IPv4 address");
  }
  if (bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    return Status::IoError(Errno("bind " + options_.address));
  }
  if (listen && ::listen(*fd, 4096) != 0) return Status::IoError(Errno("listen"));
  socklen_t len = sizeof(a);
  getsockname(*fd, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return Status::Ok();
}

Status BannerListener::Start() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epoll_fd_ < 0 || wake_fd_ < 0) return Status::IoError(Errno("epoll/eventfd"));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = Tag(kWake, wake_fd_);
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  struct Group {
    int n;
    bool listen;
    std::vector<int>* ports;
    Kind kind;
  };
  for (const Group& g : {Group{options_.banner_ports, true, &banner_ports_, kBannerListen},
                         Group{options_.silent_ports, true, &silent_ports_, kSilentListen},
                         Group{options_.refused_ports, false, &refused_ports_, kConn}}) {
    for (int i = 0; i < g.n; ++i) {
      int fd = -1, port = 0;
      Status st = Bind(g.listen, &fd, &port);
      if (!st.ok()) return st;
      g.ports->push_back(port);
      if (!g.listen) {
        refused_fds_.push_back(fd);
        continue;
      }
      listen_fds_.push_back(fd);
      ev.events = EPOLLIN;
      ev.data.u64 = Tag(g.kind, fd);
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    }
  }
  thread_ = std::thread([this] { Loop(); });
  return Status::Ok();
}

void BannerListener::Stop() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
  }
  for (int fd : listen_fds_) close(fd);
  for (int fd : refused_fds_) close(fd);
  listen_fds_.clear();
  refused_fds_.clear();
  if (epoll_fd_ >= 0) close(epoll_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
}

ListenerCounts BannerListener::counts() const {
  return {accepted_.load(std::memory_order_relaxed), banners_.load(std::memory_order_relaxed),
          open_.load(std::memory_order_relaxed)};
}

void BannerListener::AcceptAll(int listen_fd, bool banner) {
  // Bounded: at most one backlog's worth per wake-up, so the loop stays fair.
  for (int i = 0; i < 4096; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or EMFILE: the client will time out
    accepted_.fetch_add(1, std::memory_order_relaxed);
    if (banner) {
      ssize_t n = write(fd, kBanner, sizeof(kBanner) - 1);
      if (n == static_cast<ssize_t>(sizeof(kBanner) - 1)) {
        banners_.fetch_add(1, std::memory_order_relaxed);
      }
    }
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u64 = Tag(kConn, fd);
    epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev);
    open_.fetch_add(1, std::memory_order_relaxed);
  }
}

void BannerListener::Loop() {
  epoll_event events[256];
  char sink[4096];
  while (true) {
    int n = epoll_wait(epoll_fd_, events, 256, -1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return;
    for (int i = 0; i < n; ++i) {
      int fd = static_cast<int>(events[i].data.u64 & 0xffffffffu);
      switch (static_cast<Kind>(events[i].data.u64 >> 32)) {
        case kWake:
          return;
        case kBannerListen:
          AcceptAll(fd, true);
          break;
        case kSilentListen:
          AcceptAll(fd, false);
          break;
        case kConn: {
          // Drain what the client sent (its identification); close on EOF/error.
          ssize_t r = read(fd, sink, sizeof(sink));
          if (r > 0 && !(events[i].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) break;
          if (r < 0 && errno == EAGAIN) break;
          close(fd);  // closing removes it from the epoll set
          open_.fetch_sub(1, std::memory_order_relaxed);
          break;
        }
      }
    }
  }
}

}  // namespace parallax::bench
