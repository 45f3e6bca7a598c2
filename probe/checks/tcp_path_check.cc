#include "probe/checks/tcp_path_check.h"

#include <netinet/in.h>

#include <boost/asio/post.hpp>

#include "probe/checks/icmp_error.h"
#include "probe/checks/net_util.h"

namespace parallax::probe {

using boost::asio::ip::tcp;

std::shared_ptr<TcpPathCheck> TcpPathCheck::Create(boost::asio::io_context& io,
                                                   TcpPathOptions options) {
  return std::shared_ptr<TcpPathCheck>(new TcpPathCheck(io, std::move(options)));
}

TcpPathCheck::TcpPathCheck(boost::asio::io_context& io, TcpPathOptions options)
    : io_(io),
      options_(std::move(options)),
      socket_(io),
      icmp_watch_(options_.icmp_receiver),
      timer_(io) {}

void TcpPathCheck::Start(Done done) {
  done_ = std::move(done);
  Hop();
}

void TcpPathCheck::Hop() {
  if (finished_) return;
  if (ttl_ >= options_.max_hops) {
    result_.set_ended("max hops");
    Complete();
    return;
  }
  uint32_t ttl = ++ttl_;
  boost::system::error_code ec;
  icmp_watch_.Stop();
  socket_.close(ec);
  ec.clear();
  tcp protocol = options_.endpoint.protocol();
  icmp_watch_.BeforeConnect(socket_, protocol);
  if (socket_.is_open()) socket_.set_option(tcp::socket::reuse_address(true), ec);
  int fd = socket_.native_handle();
  int value = static_cast<int>(ttl);
  if (!ec && protocol.family() == AF_INET6) {
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &value, sizeof(value)) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  } else if (!ec) {
    if (setsockopt(fd, IPPROTO_IP, IP_TTL, &value, sizeof(value)) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  }
  // The same source port for every hop: one flow (the first bind picks it).
  if (!ec) {
    tcp::endpoint local(protocol == tcp::v6()
                            ? tcp::endpoint(boost::asio::ip::address_v6::any(), source_port_)
                            : tcp::endpoint(boost::asio::ip::address_v4::any(), source_port_));
    socket_.bind(local, ec);
  }
  if (ec) {
    result_.set_ended("local error at hop " + std::to_string(ttl) + ": " + ec.message());
    Complete();
    return;
  }
  if (source_port_ == 0) {
    boost::system::error_code lec;
    source_port_ = socket_.local_endpoint(lec).port();
  }
  sent_ = Clock::now();
  timer_.expires_after(options_.hop_wait);
  timer_.async_wait([self = shared_from_this(), ttl](const boost::system::error_code& e) {
    if (e || self->finished_ || self->ttl_ != ttl) return;
    v1::TcpPathHop* hop = self->result_.add_hops();
    hop->set_ttl(ttl);
    if (++self->silent_run_ >= self->options_.max_silent) {
      uint32_t last = self->result_.last_answering_ttl();
      self->result_.set_ended("silent after hop " + std::to_string(last));
      self->Complete();
      return;
    }
    self->Hop();
  });
  socket_.async_connect(options_.endpoint,
                        [self = shared_from_this(), ttl](const boost::system::error_code& e) {
                          self->OnHop(ttl, e);
                        });
  icmp_watch_.Started(socket_, options_.endpoint);
}

void TcpPathCheck::OnHop(uint32_t ttl, const boost::system::error_code& ec) {
  if (finished_ || ttl_ != ttl || ec == boost::asio::error::operation_aborted) return;
  timer_.cancel();
  if (result_.source().empty()) {
    boost::system::error_code lec;
    tcp::endpoint local = socket_.local_endpoint(lec);
    if (!lec) result_.set_source(EndpointText(local));
  }
  v1::TcpPathHop* hop = result_.add_hops();
  hop->set_ttl(ttl);
  hop->set_rtt_us(ElapsedUs(sent_, Clock::now()));
  silent_run_ = 0;
  result_.set_last_answering_ttl(ttl);
  std::string target = options_.endpoint.address().to_string();
  if (!ec || ec == boost::asio::error::connection_refused ||
      ec == boost::asio::error::connection_reset) {
    auto icmp = ec ? icmp_watch_.Take(socket_, options_.endpoint.address()) : std::nullopt;
    if (!icmp) {
      hop->set_sender(target);
      hop->set_is_target(true);
      hop->set_answer(ec ? "reset" : "syn-ack");
      result_.set_reached(true);
      result_.set_ended("reached");
      Complete();
      return;
    }
    hop->set_sender(icmp->sender());
    hop->set_is_target(icmp->from_target());
    hop->set_answer(icmp->description());
    result_.set_ended("icmp " + icmp->description() + " from " + icmp->sender());
    Complete();
    return;
  }
  auto icmp = icmp_watch_.Take(socket_, options_.endpoint.address());
  if (icmp &&
      ((icmp->family() == 4 && icmp->type() == 11) || (icmp->family() == 6 && icmp->type() == 3))) {
    hop->set_sender(icmp->sender());
    hop->set_is_target(icmp->from_target());
    hop->set_answer("time exceeded");
    Hop();
    return;
  }
  if (icmp) {
    hop->set_sender(icmp->sender());
    hop->set_is_target(icmp->from_target());
    hop->set_answer(icmp->description());
    result_.set_ended("icmp " + icmp->description() + " from " + icmp->sender());
  } else {
    hop->set_answer(ec.message());
    result_.set_ended("local error at hop " + std::to_string(ttl) + ": " + ec.message());
  }
  Complete();
}

void TcpPathCheck::Cancel() {
  if (finished_) return;
  result_.set_ended("deadline");
  Complete();
}

void TcpPathCheck::Complete() {
  if (finished_) return;
  finished_ = true;
  icmp_watch_.Stop();
  timer_.cancel();
  if (result_.source().empty() && source_port_ != 0) {
    result_.set_source("port " + std::to_string(source_port_));
  }
  boost::system::error_code ignored;
  socket_.close(ignored);
  boost::asio::post(io_, [self = shared_from_this()]() {
    Done done = std::move(self->done_);
    if (done) done();
  });
}

}  // namespace parallax::probe
