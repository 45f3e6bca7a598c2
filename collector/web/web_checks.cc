#include "collector/web/web_checks.h"

#include <cmath>
#include <optional>
#include <vector>

#include "collector/cli/render.h"
#include "collector/web/html.h"
#include "common/escape_proto.h"

namespace parallax::collector::web {

using nlohmann::json;

struct WebChecks::Entry {
  std::mutex mu;
  std::string caller;
  int64_t created_ms = 0;
  v1::CheckStarted started;
  std::vector<v1::CheckProbeResult> results;
  std::optional<v1::CheckDone> done;
};

namespace {

// A JSON value in an error message, as JSON: 0, "22", [1].
std::string Value(const json& v) {
  std::string text = v.dump(-1, ' ', true, json::error_handler_t::replace);
  std::string out;
  for (char c : text.substr(0, 100)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return text.size() > 100 ? out + "..." : out;
}

WebCheckReply Fail(int code, std::string message) {
  return {code, json{{"error", std::move(message)}}};
}

// "HOST", "HOST:PORT", "[V6]", "[V6]:PORT" or a bare IPv6 address; the port
// stays 0 when not given.
bool SplitTarget(const std::string& text, std::string* host, uint32_t* port, std::string* error) {
  std::string port_text;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string::npos) {
      *error = "target " + QuoteForMessage(text) + ": no ']' after an IPv6 address";
      return false;
    }
    *host = text.substr(1, close - 1);
    std::string rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        *error = "target " + QuoteForMessage(text) + ": only :PORT may follow [ADDRESS]";
        return false;
      }
      port_text = rest.substr(1);
      if (port_text.empty()) {
        *error = "target " + QuoteForMessage(text) + ": no port after ':'";
        return false;
      }
    }
  } else {
    size_t colon = text.find(':');
    if (colon != std::string::npos && text.find(':', colon + 1) == std::string::npos) {
      *host = text.substr(0, colon);
      port_text = text.substr(colon + 1);
      if (port_text.empty()) {
        *error = "target " + QuoteForMessage(text) + ": no port after ':'";
        return false;
      }
    } else {
      *host = text;  // a name, or an IPv6 address without a port
    }
  }
  *port = 0;
  if (!port_text.empty()) {
    uint32_t p = 0;
    for (char c : port_text) {
      if (c < '0' || c > '9' || p > 65535) {
        p = 0;
        break;
      }
      p = p * 10 + static_cast<uint32_t>(c - '0');
    }
    if (p < 1 || p > 65535) {
      *error = "target " + QuoteForMessage(text) + ": port " + QuoteForMessage(port_text) +
               " is not in 1..65535";
      return false;
    }
    *port = p;
  }
  return true;
}

// The body: the fields, their types and values.
bool ParseRequest(std::string_view body, AdHocRequest* out, std::string* error) {
  json doc = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *error = "the body must be a JSON object such as {\"target\": \"HOST[:PORT]\"}";
    return false;
  }
  for (const auto& [key, value] : doc.items()) {
    if (key != "target" && key != "port" && key != "timeout_s" && key != "probes") {
      *error =
          "unknown field " + QuoteForMessage(key) + " (known: target, port, timeout_s, probes)";
      return false;
    }
  }
  if (!doc.contains("target") || !doc["target"].is_string()) {
    *error = "target: a string HOST[:PORT] is needed";
    return false;
  }
  const std::string target = doc["target"].get<std::string>();
  uint32_t target_port = 0;
  if (!SplitTarget(target, &out->host, &target_port, error)) return false;
  if (Status st = ValidateCheckHost(out->host); !st.ok()) {
    *error = "target " + QuoteForMessage(target) + ": " + st.message();
    return false;
  }
  out->port = target_port;
  if (doc.contains("port") && !doc["port"].is_null()) {
    const json& p = doc["port"];
    if (!p.is_number_integer() || p.get<int64_t>() < 1 || p.get<int64_t>() > 65535) {
      *error = "port " + Value(p) + " is not an integer in 1..65535";
      return false;
    }
    uint32_t port = static_cast<uint32_t>(p.get<int64_t>());
    if (target_port != 0 && target_port != port) {
      *error = "port " + std::to_string(port) + " differs from the port in target " +
               QuoteForMessage(target) + ": give one";
      return false;
    }
    out->port = port;
  }
  if (doc.contains("timeout_s") && !doc["timeout_s"].is_null()) {
    const json& t = doc["timeout_s"];
    double s = t.is_number() ? t.get<double>() : -1;
    if (!(s > 0 && s <= 3600)) {
      *error = "timeout_s " + Value(t) + " is not a number of seconds above 0";
      return false;
    }
    out->timeout = std::chrono::milliseconds(std::max<int64_t>(1, std::llround(s * 1000)));
  }
  if (doc.contains("probes") && !doc["probes"].is_null()) {
    if (!doc["probes"].is_string()) {
      *error = "probes " + Value(doc["probes"]) + " is not a string (a probe selector)";
      return false;
    }
    out->probes = doc["probes"].get<std::string>();
  }
  return true;
}

}  // namespace

