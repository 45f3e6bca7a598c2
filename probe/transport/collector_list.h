// CollectorList: the collectors a probe may stream to (`--collector
// a:7420,b:7420`) and which one it uses now.
//
// Parse() takes a comma-separated list of HOST:PORT ([v6]:PORT for IPv6);
// one address is the single-collector case of before. Each entry is
// trimmed of spaces and must have a non-empty host and a port 1..65535; an
// empty entry, a missing or bad port, or the same address twice is an
// InvalidArgument naming the offending value.
//
// Rotation: Current() is the address in use; Advance() moves to the next
// one (wrapping around) after the stream to Current() broke or could not be
// established. With one address Advance() keeps it. The probe's reconnect
// backoff (backoff.h) runs between attempts whatever the address: a fleet
// whose collectors are all down does not spin.
//
// Thread-safety: none (the stream client's connection thread owns it).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "common/status.h"

namespace parallax::probe {

class CollectorList {
 public:
  static Status Parse(const std::string& text, CollectorList* out);

  const std::vector<std::string>& addresses() const { return addresses_; }
  size_t size() const { return addresses_.size(); }
  const std::string& Current() const { return addresses_[current_]; }
  size_t current_index() const { return current_; }
  void Advance() {
    if (!addresses_.empty()) current_ = (current_ + 1) % addresses_.size();
  }
  // "a:7420,b:7420", for messages.
  std::string Joined() const;

 private:
  std::vector<std::string> addresses_;
  size_t current_ = 0;
};

}  // namespace parallax::probe
