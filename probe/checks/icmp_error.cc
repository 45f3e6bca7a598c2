#include "probe/checks/icmp_error.h"

#include <linux/errqueue.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cstring>

namespace parallax::probe {

namespace ip = boost::asio::ip;

std::string IcmpDescription(int family, int type, int code) {
  if (family == 4) {
    if (type == 3) {
      static const char* const kUnreach[] = {
          "network unreachable",
          "host unreachable",
          "protocol unreachable",
          "port unreachable",
          "fragmentation needed",
          "source route failed",
          "destination network unknown",
          "destination host unknown",
          "source host isolated",
          "network administratively prohibited",
          "host administratively prohibited",
          "network unreachable for type of service",
          "host unreachable for type of service",
          "communication administratively prohibited",
          "host precedence violation",
          "precedence cutoff in effect",
      };
      if (code >= 0 && code < 16) return kUnreach[code];
      return "destination unreachable (code " + std::to_string(code) + ")";
    }
    if (type == 11)
      return code == 0 ? "TTL exceeded in transit" : "fragment reassembly time exceeded";
    if (type == 12) return "parameter problem";
    if (type == 4) return "source quench";
    return "ICMP type " + std::to_string(type) + " code " + std::to_string(code);
  }
  if (type == 1) {
    static const char* const kUnreach6[] = {
        "no route to destination",
        "communication administratively prohibited",
        "beyond scope of source address",
        "address unreachable",
        "port unreachable",
        "source address failed ingress/egress policy",
        "reject route to destination",
    };
    if (code >= 0 && code < 7) return kUnreach6[code];
    return "destination unreachable (code " + std::to_string(code) + ")";
  }
  if (type == 2) return "packet too big";
  if (type == 3)
    return code == 0 ? "hop limit exceeded in transit" : "fragment reassembly time exceeded";
  if (type == 4) return "parameter problem";
  return "ICMPv6 type " + std::to_string(type) + " code " + std::to_string(code);
}

v1::IcmpError MakeIcmpError(int family, int type, int code, const ip::address& sender,
                            const ip::address& target) {
  v1::IcmpError e;
  e.set_family(family);
  e.set_type(type);
  e.set_code(code);
  e.set_sender(sender.is_unspecified() ? "" : sender.to_string());
  auto norm = [](const ip::address& a) {
    if (a.is_v6() && a.to_v6().is_v4_mapped()) {
      return ip::address(ip::make_address_v4(ip::v4_mapped, a.to_v6()));
    }
    return a;
  };
  e.set_from_target(!sender.is_unspecified() && norm(sender) == norm(target));
  e.set_description(IcmpDescription(family, type, code));
  return e;
}

void EnableIcmpErrors(ip::tcp::socket& socket, const ip::tcp& protocol) {
  boost::system::error_code ec;
  if (!socket.is_open()) socket.open(protocol, ec);
  if (ec) return;
  int one = 1;
  if (protocol.family() == AF_INET6) {
    setsockopt(socket.native_handle(), IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
    // A v4-mapped destination reports through the IPv4 path.
    setsockopt(socket.native_handle(), IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
  } else {
    setsockopt(socket.native_handle(), IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
  }
}

std::optional<v1::IcmpError> TakeIcmpError(ip::tcp::socket& socket, const ip::address& target) {
  if (!socket.is_open()) return std::nullopt;
  std::array<char, 512> control{};
  char data[64];
  iovec iov{data, sizeof(data)};
  sockaddr_storage from{};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  if (recvmsg(socket.native_handle(), &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) return std::nullopt;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR;
    bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR;
    if (!v4 && !v6) continue;
    sock_extended_err ee;
    std::memcpy(&ee, CMSG_DATA(c), sizeof(ee));
    if (ee.ee_origin != SO_EE_ORIGIN_ICMP && ee.ee_origin != SO_EE_ORIGIN_ICMP6) continue;
    int family = ee.ee_origin == SO_EE_ORIGIN_ICMP ? 4 : 6;
    ip::address sender;
    const sockaddr* off = SO_EE_OFFENDER(reinterpret_cast<const sock_extended_err*>(CMSG_DATA(c)));
    if (off->sa_family == AF_INET) {
      sockaddr_in sin;
      std::memcpy(&sin, off, sizeof(sin));
      sender = ip::address_v4(ntohl(sin.sin_addr.s_addr));
    } else if (off->sa_family == AF_INET6) {
      sockaddr_in6 sin6;
      std::memcpy(&sin6, off, sizeof(sin6));
      ip::address_v6::bytes_type b;
      std::memcpy(b.data(), &sin6.sin6_addr, 16);
      sender = ip::address_v6(b);
    }
    return MakeIcmpError(family, ee.ee_type, ee.ee_code, sender, target);
  }
  return std::nullopt;
}

}  // namespace parallax::probe
