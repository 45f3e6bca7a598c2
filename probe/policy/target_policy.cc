#include "probe/policy/target_policy.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>

#include <algorithm>
#include <cstring>

namespace parallax::probe {
namespace {

bool ParseAddress(const std::string& text, Cidr* out) {
  std::string host = text;
  size_t pct = host.find('%');  // fe80::1%eth0
  if (pct != std::string::npos) host = host.substr(0, pct);
  if (inet_pton(AF_INET, host.c_str(), out->bytes) == 1) {
    out->family = AF_INET;
    out->prefix = 32;
    return true;
  }
  if (inet_pton(AF_INET6, host.c_str(), out->bytes) == 1) {
    out->family = AF_INET6;
    out->prefix = 128;
    return true;
  }
  return false;
}

bool Contains(const Cidr& net, const Cidr& addr) {
  if (net.family != addr.family) return false;
  int full = net.prefix / 8, rest = net.prefix % 8;
  if (std::memcmp(net.bytes, addr.bytes, full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xFF << (8 - rest));
  return (net.bytes[full] & mask) == (addr.bytes[full] & mask);
}

// A v4-mapped IPv6 address (::ffff:a.b.c.d) is judged as the IPv4 address.
Cidr Unmap(const Cidr& a) {
  static const uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
  if (a.family != AF_INET6 || std::memcmp(a.bytes, kPrefix, 12) != 0) return a;
  Cidr v4;
  v4.family = AF_INET;
  v4.prefix = 32;
  std::memcpy(v4.bytes, a.bytes + 12, 4);
  return v4;
}

// The address class a default policy refuses, or "".
std::string DeniedClass(const Cidr& a) {
  if (a.family == AF_INET) {
    const uint8_t* b = a.bytes;
    if (b[0] == 127) return "loopback";
    if (b[0] == 169 && b[1] == 254) {
      return b[2] == 169 && b[3] == 254 ? "link-local (the cloud metadata service)" : "link-local";
    }
    if (b[0] >= 224 && b[0] <= 239) return "multicast";
    if (b[0] == 0) return "unspecified (\"this network\")";
    if (b[0] == 255 && b[1] == 255 && b[2] == 255 && b[3] == 255) return "broadcast";
    return "";
  }
  const uint8_t* b = a.bytes;
  static const uint8_t kLoopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static const uint8_t kZero[16] = {};
  if (std::memcmp(b, kLoopback, 16) == 0) return "loopback";
  if (std::memcmp(b, kZero, 16) == 0) return "unspecified";
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return "link-local";
  if (b[0] == 0xFF) return "multicast";
  return "";
}

}  // namespace

Status ParseCidr(const std::string& text, Cidr* out) {
  Cidr c;
  c.text = text;
  size_t slash = text.find('/');
  std::string addr = text.substr(0, slash);
  if (!ParseAddress(addr, &c)) {
    return Status::InvalidArgument("\"" + text +
                                   "\" is not an address or CIDR (10.0.0.0/8, 2001:db8::/32)");
  }
  if (slash != std::string::npos) {
    std::string len = text.substr(slash + 1);
    int max = c.family == AF_INET ? 32 : 128;
    if (len.empty() || len.size() > 3 ||
        !std::all_of(len.begin(), len.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) ||
        std::stoi(len) > max) {
      return Status::InvalidArgument("\"" + text + "\": prefix length must be 0.." +
                                     std::to_string(max));
    }
    c.prefix = std::stoi(len);
  }
  *out = c;
  return Status::Ok();
}

Status ParsePortRange(const std::string& text, PortRange* out) {
  auto parse = [](const std::string& s, uint16_t* p) {
    if (s.empty() || s.size() > 5 ||
        !std::all_of(s.begin(), s.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return false;
    }
    int v = std::stoi(s);
    if (v < 1 || v > 65535) return false;
    *p = static_cast<uint16_t>(v);
    return true;
  };
  size_t dash = text.find('-');
  PortRange r;
  bool ok = dash == std::string::npos
                ? parse(text, &r.lo) && parse(text, &r.hi)
                : parse(text.substr(0, dash), &r.lo) && parse(text.substr(dash + 1), &r.hi);
  if (!ok || r.lo > r.hi) {
    return Status::InvalidArgument("\"" + text + "\" is not a port or range (22, 2200-2299)");
  }
  *out = r;
  return Status::Ok();
}

std::vector<std::string> OwnAddresses() {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr) continue;
    char buf[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof(buf));
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, buf,
                sizeof(buf));
    } else {
      continue;
    }
    out.emplace_back(buf);
  }
  freeifaddrs(list);
  return out;
}

