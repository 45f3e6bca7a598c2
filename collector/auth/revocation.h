// Revocation of live streams: the certificate each connected probe stream
// presented, and closing the streams whose certificate the config now
// revokes (called on reload; new calls are refused by AccessProcessor).
// Thread-safe (short internal lock).
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "collector/auth/peer_identity.h"
#include "collector/config/config.h"
#include "collector/ingest/stream_hub.h"

namespace parallax::collector {

class StreamCertificates {
 public:
  // Records the certificate of the stream registered for `probe` now.
  void Set(const std::string& probe, const PeerIdentity& who);
  PeerIdentity Get(const std::string& probe) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, PeerIdentity> by_probe_;
};

// Closes (PERMISSION_DENIED) every stream in `streams` whose certificate is
// revoked; returns how many.
int CloseRevokedStreams(
    const std::vector<std::pair<std::string, std::shared_ptr<StreamLink>>>& streams,
    const StreamCertificates& certs, const RevokedConfig& revoked);

}  // namespace parallax::collector
