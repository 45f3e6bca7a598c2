#include "probe/checks/icmp_receiver.h"

#include <linux/icmp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/ip/icmp.hpp>
#include <cerrno>
#include <cstring>

#include "common/log.h"
#include "probe/checks/icmp_error.h"
#include "probe/checks/icmp_packet.h"

namespace parallax::probe {
namespace {

namespace ip = boost::asio::ip;

using namespace icmp;
// Packets read per wake-up (then the loop yields to other handlers), and
// per Drain() call.
constexpr int kReadsPerWake = 256;
constexpr int kDrainMax = 4096;
constexpr int kReceiveBuffer = 4 << 20;

std::atomic<bool> g_logged{false};

ip::address FromSockaddr(const sockaddr_storage& ss) {
  if (ss.ss_family == AF_INET) {
    sockaddr_in sin;
    std::memcpy(&sin, &ss, sizeof(sin));
    return ip::address_v4(ntohl(sin.sin_addr.s_addr));
  }
  if (ss.ss_family == AF_INET6) {
    sockaddr_in6 sin6;
    std::memcpy(&sin6, &ss, sizeof(sin6));
    ip::address_v6::bytes_type b;
    std::memcpy(b.data(), &sin6.sin6_addr, 16);
    return ip::address_v6(b);
  }
  return ip::address();
}

ip::address Unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  }
  return a;
}

}  // namespace

std::shared_ptr<IcmpReceiver> IcmpReceiver::Open(boost::asio::io_context& io, bool log) {
  std::shared_ptr<IcmpReceiver> r(new IcmpReceiver(io));
  int e4 = r->OpenFamily(r->v4_, false);
  int e6 = r->OpenFamily(r->v6_, true);
  auto why = [](int e) {
    return (e == EPERM || e == EACCES) ? std::string("no CAP_NET_RAW") : std::strerror(e);
  };
  if (e4 == 0 && e6 == 0) {
    r->mode_ = "shared raw ICMP sockets (IPv4 and IPv6)";
  } else if (e4 == 0) {
    r->mode_ = "shared raw ICMP socket for IPv4; IPv6: per-check ping sockets and IP_RECVERR (" +
               why(e6) + ")";
  } else if (e6 == 0) {
    r->mode_ = "shared raw ICMPv6 socket for IPv6; IPv4: per-check ping sockets and IP_RECVERR (" +
               why(e4) + ")";
  } else {
    r->mode_ = "per-check ping sockets and IP_RECVERR (raw ICMP sockets: " + why(e4) + ")";
  }
  if (log && !g_logged.exchange(true)) {
    Logf(LogLevel::kInfo, "ICMP evidence: %s", r->mode_.c_str());
  }
  return r;
}

IcmpReceiver::IcmpReceiver(boost::asio::io_context& io) : v4_(io), v6_(io) {
  static std::atomic<uint32_t> instances{0};
  echo_id_ = static_cast<uint16_t>((static_cast<uint32_t>(::getpid()) * 2654435761u) >> 16) ^
             static_cast<uint16_t>(instances.fetch_add(1) * 40503u);
  next_seq_ = static_cast<uint16_t>(echo_id_ * 7u);
}

IcmpReceiver::~IcmpReceiver() { Close(); }

int IcmpReceiver::OpenFamily(Family& f, bool v6) {
  f.v6 = v6;
  int fd = ::socket(v6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP});
  if (fd < 0) return errno;
  if (v6) {
    icmp6_filter filter;
    ICMP6_FILTER_SETBLOCKALL(&filter);
    for (int t : {ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED, ICMP6_PARAM_PROB,
                  ICMP6_ECHO_REPLY}) {
      ICMP6_FILTER_SETPASS(t, &filter);
    }
    ::setsockopt(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof(filter));
  } else {
    icmp_filter filter;  // a raw socket sees all ICMP of the host: only these types
    filter.data =
        ~((1u << ICMP_ECHOREPLY) | (1u << ICMP_DEST_UNREACH) | (1u << ICMP_SOURCE_QUENCH) |
          (1u << ICMP_TIME_EXCEEDED) | (1u << ICMP_PARAMETERPROB));
    ::setsockopt(fd, SOL_RAW, ICMP_FILTER, &filter, sizeof(filter));
  }
  // Bursts (thousands of replies at once) must not overflow the queue.
  int size = kReceiveBuffer;
  if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) != 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
  }
  boost::system::error_code ec;
  f.socket.assign(boost::asio::generic::raw_protocol(v6 ? AF_INET6 : AF_INET,
                                                     v6 ? int{IPPROTO_ICMPV6} : int{IPPROTO_ICMP}),
                  fd, ec);
  if (ec) {
    ::close(fd);
    return ec.value();
  }
  Wait(f);
  return 0;
}

bool IcmpReceiver::shared(bool v6) const { return (v6 ? v6_ : v4_).socket.is_open(); }

