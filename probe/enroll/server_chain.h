// Fetches the certificate chain a TLS server presents, without trusting it
// (verification is the caller's: enroll pins a CA by fingerprint), and
// checks a chain against a pinned CA fingerprint. Bounded by a timeout.
// Thread-compatible.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/status.h"

namespace parallax::probe {

// host:port or [v6]:port. `sni` is sent as the server name when not an IP.
Status FetchServerChain(const std::string& address, const std::string& sni,
                        std::chrono::milliseconds timeout, std::vector<std::string>* pem_chain);

// Finds the certificate of `chain` (PEMs, leaf first) whose SHA-256
// fingerprint is `fingerprint` (canonical spelling), checks that it is a CA
// and that the leaf chains to it; *ca_pem is that CA. The error lists the
// fingerprints seen.
Status PinnedCaFromChain(const std::vector<std::string>& chain, const std::string& fingerprint,
                         std::string* ca_pem);

}  // namespace parallax::probe
