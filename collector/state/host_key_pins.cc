#include "collector/state/host_key_pins.h"

#include <utility>

namespace parallax::collector {

void HostKeyPins::SetPersist(Persist persist) {
  std::lock_guard<std::mutex> lock(mu_);
  persist_ = std::move(persist);
}

void HostKeyPins::Seed(Pins pins) {
  std::lock_guard<std::mutex> lock(mu_);
  pins_ = std::move(pins);
}

std::vector<std::string> HostKeyPins::Get(const std::string& target) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = pins_.find(target);
  return it == pins_.end() ? std::vector<std::string>{} : it->second;
}

std::vector<std::string> HostKeyPins::PinIfNone(const std::string& target,
                                                const std::vector<std::string>& fingerprints,
                                                int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  auto [it, added] = pins_.try_emplace(target, fingerprints);
  if (!added && it->second.empty()) {
    it->second = fingerprints;
    added = true;
  }
  if (added && persist_ && !fingerprints.empty()) persist_(target, fingerprints, at_ms);
  return it->second;
}

void HostKeyPins::Set(const std::string& target, const std::vector<std::string>& fingerprints,
                      int64_t at_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  if (fingerprints.empty()) {
    pins_.erase(target);
  } else {
    pins_[target] = fingerprints;
  }
  if (persist_) persist_(target, fingerprints, at_ms);
}

}  // namespace parallax::collector
