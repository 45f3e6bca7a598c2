#include "collector/auth/hello_check.h"

#include "common/escape.h"

namespace parallax::collector {
namespace {

std::string Q(const std::string& s) { return "\"" + EscapeForTerminal(s) + "\""; }

}  // namespace

Status CheckHelloIdentity(const PeerIdentity& who, const v1::Hello& hello, const Config* config) {
  const std::string& name = hello.probe_name();
  if (who.authenticated) {
    if (who.role != PeerRole::kProbe) {
      return Status::InvalidArgument("hello as probe " + Q(name) + " refused: the certificate is " +
                                     who.Describe() + ", not a probe's");
    }
    if (name != who.name) {
      return Status::InvalidArgument(
          "hello names probe " + Q(name) + " but the client certificate is probe " + Q(who.name) +
          " (serial " + who.serial + "): a probe may only connect under its certificate's name");
    }
  }
  if (config == nullptr) return Status::Ok();
  auto it = config->probes.find(name);
  if (it == config->probes.end()) return Status::Ok();
  for (const auto& [key, pinned] : it->second.pinned_labels) {
    auto got = hello.labels().find(key);
    if (got == hello.labels().end() || got->second != pinned) {
      return Status::InvalidArgument(
          "hello of probe " + Q(name) + " refused: label " + key + "=" +
          (got == hello.labels().end() ? std::string("(missing)") : Q(got->second)) +
          ", but the collector config pins " + key + "=" + Q(pinned) + " (probes." + name +
          ".labels." + key + ")");
    }
  }
  return Status::Ok();
}

}  // namespace parallax::collector
