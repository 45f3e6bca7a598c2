#include "collector/auth/access.h"

#include <algorithm>

#include "common/log.h"

namespace parallax::collector {
namespace {

constexpr std::string_view kProbeService = "/parallax.v1.ProbeService/";
constexpr std::string_view kQueryService = "/parallax.v1.QueryService/";
// The one method a caller without a client certificate may call: a new probe
// enrolling with a one-time token (collector/enroll/enroll_service.h).
constexpr std::string_view kEnrollMethod = "/parallax.v1.EnrollService/Enroll";
// QueryService methods that change something: admins only. Append here when
// a write RPC is added (check, hostkey accept, ...).
constexpr std::string_view kAdminMethods[] = {"/parallax.v1.QueryService/Check",
                                              "/parallax.v1.QueryService/AcceptHostKey"};

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

}  // namespace

Status CheckMethodAccess(const PeerIdentity& who, std::string_view method) {
  if (method == kEnrollMethod) return Status::Ok();  // the token is the credential
  if (!who.authenticated) return Status::Ok();
  if (who.role == PeerRole::kNone) {
    return Status::InvalidArgument("client certificate refused: " + who.Describe());
  }
  std::string m(method);
  if (StartsWith(method, kProbeService)) {
    if (who.role == PeerRole::kProbe) return Status::Ok();
    return Status::InvalidArgument(who.Describe() + " may not connect as a probe (" + m +
                                   "): only probe certificates (SAN URI parallax:probe/NAME) may");
  }
  bool admin_only = !StartsWith(method, kQueryService) ||
                    std::find(std::begin(kAdminMethods), std::end(kAdminMethods), method) !=
                        std::end(kAdminMethods);
  if (who.role == PeerRole::kAdmin) return Status::Ok();
  if (who.role == PeerRole::kReader && !admin_only) return Status::Ok();
  return Status::InvalidArgument(
      who.Describe() + " may not call " + m + ": " +
      (admin_only ? "admin certificates only (SAN URI parallax:role/admin)"
                  : "reader or admin certificates only (SAN URI parallax:role/reader)"));
}

bool IsRevoked(const RevokedConfig& revoked, const PeerIdentity& who) {
  if (!who.authenticated) return false;
  if (!who.serial.empty() && std::find(revoked.serials.begin(), revoked.serials.end(),
                                       who.serial) != revoked.serials.end()) {
    return true;
  }
  return !who.name.empty() && std::find(revoked.identities.begin(), revoked.identities.end(),
                                        who.name) != revoked.identities.end();
}

grpc::Status AccessProcessor::Process(const InputMetadata& auth_metadata,
                                      grpc::AuthContext* context, OutputMetadata*,
                                      OutputMetadata*) {
  std::string_view method;
  auto it = auth_metadata.find(":path");
  if (it != auth_metadata.end()) method = std::string_view(it->second.data(), it->second.size());
  PeerIdentity who = IdentityFromAuthContext(context);
  std::shared_ptr<const Config> config = config_();
  if (config && IsRevoked(config->revoked, who)) {
    Logf(LogLevel::kWarning, "refused %s: revoked certificate of %s", std::string(method).c_str(),
         who.Describe().c_str());
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "certificate revoked: " + who.Describe());
  }
  if (!who.authenticated && method != kEnrollMethod) {
    // mTLS: the handshake lets a client without a certificate in (to
    // enroll), and this is where it stops for everything else.
    Logf(LogLevel::kWarning, "refused %s: no client certificate", std::string(method).c_str());
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "no client certificate: the collector requires mTLS (tls.client_ca); "
                        "without a certificate only " +
                            std::string(kEnrollMethod) + " may be called");
  }
  Status st = CheckMethodAccess(who, method);
  if (!st.ok()) {
    Logf(LogLevel::kWarning, "refused: %s", st.message().c_str());
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED, st.message());
  }
  return grpc::Status::OK;
}

}  // namespace parallax::collector
