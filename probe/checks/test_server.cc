#include "probe/checks/test_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cerrno>
#include <istream>
#include <thread>

namespace parallax::probe::testing {

using boost::asio::ip::tcp;

namespace {

using Socket = std::shared_ptr<tcp::socket>;

// Reads the client's first line into state->lines, then calls `then`.
template <typename Then>
void ReadLine(Socket s, std::shared_ptr<TestServer::State> state, Then then) {
  auto buf = std::make_shared<boost::asio::streambuf>(4096);
  boost::asio::async_read_until(
      *s, *buf, '\n', [s, buf, state, then](const boost::system::error_code& ec, size_t n) {
        if (!ec) {
          std::string line(boost::asio::buffers_begin(buf->data()),
                           boost::asio::buffers_begin(buf->data()) + n);
          while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
          state->lines.push_back(line);
        }
        then(s);
      });
}

// Holds the connection until the client closes it (or the server goes away).
void HoldUntilClosed(Socket s) {
  auto buf = std::make_shared<std::array<char, 1024>>();
  s->async_read_some(boost::asio::buffer(*buf),
                     [s, buf](const boost::system::error_code& ec, size_t) {
                       if (!ec) HoldUntilClosed(s);
                     });
}

}  // namespace

TestServer::TestServer(boost::asio::io_context& io, ServerBehavior behavior, std::string greeting)
    : io_(io),
      behavior_(behavior),
      greeting_(std::move(greeting)),
      acceptor_(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0)) {
  port_ = acceptor_.local_endpoint().port();
  Accept();
}

TestServer::~TestServer() {
  boost::system::error_code ec;
  acceptor_.close(ec);
  for (auto& s : state_->held) s->close(ec);
}

void TestServer::Accept() {
  auto s = std::make_shared<tcp::socket>(io_);
  acceptor_.async_accept(*s, [this, s, state = state_](const boost::system::error_code& ec) {
    if (ec) return;  // closed
    ++state->accepted;
    state->held.push_back(s);
    switch (behavior_) {
      case ServerBehavior::kSsh: {
        auto text = std::make_shared<std::string>(greeting_);
        boost::asio::async_write(*s, boost::asio::buffer(*text),
                                 [text](const boost::system::error_code&, size_t) {});
        ReadLine(s, state, [](Socket s) { HoldUntilClosed(s); });
        break;
      }
      case ServerBehavior::kSilent:
        break;
      case ServerBehavior::kCloseAfterLine:
        ReadLine(s, state, [](Socket s) {
          boost::system::error_code ignored;
          s->shutdown(tcp::socket::shutdown_both, ignored);
          s->close(ignored);
        });
        break;
      case ServerBehavior::kReset: {
        boost::system::error_code ignored;
        s->set_option(boost::asio::socket_base::linger(true, 0), ignored);
        s->close(ignored);
        break;
      }
      case ServerBehavior::kHttp:
        ReadLine(s, state, [](Socket s) {
          auto text = std::make_shared<std::string>(
              "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
          boost::asio::async_write(*s, boost::asio::buffer(*text),
                                   [s, text](const boost::system::error_code&, size_t) {
                                     boost::system::error_code ignored;
                                     s->shutdown(tcp::socket::shutdown_both, ignored);
                                     s->close(ignored);
                                   });
        });
        break;
    }
    Accept();
  });
}

uint16_t ClosedPort() {
  boost::asio::io_context io;
  tcp::acceptor a(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  uint16_t port = a.local_endpoint().port();
  a.close();
  return port;
}

namespace {

sockaddr_in Loopback(uint16_t port) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  return sa;
}

// True if a connect to `port` completes within `timeout_ms`; keeps the fd.
bool ConnectWithin(uint16_t port, int timeout_ms, std::vector<int>* fds) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  fds->push_back(fd);
  sockaddr_in sa = Loopback(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, timeout_ms) != 1) return false;
  int err = 0;
  socklen_t len = sizeof(err);
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  return err == 0;
}

}  // namespace

