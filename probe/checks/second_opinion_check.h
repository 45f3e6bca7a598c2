// SecondOpinionCheck: what speaks on a port that closed or reset the SSH
// check's connection before sending a single line?
//
// Opens one TCP connection and sends a TLS 1.2 ClientHello; an answer whose
// first bytes are a TLS record header (content type 0x14..0x17, version
// major 3) means kTls. Otherwise (EOF, reset, silence until half the
// deadline, other bytes) it opens a second connection and sends
// "HEAD / HTTP/1.0" with a Host header; an answer starting "HTTP/<digit>"
// means kHttp. Anything else is kUnknown. At most two connections, each
// closed as soon as it has answered; nothing else is sent.
//
// The caller owns the deadline (StartWithDeadline); Cancel() ends the check
// with what is known so far. The caller also owns the rate limit (the
// scheduler's RunMemory: once per target per 5 minutes).
//
// result() is valid once `done` has run: what, and a detail naming the first
// bytes of the answer (printable-escaped, bounded), e.g.
// `speaks TLS (answered a TLS ClientHello with "\x16\x03\x03...")`.
//
// Thread-safety: see check.h (io_context thread only).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "probe/checks/check.h"

namespace parallax::probe {

// The TLS 1.2 ClientHello the check sends (exposed for tests).
std::string TlsClientHello();

class SecondOpinionCheck : public Check, public std::enable_shared_from_this<SecondOpinionCheck> {
 public:
  enum class What { kUnknown, kTls, kHttp };
  struct Result {
    What what = What::kUnknown;
    std::string detail;
  };

  // `host`: for the HTTP Host header (the target's host as configured).
  // `tls_wait`: how long to wait for a TLS answer before trying HTTP.
  static std::shared_ptr<SecondOpinionCheck> Create(boost::asio::io_context& io,
                                                    boost::asio::ip::tcp::endpoint endpoint,
                                                    std::string host,
                                                    std::chrono::milliseconds tls_wait);

  void Start(Done done) override;
  void Cancel() override;
  const Result& result() const { return result_; }

 private:
  SecondOpinionCheck(boost::asio::io_context& io, boost::asio::ip::tcp::endpoint endpoint,
                     std::string host, std::chrono::milliseconds tls_wait);
  void Attempt(bool http);
  void OnRead(bool http, const boost::system::error_code& ec, size_t n);
  void Complete(What what, std::string detail);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::endpoint endpoint_;
  std::string host_;
  std::chrono::milliseconds tls_wait_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  std::string request_;
  std::array<char, 64> buffer_;
  size_t have_ = 0;
  bool http_phase_ = false;
  bool finished_ = false;
  std::string tls_note_;  // what the TLS attempt saw, for the final detail
  Done done_;
  Result result_;
};

}  // namespace parallax::probe
