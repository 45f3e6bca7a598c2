// Checks a probe's Hello against the certificate of its stream and the
// labels the collector config pins for it (docs/OPERATIONS.md, "Security"):
//   - with a client certificate, the Hello's probe_name must be the
//     certificate's probe identity, and the certificate must be a probe's;
//   - labels pinned in `probes: NAME: labels:` must be in the Hello with the
//     same values (a Hello that disagrees is refused, not overridden: a probe
//     that claims another network is misconfigured or compromised, and either
//     way its results must not count for the network it claims).
// Every refusal is PERMISSION_DENIED with a message naming both sides.
// Pure; thread-safe.
#pragma once

#include "collector/auth/peer_identity.h"
#include "collector/config/config.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

Status CheckHelloIdentity(const PeerIdentity& who, const v1::Hello& hello, const Config* config);

}  // namespace parallax::collector
