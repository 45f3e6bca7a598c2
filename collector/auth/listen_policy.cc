#include "collector/auth/listen_policy.h"

#include <arpa/inet.h>

namespace parallax::collector {

bool IsLoopbackListen(const std::string& listen) {
  std::string host = listen;
  size_t colon = host.rfind(':');
  if (colon != std::string::npos) host = host.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1) {
    return (ntohl(v4.s_addr) >> 24) == 127;
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    return IN6_IS_ADDR_LOOPBACK(&v6) || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  }
  return false;  // a DNS name, "0.0.0.0", "::": may reach other hosts
}

Status CheckInsecureListen(const std::string& listen, bool allow_remote) {
  if (allow_remote || IsLoopbackListen(listen)) return Status::Ok();
  return Status::InvalidArgument(
      "listen \"" + listen +
      "\": --insecure serves plaintext without authentication, so it may listen on loopback "
      "only (127.0.0.1, [::1], localhost); configure tls (docs/OPERATIONS.md, Security) or, if "
      "the network is trusted, add --insecure-allow-remote");
}

}  // namespace parallax::collector
