// TestServer: a loopback TCP server for the checks' and scheduler's tests
// (testing only; not part of parallax_checks). Listens on 127.0.0.1, port 0
// (read back with port()), and treats every connection the same way:
//
//   kSsh           sends `greeting` (pre-banner lines and/or an identification
//                  line), records the first line the client sends, then holds
//                  the connection until the client closes it
//   kSilent        accepts and never writes (holds the connection)
//   kCloseAfterLine reads the client's first line, then closes (FIN)
//   kReset         accepts and closes at once with SO_LINGER 0 (RST)
//   kHttp          reads the client's first line, answers "HTTP/1.1 400 Bad
//                  Request", closes
//
// Runs on the given io_context (the test's); thread-compatible.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first
#include <vector>

namespace parallax::probe::testing {

enum class ServerBehavior { kSsh, kSilent, kCloseAfterLine, kReset, kHttp };

class TestServer {
 public:
  TestServer(boost::asio::io_context& io, ServerBehavior behavior,
             std::string greeting = "SSH-2.0-TestServer_1.0\r\n");
  ~TestServer();

  uint16_t port() const { return port_; }
  int accepted() const { return state_->accepted; }
  // The first line each client sent, without line end, in arrival order.
  const std::vector<std::string>& lines() const { return state_->lines; }

  struct State {
    int accepted = 0;
    std::vector<std::string> lines;
    std::vector<std::shared_ptr<boost::asio::ip::tcp::socket>> held;
  };

 private:
  void Accept();

  boost::asio::io_context& io_;
  ServerBehavior behavior_;
  std::string greeting_;
  boost::asio::ip::tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// A port on 127.0.0.1 nothing listens on (bound, read back, closed).
uint16_t ClosedPort();

// A listener on 127.0.0.1 whose accept queue is full and never drained: new
// SYNs to it are dropped, so a connect to it times out (loopback only,
// unprivileged). Returns 0 if the queue could not be filled.
class FullBacklogListener {
 public:
  FullBacklogListener();
  ~FullBacklogListener();
  uint16_t port() const { return port_; }

 private:
  int listen_fd_ = -1;
  std::vector<int> fillers_;
  uint16_t port_ = 0;
};

// A tiny DNS server on 127.0.0.1 (UDP, a port of its own, read back with
// port()), on a thread of its own: answers A queries for the names in `a`
// (each with its addresses, in order), answers every other name that is
// not silent with no data (NOERROR, no answer: "no record of this type"),
// and never answers any query for a name in `silent` (a stuck lookup).
// Names are compared lowercase, without the trailing dot. queries() counts
// the queries received. The thread polls in 50 ms steps and ends in the
// destructor.
class TestDnsServer {
 public:
  TestDnsServer(std::vector<std::pair<std::string, std::vector<std::string>>> a,
                std::vector<std::string> silent);
  ~TestDnsServer();
  uint16_t port() const { return port_; }
  // "127.0.0.1:<port>" for DnsResolverOptions::servers.
  std::string servers() const { return "127.0.0.1:" + std::to_string(port_); }
  int queries() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
  uint16_t port_ = 0;
};

}  // namespace parallax::probe::testing
