// InNetns: runs a test body in a forked child inside a new network namespace
// (loopback up, one nftables rule on input for tcp port 2201) and returns
// what the body returned, or "" with the reason in *skip when namespaces or
// nft are unavailable (not root, no nft). For the checks' tests of ICMP
// errors: the rule (e.g. "reject") makes the kernel answer our own SYNs.
// Blocks until the child exits; the body must be bounded in time.
#pragma once

#include <functional>
#include <string>

namespace parallax::probe {

std::string InNetns(const std::string& rule, const std::function<std::string()>& body,
                    std::string* skip);

}  // namespace parallax::probe
