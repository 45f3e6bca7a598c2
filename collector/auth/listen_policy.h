// Where a plaintext (unauthenticated) gRPC listener may bind: loopback only
// (127.0.0.0/8, ::1, "localhost") unless the operator says
// --insecure-allow-remote, because plaintext means anyone who can reach the
// port can pose as any probe and read every result. Pure; thread-safe.
#pragma once

#include <string>

#include "common/status.h"

namespace parallax::collector {

// True if `listen` ("host:port", "[v6]:port") binds only loopback addresses.
bool IsLoopbackListen(const std::string& listen);
// Ok, or why `listen` may not serve plaintext.
Status CheckInsecureListen(const std::string& listen, bool allow_remote);

}  // namespace parallax::collector
