// SHA-256 fingerprints of X.509 certificates, spelled as `openssl x509
// -fingerprint -sha256` prints them (upper-case hex pairs joined by ':'), so
// a sysadmin can compare the enrollment CA's fingerprint with openssl's.
// Used by `parallax-collector token create` (prints it) and `parallax-probe
// enroll` (pins it). Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax {

// The fingerprint of DER bytes: "AB:CD:...", 95 characters.
std::string FingerprintOfDer(std::string_view der);
// The fingerprint of the first certificate in a PEM text.
Status FingerprintOfPem(const std::string& pem, std::string* out);
// Reads a fingerprint a user typed: 64 hex digits, with or without ':'
// separators, any case, optionally prefixed "sha256:" or "SHA256=".
// Returns the canonical spelling, or "" when it is not one.
std::string CanonicalFingerprint(std::string_view text);

}  // namespace parallax
