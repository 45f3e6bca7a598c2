#include "probe/checks/icmp_echo_check.h"

#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/ip/icmp.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <cstring>

#include "probe/checks/icmp_packet.h"
#include "probe/checks/net_util.h"

namespace parallax::probe {
namespace {

using namespace icmp;

std::atomic<uint32_t> g_counter{0};

// The text for a socket error (ping sockets report ICMP errors this way).
std::string ErrnoText(const boost::system::error_code& ec) {
  switch (ec.value()) {
    case EHOSTUNREACH:
      return "host unreachable";
    case ENETUNREACH:
      return "network unreachable";
    case EACCES:
    case EPERM:
      return "no permission";
    default:
      return ec.message();
  }
}

// Opens an ICMP socket of `type` (SOCK_DGRAM: ping socket, SOCK_RAW), or -1.
int OpenIcmpSocket(bool v6, int type, int* error) {
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, type | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
  if (fd < 0) *error = errno;
  return fd;
}

}  // namespace

std::shared_ptr<IcmpEchoCheck> IcmpEchoCheck::Create(boost::asio::io_context& io,
                                                     boost::asio::ip::address target,
                                                     IcmpSocketKind kind,
                                                     std::shared_ptr<IcmpReceiver> receiver) {
  return std::shared_ptr<IcmpEchoCheck>(new IcmpEchoCheck(io, target, kind, std::move(receiver)));
}

IcmpEchoCheck::IcmpEchoCheck(boost::asio::io_context& io, boost::asio::ip::address target,
                             IcmpSocketKind kind, std::shared_ptr<IcmpReceiver> receiver)
    : io_(io), target_(target), kind_(kind), socket_(io), receiver_(std::move(receiver)) {
  if (target_.is_v6() && target_.to_v6().is_v4_mapped()) {
    target_ = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, target_.to_v6());
  }
  uint32_t n = g_counter.fetch_add(1);
  id_ = static_cast<uint16_t>((static_cast<uint32_t>(::getpid()) * 2654435761u) ^ (n >> 16));
  seq_ = static_cast<uint16_t>(n);
}

bool IcmpEchoCheck::Open() {
  bool v6 = target_.is_v6();
  int error = 0;
  int fd = -1;
  if (kind_ != IcmpSocketKind::kRaw) {
    fd = OpenIcmpSocket(v6, SOCK_DGRAM, &error);
    ping_socket_ = fd >= 0;
  }
  if (fd < 0 && kind_ != IcmpSocketKind::kPing) fd = OpenIcmpSocket(v6, SOCK_RAW, &error);
  if (fd < 0) {
    result_.error = (error == EACCES || error == EPERM || error == EPROTONOSUPPORT)
                        ? "no permission"
                        : std::string("cannot open an ICMP socket: ") + std::strerror(error);
    return false;
  }
  int on = 1;
  if (ping_socket_) {
    // ICMP errors about our request then fail the receive (EHOSTUNREACH, ...).
    if (v6) {
      ::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &on, sizeof(on));
    } else {
      ::setsockopt(fd, IPPROTO_IP, IP_RECVERR, &on, sizeof(on));
    }
  } else if (v6) {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    ICMP6_FILTER_SETPASS(kEchoReplyV6, &filter);
    ICMP6_FILTER_SETPASS(kUnreachableV6, &filter);
    ICMP6_FILTER_SETPASS(kTimeExceededV6, &filter);
    ::setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
  } else {
    icmp_filter filter;  // a raw socket sees all ICMP of the host: only these types
    filter.data = ~((1u << kEchoReplyV4) | (1u << kUnreachableV4) | (1u << kTimeExceededV4));
    ::setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
  }
  result_.used = ping_socket_ ? IcmpSocketKind::kPing : IcmpSocketKind::kRaw;
  boost::system::error_code ec;
  socket_.assign(boost::asio::generic::raw_protocol(v6 ? AF_INET6 : AF_INET,
                                                    v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP}),
                 fd, ec);
  if (ec) {
    ::close(fd);
    result_.error = "cannot use the ICMP socket: " + ec.message();
    return false;
  }
  return true;
}

bool IcmpEchoCheck::StartShared() {
  if (!receiver_ || kind_ != IcmpSocketKind::kAuto || !receiver_->shared(target_.is_v6())) {
    return false;
  }
  id_ = receiver_->echo_id();
  seq_ = receiver_->NextEchoSeq(target_);
  IcmpFlowKey key = IcmpFlowKey::Echo(target_, id_, seq_);
  std::weak_ptr<IcmpEchoCheck> weak = shared_from_this();
  bool v6 = target_.is_v6();
  if (!receiver_->Register(key, [weak, v6](const IcmpEvent& e) {
        auto self = weak.lock();
        if (!self || self->finished_) return;
        if (e.kind == IcmpEvent::Kind::kEchoReply) {
          self->result_.rtt_us = ElapsedUs(self->sent_at_, Clock::now());
          self->Complete(true, "");
        } else {
          self->Complete(false, EchoErrorText(v6, e.type, e.code));
        }
      })) {
    return false;
  }
  flow_ = key;
  result_.used = IcmpSocketKind::kShared;
  result_.attempted = true;
  sent_at_ = Clock::now();
  int error = receiver_->SendEcho(target_, seq_);
  if (error != 0) {
    Complete(false, ErrnoText(boost::system::error_code(error, boost::system::system_category())));
  }
  return true;
}

