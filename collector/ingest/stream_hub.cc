#include "collector/ingest/stream_hub.h"

namespace parallax::collector {

std::shared_ptr<StreamLink> StreamHub::Register(const std::string& probe,
                                                std::shared_ptr<StreamLink> link) {
  std::lock_guard<std::mutex> lock(mu_);
  std::shared_ptr<StreamLink>& slot = streams_[probe];
  std::shared_ptr<StreamLink> old = std::move(slot);
  slot = std::move(link);
  return old;
}

bool StreamHub::RegisterWithin(const std::string& probe, std::shared_ptr<StreamLink> link,
                               size_t max_probes, std::shared_ptr<StreamLink>* replaced) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(probe);
  if (it == streams_.end()) {
    if (streams_.size() >= max_probes) return false;
    streams_.emplace(probe, std::move(link));
    replaced->reset();
    return true;
  }
  *replaced = std::move(it->second);
  it->second = std::move(link);
  return true;
}

bool StreamHub::Unregister(const std::string& probe, const StreamLink* link) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = streams_.find(probe);
  if (it == streams_.end() || it->second.get() != link) return false;
  streams_.erase(it);
  return true;
}

std::vector<std::pair<std::string, std::shared_ptr<StreamLink>>> StreamHub::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {streams_.begin(), streams_.end()};
}

size_t StreamHub::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return streams_.size();
}

}  // namespace parallax::collector