FullBacklogListener::FullBacklogListener() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa = Loopback(0);
  socklen_t len = sizeof(sa);
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      ::listen(listen_fd_, 0) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    return;
  }
  uint16_t port = ntohs(sa.sin_port);
  // Fill the accept queue until a connect no longer completes (bounded).
  for (int i = 0; i < 8; ++i) {
    if (!ConnectWithin(port, 300, &fillers_)) {
      port_ = port;
      return;
    }
  }
}

FullBacklogListener::~FullBacklogListener() {
  for (int fd : fillers_) ::close(fd);
  if (listen_fd_ >= 0) ::close(listen_fd_);
}

struct TestDnsServer::Impl {
  int fd = -1;
  std::atomic<bool> stop{false};
  std::atomic<int> queries{0};
  std::vector<std::pair<std::string, std::vector<std::string>>> a;
  std::vector<std::string> silent;
  std::thread thread;

  void Serve() {
    unsigned char buf[512];
    for (int round = 0; !stop && round < 20 * 600; ++round) {  // bounded: 10 minutes at most
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      ssize_t n = recvfrom(fd, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &len);
      if (n < 12) continue;
      ++queries;
      // Question: labels from offset 12, then type and class.
      std::string name;
      size_t i = 12;
      while (i < static_cast<size_t>(n) && buf[i] != 0 && i + buf[i] < static_cast<size_t>(n)) {
        if (!name.empty()) name += '.';
        for (size_t k = 1; k <= buf[i]; ++k) name += static_cast<char>(std::tolower(buf[i + k]));
        i += buf[i] + 1;
      }
      if (i + 5 > static_cast<size_t>(n)) continue;
      uint16_t qtype = static_cast<uint16_t>(buf[i + 1] << 8 | buf[i + 2]);
      size_t question_end = i + 5;
      if (std::find(silent.begin(), silent.end(), name) != silent.end()) continue;
      std::vector<unsigned char> out(buf, buf + question_end);
      out[2] = 0x81;  // response, recursion desired
      out[3] = 0x80;  // recursion available, NOERROR
      out[6] = out[7] = out[8] = out[9] = out[10] = out[11] = 0;
      uint16_t answers = 0;
      bool known = false;
      for (const auto& [n_, addresses] : a) {
        if (n_ != name) continue;
        known = true;
        if (qtype != 1) break;
        for (const std::string& text : addresses) {
          in_addr addr{};
          if (inet_pton(AF_INET, text.c_str(), &addr) != 1) continue;
          const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 30, 0, 4};
          out.insert(out.end(), rr, rr + sizeof(rr));
          const auto* b = reinterpret_cast<const unsigned char*>(&addr.s_addr);
          out.insert(out.end(), b, b + 4);
          ++answers;
        }
      }
      if (!known) out[3] = 0x83;  // NXDOMAIN
      out[7] = static_cast<unsigned char>(answers);
      sendto(fd, out.data(), out.size(), 0, reinterpret_cast<sockaddr*>(&from), len);
    }
  }
};

TestDnsServer::TestDnsServer(std::vector<std::pair<std::string, std::vector<std::string>>> a,
                             std::vector<std::string> silent)
    : impl_(std::make_unique<Impl>()) {
  impl_->a = std::move(a);
  impl_->silent = std::move(silent);
  impl_->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_in sin{};
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(sin);
  if (impl_->fd < 0 || bind(impl_->fd, reinterpret_cast<sockaddr*>(&sin), sizeof(sin)) != 0 ||
      getsockname(impl_->fd, reinterpret_cast<sockaddr*>(&sin), &len) != 0) {
    return;  // port() stays 0
  }
  port_ = ntohs(sin.sin_port);
  impl_->thread = std::thread([impl = impl_.get()] { impl->Serve(); });
}

TestDnsServer::~TestDnsServer() {
  impl_->stop = true;
  if (impl_->thread.joinable()) impl_->thread.join();
  if (impl_->fd >= 0) close(impl_->fd);
}

int TestDnsServer::queries() const { return impl_->queries; }

}  // namespace parallax::probe::testing
