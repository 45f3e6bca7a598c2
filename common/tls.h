// gRPC credentials from the TLS flags shared by the probe and the CLI, and
// the collector's server credentials. Reading files can fail: a Status names
// the flag and the path. Thread-compatible.
#pragma once

#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace parallax {

struct ClientTlsFlags {
  std::string ca;           // --ca: PEM CA that signed the collector's certificate
  std::string cert;         // --cert: client certificate (mTLS)
  std::string key;          // --key: client private key (mTLS)
  std::string server_name;  // --tls-server-name: expected name in the certificate
  bool insecure = false;    // --insecure: plaintext, logs a warning
};

// Plaintext only if flags.insecure; otherwise TLS with flags.ca (or the system
// roots when empty) and the client pair when given.
Status MakeChannelCredentials(const ClientTlsFlags& flags,
                              std::shared_ptr<grpc::ChannelCredentials>* out);
// Channel arguments for flags (the TLS server name override) and our limits.
grpc::ChannelArguments MakeChannelArguments(const ClientTlsFlags& flags);

// Optional server TLS settings.
struct ServerTlsExtras {
  // Request and verify client certificates but let a client without one
  // finish the handshake (the collector's AccessProcessor then allows it
  // only EnrollService/Enroll).
  bool client_cert_optional = false;
  // A PEM certificate appended to the served chain unless already in it
  // (the enrollment CA, which probes pin by fingerprint).
  std::string extra_chain_pem_file;
};

// TLS with cert/key, requiring client certificates signed by client_ca when
// it is not empty. All three are file paths.
Status MakeServerCredentials(const std::string& cert, const std::string& key,
                             const std::string& client_ca,
                             std::shared_ptr<grpc::ServerCredentials>* out,
                             const ServerTlsExtras& extras = {});

// Reads a whole file; the Status names `what` (e.g. "--ca") and the path.
Status ReadFileToString(const std::string& path, const std::string& what, std::string* out);

}  // namespace parallax