std::string TargetPolicy::AddressRefusal(const std::string& host,
                                         const std::vector<std::string>& own) const {
  Cidr addr;
  std::string lower = host;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return std::tolower(c); });
  while (!lower.empty() && lower.back() == '.') lower.pop_back();
  if (!ParseAddress(host, &addr)) {
    bool local_name =
        lower == "localhost" ||
        (lower.size() > 10 && lower.compare(lower.size() - 10, 10, ".localhost") == 0);
    if (local_name && !options_.allow_loopback) {
      return host + " is loopback (allow with --allow-loopback)";
    }
    return "";  // a DNS name: its address is not known yet
  }
  addr = Unmap(addr);
  std::string cls = DeniedClass(addr);
  if (cls == "loopback" && options_.allow_loopback) return "";
  if (!options_.allow.empty()) {
    for (const Cidr& net : options_.allow) {
      if (Contains(net, addr)) return "";
    }
    std::string nets;
    for (const Cidr& net : options_.allow) nets += (nets.empty() ? "" : ", ") + net.text;
    return host + " is outside the allowed networks (--allow-target " + nets + ")";
  }
  if (!cls.empty()) {
    return host + " is " + cls +
           (cls == "loopback" ? " (allow with --allow-loopback)"
                              : " (allow with --allow-target CIDR)");
  }
  for (const std::string& o : own) {
    Cidr mine;
    if (ParseAddress(o, &mine) && Contains(Unmap(mine), addr)) {
      return host + " is this probe's own address (allow with --allow-target " + host + ")";
    }
  }
  return "";
}

v1::Assignment TargetPolicy::Filter(const v1::Assignment& in,
                                    std::vector<v1::PolicyRefusal>* refused) const {
  v1::Assignment out = in;
  out.clear_targets();
  const std::vector<std::string> own =
      options_.own_addresses ? options_.own_addresses() : OwnAddresses();
  double connects = 0;
  auto refuse = [refused](const v1::Target& t, std::string why) {
    v1::PolicyRefusal r;
    r.set_target(t.name());
    r.set_reason(std::move(why));
    refused->push_back(std::move(r));
  };
  for (const v1::Target& t : in.targets()) {
    std::string why = AddressRefusal(t.host(), own);
    if (why.empty() && !options_.ports.empty()) {
      bool ok = std::any_of(options_.ports.begin(), options_.ports.end(), [&](const PortRange& r) {
        return t.port() >= r.lo && t.port() <= r.hi;
      });
      if (!ok)
        why = "port " + std::to_string(t.port()) + " is outside the allowed ports (--allow-port)";
    }
    if (why.empty() && t.interval_ms() < options_.min_interval.count()) {
      why = "interval " + std::to_string(t.interval_ms()) + "ms is below the minimum " +
            std::to_string(options_.min_interval.count()) + "ms (--min-interval)";
    }
    if (why.empty() && static_cast<size_t>(out.targets_size()) >= options_.max_targets) {
      why = "more than " + std::to_string(options_.max_targets) + " targets (--max-targets)";
    }
    double rate = t.interval_ms() > 0 ? 1000.0 / t.interval_ms() : 1e9;
    if (why.empty() && connects + rate > options_.max_connects_per_second) {
      why = "would exceed " +
            std::to_string(static_cast<long long>(options_.max_connects_per_second)) +
            " new connections per second (--max-connects-per-second)";
    }
    if (!why.empty()) {
      refuse(t, "target \"" + t.name() + "\" (" + t.host() + ":" + std::to_string(t.port()) +
                    "): " + why);
      continue;
    }
    connects += rate;
    *out.add_targets() = t;
  }
  return out;
}

}  // namespace parallax::probe
