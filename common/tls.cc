#include "common/tls.h"

#include <grpcpp/support/channel_arguments.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/log.h"

namespace parallax {

Status ReadFileToString(const std::string& path, const std::string& what, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Status::InvalidArgument(what + ": cannot read \"" + path + "\": " +
                                   std::strerror(errno));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  if (out->empty()) return Status::InvalidArgument(what + ": \"" + path + "\" is empty");
  return Status::Ok();
}

Status MakeChannelCredentials(const ClientTlsFlags& flags,
                              std::shared_ptr<grpc::ChannelCredentials>* out) {
  if (flags.insecure) {
    if (!flags.ca.empty() || !flags.cert.empty() || !flags.key.empty()) {
      return Status::InvalidArgument("--insecure cannot be combined with --ca, --cert or --key");
    }
    Logf(LogLevel::kWarning, "--insecure: talking to the collector in plaintext, unauthenticated");
    *out = grpc::InsecureChannelCredentials();
    return Status::Ok();
  }
  if (flags.cert.empty() != flags.key.empty()) {
    return Status::InvalidArgument("--cert and --key go together (got only " +
                                   std::string(flags.cert.empty() ? "--key" : "--cert") + ")");
  }
  grpc::SslCredentialsOptions opts;
  if (!flags.ca.empty()) {
    Status st = ReadFileToString(flags.ca, "--ca", &opts.pem_root_certs);
    if (!st.ok()) return st;
  }
  if (!flags.cert.empty()) {
    Status st = ReadFileToString(flags.cert, "--cert", &opts.pem_cert_chain);
    if (!st.ok()) return st;
    st = ReadFileToString(flags.key, "--key", &opts.pem_private_key);
    if (!st.ok()) return st;
  }
  *out = grpc::SslCredentials(opts);
  return Status::Ok();
}

grpc::ChannelArguments MakeChannelArguments(const ClientTlsFlags& flags) {
  grpc::ChannelArguments args;
  if (!flags.server_name.empty()) args.SetSslTargetNameOverride(flags.server_name);
  args.SetMaxReceiveMessageSize(16 * 1024 * 1024);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 20000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 500);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  return args;
}

Status MakeServerCredentials(const std::string& cert, const std::string& key,
                             const std::string& client_ca,
                             std::shared_ptr<grpc::ServerCredentials>* out,
                             const ServerTlsExtras& extras) {
  grpc::SslServerCredentialsOptions opts(
      client_ca.empty()             ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : extras.client_cert_optional ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                    : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  Status st = ReadFileToString(cert, "tls.cert", &pair.cert_chain);
  if (!st.ok()) return st;
  if (!extras.extra_chain_pem_file.empty()) {
    std::string extra;
    st = ReadFileToString(extras.extra_chain_pem_file, "enroll.ca_cert", &extra);
    if (!st.ok()) return st;
    if (pair.cert_chain.find(extra) == std::string::npos) {
      if (pair.cert_chain.back() != '\n') pair.cert_chain += '\n';
      pair.cert_chain += extra;
    }
  }
  st = ReadFileToString(key, "tls.key", &pair.private_key);
  if (!st.ok()) return st;
  opts.pem_key_cert_pairs.push_back(std::move(pair));
  if (!client_ca.empty()) {
    st = ReadFileToString(client_ca, "tls.client_ca", &opts.pem_root_certs);
    if (!st.ok()) return st;
  }
  *out = grpc::SslServerCredentials(opts);
  return Status::Ok();
}

}  // namespace parallax
