// StreamHub: the probe streams connected now, by probe name. A probe name
// connects once: a new stream with a name already connected REPLACES the old
// one (the old stream is finished with ABORTED), because the usual cause is a
// probe that restarted before its old TCP connection timed out; refusing
// would keep a restarted probe out for minutes. Two live processes with one
// name would replace each other in turn: that shows in the log and in
// parallax_ingest_streams_total{event="replaced"}.
//
// Thread-safe (short internal lock).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// What the hub and other threads may do with a stream, whether or not it is
// still alive (calls on a finished stream are ignored).
class StreamLink {
 public:
  virtual ~StreamLink() = default;
  virtual void Send(const v1::CollectorMessage& msg) = 0;
  virtual void Close(int grpc_code, const std::string& message) = 0;
  virtual std::map<std::string, std::string> labels() const = 0;
  virtual std::string peer() const = 0;
};

class StreamHub {
 public:
  // Registers `link` for `probe`; returns the link it replaced, or nullptr.
  std::shared_ptr<StreamLink> Register(const std::string& probe, std::shared_ptr<StreamLink> link);
  // Like Register, but refuses (returns false, registers nothing) when
  // `probe` is not connected already and `max_probes` probes are: the check
  // and the registration are one step, so concurrent Hellos cannot overshoot.
  bool RegisterWithin(const std::string& probe, std::shared_ptr<StreamLink> link, size_t max_probes,
                      std::shared_ptr<StreamLink>* replaced);
  // Removes `probe` only if `link` is still the registered one; returns
  // whether it was.
  bool Unregister(const std::string& probe, const StreamLink* link);
  std::vector<std::pair<std::string, std::shared_ptr<StreamLink>>> All() const;
  size_t size() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<StreamLink>> streams_;
};

}  // namespace parallax::collector
