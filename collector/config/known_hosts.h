// Host key pins from an OpenSSH known_hosts file (sshd(8) "SSH_KNOWN_HOSTS
// FILE FORMAT"), for targets configured without `host_keys:`.
//
// Parsed robustly: blank lines and comments are skipped; "@revoked" lines
// are skipped and "@cert-authority" lines ignored (a CA is not a host key);
// a line whose key does not decode is skipped and counted, never fatal.
// Host patterns: plain names / addresses, "[host]:port", comma lists,
// negation ("!pattern"), wildcards ('*', '?'), and hashed entries
// ("|1|salt|hash", HMAC-SHA1 as ssh-keygen -H writes them). At most
// kMaxKnownHostsBytes are read.
//
// Pure, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax::collector {

constexpr size_t kMaxKnownHostsBytes = 8 << 20;

struct KnownHostsEntry {
  std::string hosts;        // the host pattern field as written
  std::string fingerprint;  // "SHA256:..." of the key
};

struct KnownHosts {
  std::vector<KnownHostsEntry> entries;
  int skipped = 0;  // lines that did not parse
};

KnownHosts ParseKnownHosts(std::string_view text);
Status LoadKnownHosts(const std::string& path, KnownHosts* out);

// The fingerprints `known` lists for host:port (port 22 matches "host",
// others "[host]:port"), without duplicates, in file order.
std::vector<std::string> KnownHostKeys(const KnownHosts& known, const std::string& host,
                                       uint16_t port);

// "SHA256:" + 43 base64 characters (what ssh-keygen -lf prints).
bool IsSshFingerprint(std::string_view s);

}  // namespace parallax::collector
