#include "probe/checks/tcp_connect_check.h"

#include <boost/asio/post.hpp>

#include "probe/checks/icmp_error.h"
#include "probe/checks/net_util.h"
#include "probe/checks/outcome_mapping.h"

namespace parallax::probe {

using boost::asio::ip::tcp;

std::shared_ptr<TcpConnectCheck> TcpConnectCheck::Create(boost::asio::io_context& io,
                                                         tcp::endpoint endpoint,
                                                         std::shared_ptr<IcmpReceiver> receiver) {
  return std::shared_ptr<TcpConnectCheck>(new TcpConnectCheck(io, endpoint, std::move(receiver)));
}

TcpConnectCheck::TcpConnectCheck(boost::asio::io_context& io, tcp::endpoint endpoint,
                                 std::shared_ptr<IcmpReceiver> receiver)
    : io_(io), endpoint_(endpoint), socket_(io), icmp_watch_(std::move(receiver)) {
  result_.set_port(endpoint.port());
}

void TcpConnectCheck::Start(Done done) {
  done_ = std::move(done);
  start_ = std::chrono::steady_clock::now();
  icmp_watch_.BeforeConnect(socket_, endpoint_.protocol());
  socket_.async_connect(
      endpoint_, [self = shared_from_this()](const boost::system::error_code& ec) {
        if (self->finished_) return;
        if (ec) {
          MappedError m = MapError(Phase::kConnect, ec);
          if (auto icmp = self->icmp_watch_.Take(self->socket_, self->endpoint_.address())) {
            *self->result_.mutable_icmp_error() = std::move(*icmp);
          }
          self->Complete(m.outcome, m.error_number, std::move(m.detail));
          return;
        }
        self->result_.set_connect_us(ElapsedUs(self->start_, std::chrono::steady_clock::now()));
        self->Complete(v1::OUTCOME_OK, 0, "");
      });
  icmp_watch_.Started(socket_, endpoint_);
}

void TcpConnectCheck::Cancel() {
  if (finished_) return;
  MappedError m = MapDeadline(Phase::kConnect);
  Complete(m.outcome, m.error_number, std::move(m.detail));
}

void TcpConnectCheck::Complete(v1::Outcome outcome, int error_number, std::string detail) {
  finished_ = true;
  icmp_watch_.Stop();
  result_.set_outcome(outcome);
  error_number_ = error_number;
  detail_ = std::move(detail);
  CloseGracefully(socket_);
  boost::asio::post(io_, [self = shared_from_this()]() {
    Done done = std::move(self->done_);
    if (done) done();
  });
}

}  // namespace parallax::probe
