// SshPort: one loopback TCP port whose SSH behaviour a test switches while
// the probes check it, to make alerts fire and then resolve:
//
//   refusing   (initial) nothing listens: connects are refused (ssh_refused)
//   TimeOut()  a listener whose accept queue is full and never drained: new
//              SYNs are dropped, connects time out (firewall_block when the
//              ICMP liveness check answers, host_offline when it cannot run)
//   Answer()   an SSH server: accepts, writes an identification line, reads
//              the client's line, closes (ok)
//
// 127.0.0.1 only, unprivileged. Thread-compatible: one test thread drives it;
// the answering server runs on an internal thread.
#pragma once

#include <atomic>
#include <thread>
#include <vector>

namespace parallax::testing {

class SshPort {
 public:
  SshPort();  // refusing, on a port that was free a moment ago
  ~SshPort();
  SshPort(const SshPort&) = delete;
  SshPort& operator=(const SshPort&) = delete;

  int port() const { return port_; }
  // From refusing: listen with a full queue. False if the queue could not be filled.
  bool TimeOut();
  // From refusing or timing out: serve SSH identifications. False on a socket error.
  bool Answer();

 private:
  bool Bind();
  void Serve();

  int port_ = 0;
  int fd_ = -1;
  std::vector<int> fillers_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace parallax::testing
