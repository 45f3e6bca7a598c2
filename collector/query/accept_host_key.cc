// QueryServiceImpl::AcceptHostKey (query_service.h): `parallax hostkey accept`.
#include <map>
#include <string>
#include <vector>

#include "collector/query/query_service.h"

namespace parallax::collector {

grpc::Status QueryServiceImpl::AcceptHostKey(grpc::ServerContext*,
                                             const v1::AcceptHostKeyRequest* req,
                                             v1::AcceptHostKeyResponse* resp) {
  ConfigSnapshot snap = config_();
  const TargetConfig* t = snap.config->FindTarget(req->target());
  if (t == nullptr) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "no target named \"" + req->target() + "\"");
  }
  if (!t->host_keys.empty()) {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                        "target \"" + t->name +
                            "\" is pinned in the config (host_keys or known_hosts): change it "
                            "there and reload");
  }
  std::map<std::string, int> seen;
  state_->VisitTargetResults(t->name, [&](const LiveState::PairsOfTarget& pairs) {
    for (const auto& [probe, pair] : pairs) {
      if (!pair.host_key.fingerprint().empty()) ++seen[pair.host_key.fingerprint()];
    }
  });
  auto best = seen.end();
  for (auto it = seen.begin(); it != seen.end(); ++it) {
    if (best == seen.end() || it->second > best->second) best = it;
  }
  HostKeyPins& pins = state_->host_key_pins();
  for (const std::string& fp : pins.Get(t->name)) resp->add_previous(fp);
  std::vector<std::string> now;
  if (best != seen.end()) now.push_back(best->first);
  pins.Set(t->name, now, now_ms_());
  state_->MarkChanged(t->name);
  for (const std::string& fp : now) resp->add_pinned(fp);
  if (now.empty()) {
    resp->set_message("no vantage point has seen a host key of " + t->name +
                      " yet: the next key seen is pinned");
  } else {
    int total = 0;
    for (const auto& [fp, n] : seen) total += n;
    resp->set_message(t->name + " is pinned to " + now[0] + ", the key " +
                      std::to_string(best->second) + " of " + std::to_string(total) +
                      " vantage point(s) with a key see");
  }
  return grpc::Status::OK;
}

}  // namespace parallax::collector
