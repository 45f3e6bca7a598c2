#include "collector/enroll/enroll_service.h"

#include "common/clock.h"
#include "common/escape.h"
#include "common/log.h"

namespace parallax::collector {

EnrollServiceImpl::EnrollServiceImpl(std::string config_path)
    : config_path_(std::move(config_path)) {}

EnrollServiceImpl::EnrollServiceImpl(std::unique_ptr<CsrSigner> signer,
                                     std::unique_ptr<TokenStore> tokens, int64_t cert_days)
    : signer_(std::move(signer)), tokens_(std::move(tokens)), cert_days_(cert_days) {}

Status EnrollServiceImpl::Create(const Config& config, const std::string& config_path,
                                 std::unique_ptr<EnrollServiceImpl>* out) {
  if (!config.enroll.enabled()) {
    *out = std::make_unique<EnrollServiceImpl>(config_path.empty() ? "the collector's config"
                                                                   : config_path);
    return Status::Ok();
  }
  std::unique_ptr<CsrSigner> signer;
  Status st = CsrSigner::Load(config.enroll.ca_cert, config.enroll.ca_key, &signer);
  if (!st.ok()) return st;
  *out = std::make_unique<EnrollServiceImpl>(
      std::move(signer), std::make_unique<TokenStore>(config.enroll.tokens, WallClockMs),
      config.enroll.cert_days);
  Logf(LogLevel::kInfo, "enrollment on: CA %s, tokens in %s, certificates for %lld days",
       config.enroll.ca_cert.c_str(), config.enroll.tokens.c_str(),
       static_cast<long long>(config.enroll.cert_days));
  return Status::Ok();
}

grpc::Status EnrollServiceImpl::Enroll(grpc::ServerContext* context,
                                       const v1::EnrollRequest* request,
                                       v1::EnrollResponse* response) {
  std::string peer = EscapeForTerminal(context->peer());
  if (!signer_) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "enrollment is off: set enroll.ca_key in " + config_path_);
  }
  const std::string& name = request->name();
  if (!EnrollNameOk(name)) {
    std::string shown = EscapeForTerminal(name.substr(0, 80));
    Logf(LogLevel::kWarning, "enroll from %s refused: bad name \"%s\"", peer.c_str(),
         shown.c_str());
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "name \"" + shown + "\" is not a probe name (1..64 of [A-Za-z0-9._-])");
  }
  Status st = CsrSigner::CheckCsr(request->csr_pem());
  if (!st.ok()) {
    Logf(LogLevel::kWarning, "enroll of \"%s\" from %s refused: %s", name.c_str(), peer.c_str(),
         st.message().c_str());
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, st.message());
  }
  TokenRefusal why = TokenRefusal::kNone;
  st = tokens_->Consume(request->token(), name, &why);
  if (!st.ok()) {
    Logf(LogLevel::kWarning, "enroll of \"%s\" from %s refused: %s", name.c_str(), peer.c_str(),
         st.message().c_str());
    grpc::StatusCode code = grpc::StatusCode::PERMISSION_DENIED;
    if (why == TokenRefusal::kMalformed) code = grpc::StatusCode::INVALID_ARGUMENT;
    if (why == TokenRefusal::kStorage) code = grpc::StatusCode::UNAVAILABLE;
    return grpc::Status(code, st.message());
  }
  std::string cert;
  st = signer_->Sign(request->csr_pem(), name, cert_days_, &cert);
  if (!st.ok()) {
    Logf(LogLevel::kError, "enroll of \"%s\": token used but signing failed: %s", name.c_str(),
         st.message().c_str());
    return grpc::Status(grpc::StatusCode::INTERNAL, st.message());
  }
  response->set_cert_pem(cert);
  response->set_ca_pem(signer_->ca_pem());
  Logf(LogLevel::kInfo, "enrolled probe \"%s\" from %s (certificate for %lld days)", name.c_str(),
       peer.c_str(), static_cast<long long>(cert_days_));
  return grpc::Status::OK;
}

}  // namespace parallax::collector
