// HostKeyPins: the SSH host key fingerprints each target is pinned to when
// its config gives none (`host_keys:` / `known_hosts:` win over these):
// pinned on first use by the evaluator, re-pinned by `parallax hostkey
// accept`, persisted through a callback (the store's host_key_pins table)
// and seeded from it at start-up.
//
// Thread-safe (one mutex; the persist callback runs under it, so it must not
// call back into this object).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace parallax::collector {

class HostKeyPins {
 public:
  using Pins = std::map<std::string, std::vector<std::string>>;  // target -> fingerprints
  using Persist = std::function<void(const std::string& target,
                                     const std::vector<std::string>& fingerprints, int64_t at_ms)>;

  void SetPersist(Persist persist);
  void Seed(Pins pins);
  std::vector<std::string> Get(const std::string& target) const;
  // Pins `fingerprints` unless the target has a pin; returns the pin in force.
  std::vector<std::string> PinIfNone(const std::string& target,
                                     const std::vector<std::string>& fingerprints, int64_t at_ms);
  // Replaces the target's pin (empty: unpinned, the next key seen is pinned).
  void Set(const std::string& target, const std::vector<std::string>& fingerprints, int64_t at_ms);

 private:
  mutable std::mutex mu_;
  Pins pins_;
  Persist persist_;
};

}  // namespace parallax::collector
