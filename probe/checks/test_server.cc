#include "probe/checks/test_server.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <istream>

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

}  // namespace parallax::probe::testing
