// SourceAddresses: the local addresses the probe's SSH connects left from
// (CheckResult.source_address), newest first, at most kPerFamily per address
// family, for the heartbeat (Heartbeat.source_addresses): what targets'
// sshd and fail2ban see of this probe. A heartbeat goes out only while no
// results flow, unless one is due: TakeChanged() says when a new address
// must reach the collector (`parallax probes --ignoreip`) at once.
//
// Thread-safe (one short lock): Note() runs on the io thread, Get() on the
// stream's writer thread.
#pragma once

#include <mutex>
#include <string>
#include <vector>

namespace parallax::probe {

class SourceAddresses {
 public:
  static constexpr size_t kPerFamily = 4;
  // Records `address` (an IP text, at most 64 bytes; others are ignored).
  void Note(const std::string& address);
  std::vector<std::string> Get() const;
  // True once after Note() added an address not listed before (a new one,
  // not one that only moved to the front): a heartbeat should carry it now.
  bool TakeChanged();

 private:
  mutable std::mutex mu_;
  std::vector<std::string> v4_, v6_;  // newest first
  bool changed_ = false;
};

}  // namespace parallax::probe
