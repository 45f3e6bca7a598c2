// `parallax-probe enroll --collector HOST:PORT --token TOKEN --name NAME
//  --ca-fingerprint SHA256 [--state-dir DIR] [--tls-server-name NAME]`:
// enrolls this probe at a collector in one command (docs/DEPLOY.md).
//
//   1. TLS handshake with the collector (no token sent) to fetch its
//      certificate chain; one certificate in it must be a CA whose SHA-256
//      fingerprint is --ca-fingerprint and that the server certificate chains
//      to. Otherwise: refused, nothing sent, exit 1 (no trust on first use).
//   2. An EC P-256 key made here (OpenSSL; it never leaves this machine) and
//      a CSR for it.
//   3. EnrollService/Enroll over gRPC TLS that trusts only that pinned CA
//      (host name checked as for the probe's own connection), with the token.
//   4. The answer is checked (ca_pem has the pinned fingerprint, the
//      certificate is for our key, NAME's, and chains to the CA), then the
//      key (0600), certificate and CA are stored under DIR/enroll
//      (probe/enroll/enrolled_credentials.h), where the probe finds them.
// Exit codes: 0 enrolled, 1 refused or failed, 2 bad arguments.
#pragma once

namespace parallax::probe {

// argv[0] is "enroll".
int RunEnroll(int argc, char** argv);

}  // namespace parallax::probe