WebChecks::WebChecks(Starter start, std::function<int64_t()> now_ms, size_t max_remembered,
                     std::chrono::milliseconds forget_after)
    : start_(std::move(start)),
      now_ms_(std::move(now_ms)),
      max_remembered_(std::max<size_t>(1, max_remembered)),
      forget_after_(forget_after) {}

void WebChecks::ForgetOld(int64_t now) {
  for (auto it = checks_.begin(); it != checks_.end();) {
    it = now - it->second->created_ms >= forget_after_.count() ? checks_.erase(it) : std::next(it);
  }
}

size_t WebChecks::remembered() const {
  std::lock_guard<std::mutex> lock(mu_);
  return checks_.size();
}

WebCheckReply WebChecks::Start(const std::string& caller, std::string_view body) {
  AdHocRequest request;
  std::string error;
  if (!ParseRequest(body, &request, &error)) return Fail(400, error);
  request.caller = caller;
  const int64_t now = now_ms_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ForgetOld(now);
    if (checks_.size() >= max_remembered_) {
      // Forget the oldest finished check; with none finished, refuse.
      auto oldest = checks_.end();
      for (auto it = checks_.begin(); it != checks_.end(); ++it) {
        std::lock_guard<std::mutex> entry_lock(it->second->mu);
        if (!it->second->done) continue;
        if (oldest == checks_.end() || it->second->created_ms < oldest->second->created_ms) {
          oldest = it;
        }
      }
      if (oldest == checks_.end()) {
        return Fail(429, std::to_string(checks_.size()) +
                             " checks of the page are still running: try again in a few seconds");
      }
      checks_.erase(oldest);
    }
  }
  auto entry = std::make_shared<Entry>();
  entry->caller = caller;
  entry->created_ms = now;
  AdHocCallbacks callbacks;
  callbacks.on_result = [entry](const AdHocProbeResult& r) {
    v1::CheckProbeResult result = CheckProbeResultOf(r);
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->results.push_back(std::move(result));
  };
  callbacks.on_done = [entry](const AdHocDone& d) {
    v1::CheckDone done = CheckDoneOf(d);
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->done = std::move(done);
  };
  AdHocStarted started;
  std::string message;
  switch (start_(request, std::move(callbacks), &started, &message)) {
    case AdHocRefusal::kNone:
      break;
    case AdHocRefusal::kInvalidArgument:
      return Fail(400, message);
    case AdHocRefusal::kRateLimited:
    case AdHocRefusal::kTooMany:
      return Fail(429, message);
    case AdHocRefusal::kNoProbes:
      return Fail(503, message);
  }
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    entry->started = CheckStartedOf(started);
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    checks_[started.id] = entry;
  }
  return {202, json{{"id", started.id}, {"href", "/api/check/" + PathEncode(started.id)}}};
}

WebCheckReply WebChecks::Get(const std::string& caller, const std::string& id) {
  std::shared_ptr<Entry> entry;
  const int64_t now = now_ms_();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ForgetOld(now);
    auto it = checks_.find(id);
    if (it != checks_.end() && it->second->caller == caller) entry = it->second;
  }
  if (entry == nullptr) {
    return Fail(404, "no check " + QuoteForMessage(id) +
                         " of yours is remembered (checks are forgotten 5 minutes after they "
                         "started)");
  }
  v1::CheckStarted started;
  std::vector<v1::CheckProbeResult> results;
  std::optional<v1::CheckDone> done;
  {
    std::lock_guard<std::mutex> lock(entry->mu);
    started = TerminalSafeCopy(entry->started);
    for (const v1::CheckProbeResult& r : entry->results) results.push_back(TerminalSafeCopy(r));
    if (entry->done) done = TerminalSafeCopy(*entry->done);
  }
  json doc = cli::CheckJson(started, results, done ? &*done : nullptr);
  doc["done"] = done.has_value();
  for (size_t i = 0; i < results.size(); ++i) {
    doc["results"][i]["class"] = OutcomeClass(results[i].outcome());
  }
  // What `parallax check` prints, so far (no colours).
  std::string text = cli::CheckStartedText(started);
  for (const v1::CheckProbeResult& r : results) text += cli::CheckResultLine(r, false);
  if (done) {
    doc["verdict"]["class"] = CauseClass(done->verdict().cause());
    text += "\n" + cli::ExplainText(done->verdict(), now, false);
    v1::ExplainResponse health;
    for (const v1::ProbeHealth& p : done->probes()) *health.add_probes() = p;
    text += cli::ProbeHealthText(health) +
            cli::CheckUnansweredText(*done, started.timeout_ms() / 1000.0);
  }
  doc["text"] = text;
  return {200, doc};
}

}  // namespace parallax::collector::web
