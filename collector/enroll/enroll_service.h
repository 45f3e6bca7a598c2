// EnrollServiceImpl: the collector's side of `parallax-probe enroll`
// (proto/parallax/v1/enroll.proto, docs/PROTOCOL.md): checks the name, the
// CSR and the one-time token, then signs the CSR with the enrollment CA.
//
// Order: enrollment on? name valid? CSR valid? then the token is consumed
// (so a bad CSR does not burn a token) and the certificate signed.
// Status codes: FAILED_PRECONDITION when enrollment is off (no enroll.ca_key),
// INVALID_ARGUMENT for a bad name/CSR/malformed token, PERMISSION_DENIED for
// an unknown, used, expired or other-name token, UNAVAILABLE when the token
// file cannot be read or written. Every outcome is logged (names escaped).
//
// Thread-safe (TokenStore and CsrSigner are).
#pragma once

#include <memory>
#include <string>

#include "collector/config/config.h"
#include "collector/enroll/csr_signer.h"
#include "collector/enroll/token_store.h"
#include "parallax/v1/enroll.grpc.pb.h"

namespace parallax::collector {

class EnrollServiceImpl final : public v1::EnrollService::Service {
 public:
  // Enrollment off: every call fails naming `config_path`.
  explicit EnrollServiceImpl(std::string config_path);
  // Enrollment on.
  EnrollServiceImpl(std::unique_ptr<CsrSigner> signer, std::unique_ptr<TokenStore> tokens,
                    int64_t cert_days);

  // Loads the CA for `config.enroll` when enabled (errors name the keys).
  static Status Create(const Config& config, const std::string& config_path,
                       std::unique_ptr<EnrollServiceImpl>* out);

  grpc::Status Enroll(grpc::ServerContext* context, const v1::EnrollRequest* request,
                      v1::EnrollResponse* response) override;

 private:
  std::string config_path_;
  std::unique_ptr<CsrSigner> signer_;
  std::unique_ptr<TokenStore> tokens_;
  int64_t cert_days_ = 365;
};

}  // namespace parallax::collector
