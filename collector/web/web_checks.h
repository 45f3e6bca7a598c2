// WebChecks: the status page's "check now" box on the collector's side
// (docs/WEB.md). The page cannot hold a stream open through the synchronous
// request handler, so a check is started by one request and read by others:
//
//   POST /api/check  {"target": "HOST[:PORT]", "port": 2222, "timeout_s": 5,
//                     "probes": "network=isp-a"}        -> 202 {"id": ...}
//   GET  /api/check/ID -> 200 <parallax check -o json> plus "done", "text"
//                         (the CLI's own words so far) and colour classes
//
// Start() parses and validates the body (400 naming the field and value),
// hands the check to AdHocChecks (through `start`, so its guard rails apply:
// 400 for a bad host/port/timeout/selector, 429 for the per-caller rate
// limit or the cap on concurrent checks, 503 when no probe can be asked) and
// remembers the events as they arrive. Get() answers only the caller who
// started the check (anyone else, an unknown or a forgotten id: 404).
//
// Bounds: at most `max_remembered` checks are remembered (plus, briefly, one
// per Start() in flight; the oldest finished one is forgotten for a new
// one; when all are still running, 429), each is
// forgotten `forget_after` after it started; at most one result per asked
// probe is kept (AdHocChecks delivers no more).
//
// Every string from a probe or a server is escaped as for a terminal
// (common/escape_proto.h) before it goes into a document; the page inserts
// it with textContent.
//
// Thread-safety: every method may be called from any thread; the events of
// AdHocChecks arrive on its threads. The callbacks hold the check's state
// (not this object), so they may outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "collector/adhoc/ad_hoc_checks.h"

namespace parallax::collector::web {

struct WebCheckReply {
  int code = 200;
  nlohmann::json doc;  // {"error": "..."} unless 2xx
};

class WebChecks {
 public:
  using Starter =
      std::function<AdHocRefusal(const AdHocRequest&, AdHocCallbacks, AdHocStarted*, std::string*)>;
  static constexpr size_t kMaxRemembered = 64;
  static constexpr std::chrono::milliseconds kForgetAfter = std::chrono::minutes(5);

  WebChecks(Starter start, std::function<int64_t()> now_ms, size_t max_remembered = kMaxRemembered,
            std::chrono::milliseconds forget_after = kForgetAfter);
  WebChecks(const WebChecks&) = delete;
  WebChecks& operator=(const WebChecks&) = delete;

  // `caller`: the identity the rate limit counts ("admin:alice",
  // "ipv4:127.0.0.1"); `body`: the request's JSON text.
  WebCheckReply Start(const std::string& caller, std::string_view body);
  WebCheckReply Get(const std::string& caller, const std::string& id);
  size_t remembered() const;

  struct Entry;

 private:
  void ForgetOld(int64_t now);  // mu_ held

  Starter start_;
  std::function<int64_t()> now_ms_;
  size_t max_remembered_;
  std::chrono::milliseconds forget_after_;
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Entry>> checks_;  // by id
};

}  // namespace parallax::collector::web
