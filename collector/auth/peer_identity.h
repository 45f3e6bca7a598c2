// PeerIdentity: who a gRPC peer is, read from its verified client
// certificate (mTLS), and what it may do.
//
// The rules (docs/OPERATIONS.md, "Security"):
//   - a SAN URI "parallax:probe/NAME" makes the certificate probe NAME's;
//   - a SAN URI "parallax:role/reader" or "parallax:role/admin" makes it a
//     reader's or an admin's, named by its subject CN;
//   - a certificate with neither (made by make-certs.sh before roles) is a
//     probe named by its CN;
//   - two different parallax: URIs in one certificate make it invalid.
// Without a client certificate (TLS without client_ca, or --insecure) a peer
// is unauthenticated: it may do everything and prove nothing.
//
// Pure functions; thread-safe.
#pragma once

#include <grpcpp/security/auth_context.h>

#include <string>

#include "common/status.h"

namespace parallax::collector {

enum class PeerRole { kNone, kProbe, kReader, kAdmin };

struct PeerIdentity {
  bool authenticated = false;  // a verified client certificate was presented
  PeerRole role = PeerRole::kNone;
  std::string name;    // the probe name (probes) or the CN (readers, admins)
  std::string serial;  // upper-case hex, no leading zeros
  std::string error;   // why the certificate carries no usable identity

  // "probe \"fra1\" (certificate serial 4F1A)" or "unauthenticated peer".
  std::string Describe() const;
};

const char* RoleName(PeerRole role);

// Reads the identity from one PEM certificate.
PeerIdentity IdentityFromPem(const std::string& pem);
// Reads the identity from a call's auth context (its "x509_pem_cert").
PeerIdentity IdentityFromAuthContext(const grpc::AuthContext* context);

}  // namespace parallax::collector