void IcmpReceiver::Wait(Family& f) {
  if (f.waiting || !f.socket.is_open()) return;
  f.waiting = true;
  f.socket.async_wait(boost::asio::socket_base::wait_read,
                      [self = shared_from_this(), &f](const boost::system::error_code& ec) {
                        f.waiting = false;
                        if (ec || !f.socket.is_open()) return;
                        self->ReadSome(f, kReadsPerWake);
                        self->Wait(f);
                      });
}

bool IcmpReceiver::ReadSome(Family& f, int max) {
  std::array<char, 1500> buffer;
  for (int i = 0; i < max; ++i) {
    if (!f.socket.is_open()) return false;
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    ssize_t n = ::recvfrom(f.socket.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++stats_.read_errors;
      return false;
    }
    table_.Dispatch(std::string_view(buffer.data(), static_cast<size_t>(n)), f.v6, !f.v6,
                    FromSockaddr(from));
    stats_.match = table_.stats();
  }
  return true;
}

void IcmpReceiver::Drain() {
  for (Family* f : {&v4_, &v6_}) {
    if (f->socket.is_open()) ReadSome(*f, kDrainMax);
  }
}

bool IcmpReceiver::Register(const IcmpFlowKey& flow, Callback callback) {
  return table_.Register(flow, std::move(callback));
}

void IcmpReceiver::Unregister(const IcmpFlowKey& flow) { table_.Unregister(flow); }

uint16_t IcmpReceiver::NextEchoSeq(const ip::address& target) {
  // At most 65,536 pings can be in flight; the loop ends at the first free seq.
  for (int i = 0; i < 65536; ++i) {
    uint16_t seq = next_seq_++;
    if (!table_.Contains(IcmpFlowKey::Echo(target, echo_id_, seq))) return seq;
  }
  return next_seq_++;
}

int IcmpReceiver::SendEcho(const ip::address& raw_target, uint16_t seq) {
  ip::address target = Unmapped(raw_target);
  bool v6 = target.is_v6();
  Family& f = v6 ? v6_ : v4_;
  if (!f.socket.is_open()) return EBADF;
  uint8_t packet[8 + sizeof(kEchoPayload) - 1] = {};
  packet[0] = v6 ? ICMP6_ECHO_REQUEST : ICMP_ECHO;
  packet[4] = static_cast<uint8_t>(echo_id_ >> 8);
  packet[5] = static_cast<uint8_t>(echo_id_);
  packet[6] = static_cast<uint8_t>(seq >> 8);
  packet[7] = static_cast<uint8_t>(seq);
  std::memcpy(packet + 8, kEchoPayload, sizeof(kEchoPayload) - 1);
  if (!v6) {  // the kernel computes ICMPv6 checksums itself
    uint16_t sum = InternetChecksum(packet, sizeof(packet));
    packet[2] = static_cast<uint8_t>(sum >> 8);
    packet[3] = static_cast<uint8_t>(sum);
  }
  boost::asio::generic::raw_protocol::endpoint to(ip::icmp::endpoint(target, 0));
  boost::system::error_code ec;
  f.socket.send_to(boost::asio::buffer(packet, sizeof(packet)), to, 0, ec);
  if (ec) return ec.value();
  ++stats_.echo_sent;
  return 0;
}

void IcmpReceiver::Close() {
  boost::system::error_code ignored;
  v4_.socket.close(ignored);
  v6_.socket.close(ignored);
}

void ConnectIcmpWatch::BeforeConnect(ip::tcp::socket& socket, const ip::tcp& protocol) {
  EnableIcmpErrors(socket, protocol);
}

void ConnectIcmpWatch::Started(ip::tcp::socket& socket, const ip::tcp::endpoint& remote) {
  if (!receiver_ || flow_) return;
  ip::address target = Unmapped(remote.address());
  if (!receiver_->shared(target.is_v6())) return;
  boost::system::error_code ec;
  ip::tcp::endpoint local = socket.local_endpoint(ec);
  if (ec || local.port() == 0) return;  // failed already: the error queue has it
  local_ = local;
  IcmpFlowKey key =
      IcmpFlowKey::Transport(kProtoTcp, local.address(), local.port(), target, remote.port());
  auto event = std::make_shared<std::optional<IcmpEvent>>();
  if (!receiver_->Register(key, [event](const IcmpEvent& e) {
        if (!*event) *event = e;  // the first error about the flow
      })) {
    return;
  }
  flow_ = key;
  event_ = std::move(event);
}

std::optional<v1::IcmpError> ConnectIcmpWatch::Take(ip::tcp::socket& socket,
                                                    const ip::address& target) {
  if (flow_) {
    receiver_->Drain();
    if (*event_) {
      const IcmpEvent& e = **event_;
      Stop();
      // Drop what the socket's own error queue holds about the same packet.
      TakeIcmpError(socket, target);
      return MakeIcmpError(e.family, e.type, e.code, e.sender, target);
    }
  }
  Stop();
  return TakeIcmpError(socket, target);
}

void ConnectIcmpWatch::Stop() {
  if (flow_ && receiver_) receiver_->Unregister(*flow_);
  flow_.reset();
}

}  // namespace parallax::probe
