// BannerListener: a fast loopback SSH-banner server for throughput benchmarks
// (a real sshd forks per connection and takes only a few hundred per second).
//
// One epoll loop on its own thread serves three kinds of ports:
//  - banner:  accepts, writes kBanner at once, closes when the client closes
//             (so the client, not the listener, holds TIME_WAIT; loopback
//             reuses it, net.ipv4.tcp_tw_reuse=2 is Linux's default);
//  - silent:  accepts and never writes (checks end in banner_timeout);
//  - refused: a socket bound but never listening, so the kernel answers
//             every SYN with a reset (ECONNREFUSED), no user-space work.
// Every port is bound on 127.0.0.1 to port 0 and read back. Counters are
// atomics, readable from any thread while the loop runs.
//
// Thread-safety: Start/Stop from one thread; counters and ports() from any.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"

namespace parallax::bench {

struct ListenerOptions {
  int banner_ports = 4;
  int silent_ports = 0;
  int refused_ports = 0;
  std::string address = "127.0.0.1";
};

struct ListenerCounts {
  uint64_t accepted = 0;  // connections accepted (banner and silent ports)
  uint64_t banners = 0;   // banners written in full
  uint64_t open_now = 0;  // connections currently open
};

class BannerListener {
 public:
  static constexpr char kBanner[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

  explicit BannerListener(ListenerOptions options) : options_(std::move(options)) {}
  ~BannerListener();  // Stop()s
  BannerListener(const BannerListener&) = delete;
  BannerListener& operator=(const BannerListener&) = delete;

  // Binds every port and starts the loop thread.
  Status Start();
  void Stop();

  const std::vector<int>& banner_ports() const { return banner_ports_; }
  const std::vector<int>& silent_ports() const { return silent_ports_; }
  const std::vector<int>& refused_ports() const { return refused_ports_; }
  ListenerCounts counts() const;

 private:
  Status Bind(bool listen, int* fd, int* port);
  void Loop();
  void AcceptAll(int listen_fd, bool banner);

  ListenerOptions options_;
  std::vector<int> banner_ports_, silent_ports_, refused_ports_;
  std::vector<int> listen_fds_;  // banner first, then silent
  std::vector<int> refused_fds_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd that ends the loop
  std::thread thread_;
  std::atomic<uint64_t> accepted_{0}, banners_{0}, open_{0};
};

}  // namespace parallax::bench
