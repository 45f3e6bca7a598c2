#include "probe/checks/ssh_check.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "probe/checks/icmp_error.h"
#include "probe/checks/net_util.h"

namespace parallax::probe {

using boost::asio::ip::tcp;

std::shared_ptr<SshCheck> SshCheck::Create(boost::asio::io_context& io, SshCheckOptions options) {
  return std::shared_ptr<SshCheck>(new SshCheck(io, std::move(options)));
}

SshCheck::SshCheck(boost::asio::io_context& io, SshCheckOptions options)
    : io_(io),
      options_(std::move(options)),
      resolver_(io),
      socket_(io),
      icmp_watch_(options_.icmp_receiver),
      parser_(options_.identification) {}

void SshCheck::Start(Done done) {
  done_ = std::move(done);
  result_.set_started_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::system_clock::now().time_since_epoch())
                                  .count());
  if (options_.host.empty()) {
    Complete(v1::OUTCOME_DNS_ERROR, 0, "empty host name");
    return;
  }
  if (auto ip = ParseIpLiteral(options_.host)) {
    Connect(tcp::endpoint(*ip, options_.port));
    return;
  }
  phase_ = Phase::kResolve;
  resolver_.async_resolve(options_.host, std::to_string(options_.port),
                          tcp::resolver::numeric_service | tcp::resolver::address_configured,
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      const tcp::resolver::results_type& results) {
                            self->OnResolved(ec, results);
                          });
}

void SshCheck::Cancel() {
  if (finished_) return;
  if (kex_) {
    kex_->Abort("the check's deadline passed during the key exchange");
    EndKex();
    Complete(v1::OUTCOME_OK, 0, "");  // no more waiting for our DISCONNECT to be written
  } else if (phase_ == Phase::kBanner) {
    EndBanner(MapDeadline(phase_));
  } else {
    MappedError m = MapDeadline(phase_);
    Complete(m.outcome, m.error_number, std::move(m.detail));
  }
}

void SshCheck::OnResolved(const boost::system::error_code& ec,
                          const tcp::resolver::results_type& results) {
  if (finished_) return;
  if (ec) {
    MappedError m = MapError(Phase::kResolve, ec);
    Complete(m.outcome, m.error_number, "resolve " + options_.host + ": " + ec.message());
    return;
  }
  if (results.empty()) {
    Complete(v1::OUTCOME_DNS_ERROR, 0, "resolve " + options_.host + ": no addresses");
    return;
  }
  const tcp::endpoint endpoint = results.begin()->endpoint();
  if (options_.address_policy) {
    std::string why = options_.address_policy(endpoint.address().to_string());
    if (!why.empty()) {
      // The probe's own policy, never the target's fault: no packet is sent.
      Complete(v1::OUTCOME_PROBE_ERROR, 0,
               "resolve " + options_.host + ": " + endpoint.address().to_string() +
                   " refused by this probe's target policy: " + why);
      return;
    }
  }
  Connect(endpoint);
}

void SshCheck::Connect(const tcp::endpoint& endpoint) {
  phase_ = Phase::kConnect;
  address_ = endpoint.address();
  remote_ = endpoint;
  result_.set_address(EndpointText(endpoint));
  connect_start_ = Clock::now();
  icmp_watch_.BeforeConnect(socket_, endpoint.protocol());
  if (options_.source_port != 0) {
    boost::system::error_code ec;
    if (!socket_.is_open()) socket_.open(endpoint.protocol(), ec);
    if (!ec) socket_.set_option(tcp::socket::reuse_address(true), ec);
    if (!ec) socket_.bind(tcp::endpoint(endpoint.address(), options_.source_port), ec);
    if (ec) {
      Complete(v1::OUTCOME_PROBE_ERROR, ec.value(),
               "bind source port " + std::to_string(options_.source_port) + ": " + ec.message());
      return;
    }
  }
  socket_.async_connect(endpoint, [self = shared_from_this()](const boost::system::error_code& ec) {
    self->OnConnected(ec);
  });
  icmp_watch_.Started(socket_, endpoint);
}

void SshCheck::OnConnected(const boost::system::error_code& ec) {
  if (finished_) return;
  if (ec) {
    MappedError m = MapError(Phase::kConnect, ec);
    if (auto icmp = icmp_watch_.Take(socket_, *address_)) {
      m.detail += " (ICMP " + icmp->description() + " from " +
                  (icmp->sender().empty() ? std::string("an unknown sender") : icmp->sender()) +
                  ")";
      *result_.mutable_liveness()->mutable_ssh_icmp_error() = std::move(*icmp);
    }
    Complete(m.outcome, m.error_number, std::move(m.detail));
    return;
  }
  icmp_watch_.Stop();
  connected_at_ = Clock::now();
  result_.set_connect_us(ElapsedUs(connect_start_, connected_at_));
  phase_ = Phase::kBanner;
  // The local endpoint was fixed by connect() (the ICMP watch read it then);
  // the remote one is where we connected.
  boost::system::error_code local_ec;
  tcp::endpoint local =
      icmp_watch_.local() ? *icmp_watch_.local() : socket_.local_endpoint(local_ec);
  const tcp::endpoint& remote = remote_;
  if (!local_ec) result_.set_source_address(local.address().to_string());
  if (!local_ec && local == remote) {
    // Nothing listens on this port and the kernel picked the same port as
    // our source (simultaneous open with ourselves): never the target's doing.
    Complete(v1::OUTCOME_PROBE_ERROR, 0,
             "TCP self-connect: the probe's socket " + EndpointText(local) +
                 " connected to itself (nothing listens on the port; it lies in the probe's "
                 "ephemeral port range)");
    return;
  }
  if (!options_.identification.empty()) {
    // A failed write shows up on the read side as well (reset / EOF).
    Send(options_.identification + "\r\n");
  }
  ReadMore();
}