void IcmpEchoCheck::Start(Done done) {
  done_ = std::move(done);
  if (StartShared()) return;
  if (!Open()) {
    Complete(false, result_.error);
    return;
  }
  bool v6 = target_.is_v6();
  uint8_t packet[kIcmpHeader + sizeof(kEchoPayload) - 1] = {};
  packet[0] = v6 ? kEchoRequestV6 : kEchoRequestV4;
  packet[4] = static_cast<uint8_t>(id_ >> 8);
  packet[5] = static_cast<uint8_t>(id_);
  packet[6] = static_cast<uint8_t>(seq_ >> 8);
  packet[7] = static_cast<uint8_t>(seq_);
  std::memcpy(packet + kIcmpHeader, kEchoPayload, sizeof(kEchoPayload) - 1);
  if (!v6) {  // the kernel computes ICMPv6 checksums itself
    uint16_t sum = InternetChecksum(packet, sizeof(packet));
    packet[2] = static_cast<uint8_t>(sum >> 8);
    packet[3] = static_cast<uint8_t>(sum);
  }
  boost::asio::generic::raw_protocol::endpoint to(boost::asio::ip::icmp::endpoint(target_, 0));
  result_.attempted = true;
  sent_at_ = Clock::now();
  boost::system::error_code ec;
  socket_.send_to(boost::asio::buffer(packet, sizeof(packet)), to, 0, ec);
  if (ec) {
    Complete(false, ErrnoText(ec));
    return;
  }
  ReceiveMore();
}

void IcmpEchoCheck::Cancel() {
  if (finished_) return;
  Complete(false, "timeout");
}

void IcmpEchoCheck::ReceiveMore() {
  socket_.async_receive_from(boost::asio::buffer(buffer_), sender_,
                             [self = shared_from_this()](const boost::system::error_code& ec,
                                                         size_t n) { self->OnReceive(ec, n); });
}

void IcmpEchoCheck::OnReceive(const boost::system::error_code& ec, size_t n) {
  if (finished_) return;
  if (ec) {
    Complete(false, ErrnoText(ec));
    return;
  }
  if (!HandlePacket(std::string_view(buffer_.data(), n))) ReceiveMore();
}

bool IcmpEchoCheck::HandlePacket(std::string_view p) {
  bool v6 = target_.is_v6();
  IcmpEchoMatch match{v6, !v6 && !ping_socket_, !ping_socket_, id_, seq_};
  IcmpPacketVerdict verdict = ParseIcmpPacket(p, match);
  switch (verdict.kind) {
    case IcmpPacketVerdict::Kind::kIgnore:
      return false;
    case IcmpPacketVerdict::Kind::kError:
      Complete(false, std::move(verdict.error));
      return true;
    case IcmpPacketVerdict::Kind::kReply:
      break;
  }
  if (!ping_socket_) {  // ping sockets only deliver replies to their own id
    auto from = sender_.data();
    bool from_target = v6 ? (from->sa_family == AF_INET6 &&
                             std::memcmp(&reinterpret_cast<const sockaddr_in6*>(from)->sin6_addr,
                                         target_.to_v6().to_bytes().data(), 16) == 0)
                          : (from->sa_family == AF_INET &&
                             std::memcmp(&reinterpret_cast<const sockaddr_in*>(from)->sin_addr,
                                         target_.to_v4().to_bytes().data(), 4) == 0);
    if (!from_target) return false;
  }
  result_.rtt_us = ElapsedUs(sent_at_, Clock::now());
  Complete(true, "");
  return true;
}

void IcmpEchoCheck::Complete(bool reply, std::string error) {
  finished_ = true;
  result_.reply = reply;
  result_.error = std::move(error);
  if (flow_) {
    receiver_->Unregister(*flow_);
    flow_.reset();
  }
  boost::system::error_code ignored;
  socket_.close(ignored);
  boost::asio::post(io_, [self = shared_from_this()]() {
    Done done = std::move(self->done_);
    if (done) done();
  });
}

void IcmpEchoCheck::FillLiveness(v1::Liveness* liveness) const {
  liveness->set_icmp_attempted(result_.attempted);
  liveness->set_icmp_reply(result_.reply);
  liveness->set_icmp_rtt_us(result_.rtt_us);
  liveness->set_icmp_error(result_.error);
}

}  // namespace parallax::probe
