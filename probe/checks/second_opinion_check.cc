#include "probe/checks/second_opinion_check.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cstdint>

#include "probe/checks/net_util.h"
#include "probe/checks/printable.h"

namespace parallax::probe {

using boost::asio::ip::tcp;

namespace {

void Put16(std::string* s, size_t v) {
  s->push_back(static_cast<char>((v >> 8) & 0xFF));
  s->push_back(static_cast<char>(v & 0xFF));
}

bool IsTlsRecord(std::string_view b) {
  return b.size() >= 2 && static_cast<uint8_t>(b[0]) >= 0x14 &&
         static_cast<uint8_t>(b[0]) <= 0x17 && b[1] == 0x03;
}

bool IsHttpStatus(std::string_view b) {
  return b.size() >= 6 && b.substr(0, 5) == "HTTP/" && b[5] >= '0' && b[5] <= '9';
}

}  // namespace

std::string TlsClientHello() {
  std::string body;
  body += "\x03\x03";  // client_version TLS 1.2
  for (int i = 0; i < 32; ++i) body.push_back(static_cast<char>(0x5A ^ (i * 37)));  // random
  body.push_back('\0');                                                             // no session id
  // ECDHE-RSA/ECDSA-AES-GCM, RSA-AES-GCM, RSA-AES-CBC: something every server shares.
  const uint16_t suites[] = {0xC02F, 0xC030, 0xC02B, 0xC02C, 0x009C, 0x009D, 0x002F, 0x0035};
  Put16(&body, sizeof(suites));
  for (uint16_t s : suites) Put16(&body, s);
  body += std::string("\x01\x00", 2);  // compression: null only
  std::string ext;
  ext += std::string("\x00\x0a\x00\x06\x00\x04\x00\x1d\x00\x17", 10);  // groups x25519, P-256
  ext += std::string("\x00\x0b\x00\x02\x01\x00", 6);                   // point formats
  ext += std::string("\x00\x0d\x00\x0a\x00\x08\x04\x03\x08\x04\x04\x01\x05\x01", 14);  // sig algs
  ext += std::string("\xff\x01\x00\x01\x00", 5);  // renegotiation_info
  Put16(&body, ext.size());
  body += ext;
  std::string handshake;
  handshake.push_back('\x01');  // ClientHello
  handshake.push_back('\0');
  Put16(&handshake, body.size());
  handshake += body;
  std::string record = "\x16\x03\x01";
  Put16(&record, handshake.size());
  return record + handshake;
}

std::shared_ptr<SecondOpinionCheck> SecondOpinionCheck::Create(boost::asio::io_context& io,
                                                               tcp::endpoint endpoint,
                                                               std::string host,
                                                               std::chrono::milliseconds tls_wait) {
  return std::shared_ptr<SecondOpinionCheck>(
      new SecondOpinionCheck(io, endpoint, std::move(host), tls_wait));
}

SecondOpinionCheck::SecondOpinionCheck(boost::asio::io_context& io, tcp::endpoint endpoint,
                                       std::string host, std::chrono::milliseconds tls_wait)
    : io_(io),
      endpoint_(endpoint),
      host_(std::move(host)),
      tls_wait_(tls_wait),
      socket_(io),
      timer_(io) {}

void SecondOpinionCheck::Start(Done done) {
  done_ = std::move(done);
  Attempt(/*http=*/false);
}

void SecondOpinionCheck::Attempt(bool http) {
  http_phase_ = http;
  have_ = 0;
  boost::system::error_code ignored;
  socket_.close(ignored);
  request_ = http ? "HEAD / HTTP/1.0\r\nHost: " + host_ + "\r\nUser-Agent: parallax-probe\r\n\r\n"
                  : TlsClientHello();
  if (!http) {
    timer_.expires_after(tls_wait_);
    timer_.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->finished_ || self->http_phase_) return;
      self->tls_note_ = "no answer to a TLS ClientHello";
      self->Attempt(/*http=*/true);
    });
  }
  socket_.async_connect(
      endpoint_, [self = shared_from_this(), http](const boost::system::error_code& ec) {
        if (self->finished_ || self->http_phase_ != http) return;
        if (ec == boost::asio::error::connection_reset) {  // accepted, then reset at once
          self->OnRead(http, ec, 0);
          return;
        }
        if (ec) {
          self->Complete(What::kUnknown,
                         std::string(http ? "HTTP" : "TLS") + " connect failed: " + ec.message());
          return;
        }
        boost::asio::async_write(self->socket_, boost::asio::buffer(self->request_),
                                 [](const boost::system::error_code&, size_t) {});
        self->socket_.async_read_some(boost::asio::buffer(self->buffer_),
                                      [self, http](const boost::system::error_code& rec, size_t n) {
                                        self->OnRead(http, rec, n);
                                      });
      });
}

void SecondOpinionCheck::OnRead(bool http, const boost::system::error_code& ec, size_t n) {
  if (finished_ || http_phase_ != http) return;
  have_ += n;
  std::string_view got(buffer_.data(), have_);
  bool more_possible = !ec && have_ < 6 && have_ < buffer_.size();
  if (!http) {
    if (IsTlsRecord(got)) {
      Complete(What::kTls, "speaks TLS (answered a TLS ClientHello with \"" +
                               Printable(got.substr(0, 16), 64) + "\")");
      return;
    }
    if (more_possible && have_ < 2) {
      socket_.async_read_some(boost::asio::buffer(buffer_.data() + have_, buffer_.size() - have_),
                              [self = shared_from_this()](const boost::system::error_code& e,
                                                          size_t m) { self->OnRead(false, e, m); });
      return;
    }
    tls_note_ = have_ > 0
                    ? "answered a TLS ClientHello with \"" + Printable(got.substr(0, 16), 64) + "\""
                    : "closed on a TLS ClientHello without answering";
    if (have_ == 0 && ec == boost::asio::error::connection_reset) {
      tls_note_ = "reset on a TLS ClientHello without answering";
    }
    timer_.cancel();
    Attempt(/*http=*/true);
    return;
  }
  if (IsHttpStatus(got)) {
    size_t eol = got.find_first_of("\r\n");
    Complete(What::kHttp, "speaks HTTP (answered a HEAD request with \"" +
                              Printable(got.substr(0, eol), 64) + "\")");
    return;
  }
  if (more_possible) {
    socket_.async_read_some(boost::asio::buffer(buffer_.data() + have_, buffer_.size() - have_),
                            [self = shared_from_this()](const boost::system::error_code& e,
                                                        size_t m) { self->OnRead(true, e, m); });
    return;
  }
  Complete(What::kUnknown, tls_note_ + "; " +
                               (have_ > 0 ? "answered an HTTP request with \"" +
                                                Printable(got.substr(0, 16), 64) + "\""
                                          : "closed on an HTTP request without answering"));
}

void SecondOpinionCheck::Cancel() {
  if (finished_) return;
  std::string so_far = tls_note_.empty() ? "no answer to a TLS ClientHello" : tls_note_;
  if (http_phase_) so_far += "; no answer to an HTTP request";
  Complete(What::kUnknown, so_far + " before the deadline");
}

void SecondOpinionCheck::Complete(What what, std::string detail) {
  if (finished_) return;
  finished_ = true;
  result_.what = what;
  result_.detail = std::move(detail);
  timer_.cancel();
  CloseGracefully(socket_);
  boost::asio::post(io_, [self = shared_from_this()]() {
    Done done = std::move(self->done_);
    if (done) done();
  });
}

}  // namespace parallax::probe
