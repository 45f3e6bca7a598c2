#include "collector/auth/revocation.h"

#include <grpcpp/support/status.h>

#include "collector/auth/access.h"
#include "common/log.h"

namespace parallax::collector {

void StreamCertificates::Set(const std::string& probe, const PeerIdentity& who) {
  std::lock_guard<std::mutex> lock(mu_);
  by_probe_[probe] = who;
}

PeerIdentity StreamCertificates::Get(const std::string& probe) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = by_probe_.find(probe);
  return it == by_probe_.end() ? PeerIdentity() : it->second;
}

int CloseRevokedStreams(
    const std::vector<std::pair<std::string, std::shared_ptr<StreamLink>>>& streams,
    const StreamCertificates& certs, const RevokedConfig& revoked) {
  if (revoked.empty()) return 0;
  int closed = 0;
  for (const auto& [probe, link] : streams) {
    PeerIdentity who = certs.Get(probe);
    if (!IsRevoked(revoked, who)) continue;
    Logf(LogLevel::kWarning,
         "reload: closing the stream of probe %s from %s: certificate revoked (%s)", probe.c_str(),
         link->peer().c_str(), who.Describe().c_str());
    link->Close(grpc::StatusCode::PERMISSION_DENIED, "certificate revoked: " + who.Describe());
    ++closed;
  }
  return closed;
}

}  // namespace parallax::collector
