#include "probe/scheduler/source_addresses.h"

#include <algorithm>
#include <utility>

namespace parallax::probe {

void SourceAddresses::Note(const std::string& address) {
  if (address.empty() || address.size() > 64) return;
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string>& list = address.find(':') != std::string::npos ? v6_ : v4_;
  if (!list.empty() && list.front() == address) return;  // the usual case: no change
  auto it = std::find(list.begin(), list.end(), address);
  if (it != list.end()) {
    list.erase(it);
  } else {
    changed_ = true;
  }
  list.insert(list.begin(), address);
  if (list.size() > kPerFamily) list.resize(kPerFamily);
}

std::vector<std::string> SourceAddresses::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::string> out = v4_;
  out.insert(out.end(), v6_.begin(), v6_.end());
  return out;
}

bool SourceAddresses::TakeChanged() {
  std::lock_guard<std::mutex> lock(mu_);
  return std::exchange(changed_, false);
}

}  // namespace parallax::probe
