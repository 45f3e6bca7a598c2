// Who may call what, enforced for every gRPC call before it reaches a
// service (a grpc::AuthMetadataProcessor on the server credentials, so the
// services themselves need no checks):
//   - ProbeService (the probe stream): probe certificates only;
//   - QueryService reads (status, history, explain, incidents): readers and
//     admins; QueryService writes (none yet: `check`, `hostkey accept`): admins;
//   - any other method: admins;
//   - EnrollService/Enroll (a new probe with a one-time token): anybody, with
//     or without a client certificate; every other method needs one
//     (UNAUTHENTICATED without: the TLS handshake lets certificate-less
//     clients in only so that they can enroll);
//   - a revoked certificate (config `revoked:`, by identity or serial): nobody.
// Installed only with mTLS (tls.client_ca); without client_ca there is no
// identity to check and every caller may do everything.
//
// Thread-safe: Process runs on gRPC threads, reads the config through the
// given function (a snapshot per call), keeps no state.
#pragma once

#include <grpcpp/security/auth_metadata_processor.h>

#include <functional>
#include <memory>
#include <string_view>

#include "collector/auth/peer_identity.h"
#include "collector/config/config.h"
#include "common/status.h"

namespace parallax::collector {

// Ok, or why `who` may not call `method` ("/parallax.v1.QueryService/Status").
Status CheckMethodAccess(const PeerIdentity& who, std::string_view method);
// True if the certificate's identity or serial is in `revoked`.
bool IsRevoked(const RevokedConfig& revoked, const PeerIdentity& who);

class AccessProcessor : public grpc::AuthMetadataProcessor {
 public:
  explicit AccessProcessor(std::function<std::shared_ptr<const Config>()> config)
      : config_(std::move(config)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext* context,
                       OutputMetadata* consumed_auth_metadata,
                       OutputMetadata* response_metadata) override;

 private:
  std::function<std::shared_ptr<const Config>()> config_;
};

}  // namespace parallax::collector