void SshCheck::ReadMore() {
  socket_.async_read_some(boost::asio::buffer(buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnRead(ec, n); });
}

void SshCheck::OnRead(const boost::system::error_code& ec, size_t n) {
  if (finished_) return;
  received_ += n;
  if (n > 0) {
    switch (parser_.Feed(std::string_view(buffer_.data(), n))) {
      case BannerParser::State::kIdentified:
        result_.set_banner_us(ElapsedUs(connected_at_, Clock::now()));
        result_.set_identification(parser_.identification());
        if (!MaybeStartKex()) Complete(v1::OUTCOME_OK, 0, "");
        return;
      case BannerParser::State::kNotSsh:
        Complete(v1::OUTCOME_NOT_SSH, 0, parser_.not_ssh_detail());
        return;
      case BannerParser::State::kNeedMore:
        break;
    }
  }
  if (ec) {
    EndBanner(MapError(Phase::kBanner, ec));
    return;
  }
  ReadMore();
}

bool SshCheck::MaybeStartKex() {
  bool changed = !options_.hostkey_known_identification.empty() &&
                 options_.hostkey_known_identification != parser_.identification();
  if (!options_.hostkey && !changed) return false;
  if (options_.identification.empty()) return false;  // no line of ours: no exchange hash
  kex_start_ = Clock::now();
  kex_ = std::make_unique<SshKexClient>(
      SshKexClient::Options{options_.identification, parser_.raw_identification(), std::string()});
  Send(kex_->Start());
  if (!kex_->done()) Send(kex_->Feed(parser_.rest()));
  if (kex_->done()) {
    EndKex();
    return true;
  }
  socket_.async_read_some(boost::asio::buffer(buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnKexRead(ec, n); });
  return true;
}

void SshCheck::OnKexRead(const boost::system::error_code& ec, size_t n) {
  if (finished_ || complete_after_write_) return;
  if (n > 0) Send(kex_->Feed(std::string_view(buffer_.data(), n)));
  if (!kex_->done() && ec) {
    kex_->Abort(ec == boost::asio::error::eof
                    ? "the server closed the connection during the key exchange"
                    : "connection error during the key exchange: " + ec.message());
  }
  if (kex_->done()) {
    EndKex();
    return;
  }
  socket_.async_read_some(boost::asio::buffer(buffer_),
                          [self = shared_from_this()](const boost::system::error_code& ec,
                                                      size_t n) { self->OnKexRead(ec, n); });
}

void SshCheck::EndKex() {
  if (finished_ || complete_after_write_) return;
  *result_.mutable_host_key() = kex_->result();
  result_.mutable_host_key()->set_exchange_us(ElapsedUs(kex_start_, Clock::now()));
  // Let our DISCONNECT reach the server before closing (the deadline still
  // bounds it: Cancel() completes regardless).
  if (!writing_.empty() && !write_failed_) {
    complete_after_write_ = true;
    return;
  }
  Complete(v1::OUTCOME_OK, 0, "");
}

void SshCheck::Send(std::string bytes) {
  if (bytes.empty() || write_failed_) return;
  write_queue_ += bytes;
  if (writing_.empty()) WriteNext();
}

void SshCheck::WriteNext() {
  writing_.swap(write_queue_);
  write_queue_.clear();
  if (writing_.empty()) {
    if (complete_after_write_) Complete(v1::OUTCOME_OK, 0, "");
    return;
  }
  boost::asio::async_write(
      socket_, boost::asio::buffer(writing_),
      [self = shared_from_this()](const boost::system::error_code& ec, size_t) {
        self->writing_.clear();
        if (self->finished_) return;
        if (ec) {
          self->write_failed_ = true;
          self->write_queue_.clear();
        }
        self->WriteNext();
      });
}

void SshCheck::EndBanner(MappedError m) {
  parser_.Finish();  // keeps a partial last line; a lone binary byte makes it NotSsh
  if (parser_.state() == BannerParser::State::kNotSsh) {
    Complete(v1::OUTCOME_NOT_SSH, 0, parser_.not_ssh_detail());
    return;
  }
  if (!parser_.pre_banner().empty()) {
    m.detail += " (the server sent " + std::to_string(parser_.pre_banner().size()) +
                " other line(s), see pre_banner)";
  }
  Complete(m.outcome, m.error_number, std::move(m.detail));
}

void SshCheck::Complete(v1::Outcome outcome, int error_number, std::string detail) {
  if (finished_) return;
  finished_ = true;
  icmp_watch_.Stop();
  result_.set_outcome(outcome);
  result_.set_error_number(error_number);
  for (const auto& line : parser_.pre_banner()) result_.add_pre_banner(line);
  if (parser_.pre_banner_dropped() > 0) {
    if (!detail.empty()) detail += "; ";
    detail += std::to_string(parser_.pre_banner_dropped()) + " pre-banner line(s) not kept";
    result_.mutable_liveness()->set_pre_banner_dropped(parser_.pre_banner_dropped());
  }
  result_.set_detail(std::move(detail));
  boost::system::error_code ignored;
  resolver_.cancel();
  CloseGracefully(socket_);
  socket_.close(ignored);
  boost::asio::post(io_, [self = shared_from_this()]() {
    Done done = std::move(self->done_);
    if (done) done();
  });
}

}  // namespace parallax::probe
