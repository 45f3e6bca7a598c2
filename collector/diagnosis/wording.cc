#include "collector/diagnosis/wording.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string_view>

#include "common/words.h"

namespace parallax::collector::diagnosis {
namespace {

std::string LivenessText(const v1::CheckResult& r) {
  const v1::Liveness& l = r.liveness();
  std::string out;
  if (l.icmp_attempted()) {
    out += l.icmp_reply()
               ? "ping answers"
               : "no ping reply" + (l.icmp_error().empty() ? "" : " (" + l.icmp_error() + ")");
  }
  for (const v1::PortProbe& p : l.ports()) {
    if (!out.empty()) out += ", ";
    out += "port " + std::to_string(p.port()) + " " +
           (p.outcome() == v1::OUTCOME_OK ? std::string("open")
                                          : std::string(OutcomeWord(p.outcome())));
  }
  return out;
}

std::string DetailOf(const v1::CheckResult& r) {
  std::string d = r.outcome() == v1::OUTCOME_OK ? r.identification() : r.detail();
  if (d.empty() && r.pre_banner_size() > 0) d = "server said: " + r.pre_banner(0);
  std::string live = LivenessText(r);
  if (!live.empty()) d += (d.empty() ? "" : "; ") + live;
  return d;
}

template <typename Strings>
std::string Join(const Strings& items, std::string_view sep = ", ") {
  std::string out;
  for (const auto& s : items) {
    if (!out.empty()) out += sep;
    out += s;
  }
  return out;
}

std::string Plural(size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

const std::string& NetworkOf(const Row& row, std::string* scratch) {
  if (row.facts != nullptr) return row.facts->network;
  *scratch = "probe:" + *row.probe;
  return *scratch;
}

std::vector<std::string> NetworksOf(const Classification& c, const std::vector<uint32_t>& idx) {
  std::vector<std::string> n;
  std::string scratch;
  for (uint32_t i : idx) n.push_back(NetworkOf(c.rows[i], &scratch));
  std::sort(n.begin(), n.end());
  n.erase(std::unique(n.begin(), n.end()), n.end());
  return n;
}

std::vector<std::string> ProbesOf(const Classification& c, const std::vector<uint32_t>& idx) {
  std::vector<std::string> p;
  for (uint32_t i : idx) p.push_back(*c.rows[i].probe);
  return p;
}

const v1::CheckResult& ResultOf(const Classification& c, uint32_t i) {
  return *c.rows[i].observation->result;
}

std::string Summary(const TargetInput& t, const FleetContext& ctx, const Classification& c) {
  const std::string where = "port " + std::to_string(t.port);
  std::string s;
  switch (c.cause) {
    case v1::CAUSE_UNKNOWN:
      s = "No fresh result from any healthy probe: Parallax cannot tell.";
      break;
    case v1::CAUSE_OK:
      s = "SSH answers from " + Plural(c.ok.size(), "vantage point") + " in " +
          Plural(DistinctNetworks(c.rows, c.ok), "network") + ".";
      break;
    case v1::CAUSE_ISP_BLOCK:
      s = "SSH fails only from network " + Join(NetworksOf(c, c.aside)) + " (" +
          Join(ProbesOf(c, c.aside)) + "), which cannot reach SSH on other targets either, while " +
          Plural(c.ok.size(), "vantage point") +
          " elsewhere read it: that network blocks outbound SSH.";
      break;
    case v1::CAUSE_SOURCE_BLOCK:
      s = "SSH fails only from " + Join(ProbesOf(c, c.fail)) + " (" + Join(NetworksOf(c, c.fail)) +
          "), which " + (c.fail.size() == 1 ? "reaches" : "reach") + " other targets, while " +
          Plural(c.ok.size(), "other vantage point") +
          " read it: the host bans or does not allow those sources (fail2ban, "
          "firewall source rules).";
      break;
    case v1::CAUSE_PARTIAL:
      if (c.ok.empty()) {
        std::vector<std::string> parts;
        for (uint32_t i : c.fail) {
          parts.push_back(*c.rows[i].probe + " " +
                          std::string(OutcomeWord(ResultOf(c, i).outcome())));
        }
        s = "Every vantage point fails, but differently (" + Join(parts) +
            "): competing explanations are a per-source block on top of another "
            "fault, or a fault that changed while probes checked.";
      } else {
        s = "SSH fails from " + Join(ProbesOf(c, c.fail)) + " but answers from " +
            Join(ProbesOf(c, c.ok)) + ". Competing explanations: network " +
            Join(NetworksOf(c, c.fail)) +
            " blocks outbound SSH (isp_block), or the host blocks those sources "
            "(source_block); checks of more targets from those probes tell them apart.";
      }
      break;
    default: {
      // Every vantage point fails alike.
      const std::string from = Plural(c.fail.size(), "vantage point") + " in " +
                               Plural(DistinctNetworks(c.rows, c.fail), "network");
      const v1::CheckResult& first = ResultOf(c, c.fail[0]);
      switch (c.cause) {
        case v1::CAUSE_SSH_REFUSED:
          s = "Refused on " + where + " from every vantage point (" + from +
              "): nothing accepts SSH there — sshd stopped, moved to another "
              "port, or a firewall rejects it.";
          break;
        case v1::CAUSE_SSH_UNRESPONSIVE:
          s = "TCP connects on " + where + " from " + from +
              ", but no SSH identification line comes back: sshd overloaded "
              "(MaxStartups), a tarpit, or a middlebox.";
          break;
        case v1::CAUSE_NOT_SSH:
          s = "Another protocol answers on " + where + " (" + from + ")" +
              (first.detail().empty() ? "" : ": " + first.detail()) + ".";
          break;
        case v1::CAUSE_DNS_ERROR:
          s = "The name " + t.host + " does not resolve from " + from + ".";
          break;
        case v1::CAUSE_FIREWALL_BLOCK: {
          uint32_t alive = c.fail[0];
          for (uint32_t i : c.fail) {
            if (AliveEvidence(ResultOf(c, i))) {
              alive = i;
              break;
            }
          }
          s = "SSH on " + where + " is filtered from " + from +
              " (no answer, or ICMP prohibited) while the host is up (" +
              DetailOf(ResultOf(c, alive)) + "): a firewall drops or rejects SSH.";
          break;
        }
        default: {  // host_offline
          bool tried = false;
          for (uint32_t i : c.fail) tried |= LivenessTried(ResultOf(c, i));
          s = "Nothing answers from " + from + ": no SSH" +
              (tried ? ", no ping, no liveness port" : "") +
              " — the host is down or its address unreachable.";
          if (!tried) {
            s += " (No liveness evidence was gathered: a firewall that drops "
                 "everything looks the same; enable ICMP or liveness_ports.)";
          }
        }
      }
    }
  }
  if (!c.aside.empty() && c.cause != v1::CAUSE_ISP_BLOCK) {
    s += " (Failures from network " + Join(ctx.blocked_networks) +
         " are set aside: it blocks SSH to every target.)";
  }
  if (c.cause != v1::CAUSE_PARTIAL && c.cause != v1::CAUSE_UNKNOWN && c.agreeing.size() == 1) {
    s += " Seen from one vantage point only.";
  }
  return s;
}

}  // namespace

std::string Seconds(int64_t ms) {
  char buf[64];
  if (ms < 0) ms = 0;
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%" PRId64 " ms", ms);
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%" PRId64 " min %" PRId64 " s", ms / 60'000,
                  (ms % 60'000) / 1000);
  }
  return buf;
}

std::string HealthReason(const ProbeFacts& f) {
  switch (f.why) {
    case Unhealthy::kNo:
      return "";
    case Unhealthy::kDisconnected:
      return "not connected to the collector";
    case Unhealthy::kSilent:
      return "nothing received for " + Seconds(f.silent_ms);
    case Unhealthy::kIsolated:
      return "fails every target (" + std::to_string(f.fresh) +
             ") and no liveness check answers, while other probes reach them: its own "
             "network looks down";
  }
  return "";
}

Verdict Word(const TargetInput& t, const FleetContext& ctx, const Classification& c) {
  Verdict v;
  v.target = t.name;
  v.cause = c.cause;
  v.confidence = c.confidence;
  v.evidence.reserve(c.rows.size());
  const bool details = c.cause != v1::CAUSE_OK;  // only where they explain something
  for (const Row& row : c.rows) {
    const v1::CheckResult& r = *row.observation->result;
    Evidence& e = v.evidence.emplace_back();
    e.probe = *row.probe;
    if (row.facts != nullptr) {
      e.network = row.facts->network;
    } else {
      e.network = "probe:" + *row.probe;
    }
    e.outcome = r.outcome();
    e.connect_ms = r.connect_us() / 1000.0;
    e.age_s = (ctx.now_ms - row.observation->received_ms) / 1000.0;
    e.alive_evidence = AliveEvidence(r);
    e.role = row.role;
    if (details) e.detail = DetailOf(r);
    if (row.role == v1::ROLE_DISAGREES) v.disagreeing.push_back(*row.probe);
  }
  if (c.cause == v1::CAUSE_ISP_BLOCK) v.blocked_networks = NetworksOf(c, c.aside);
  v.summary = Summary(t, ctx, c);
  v.remediation = Remediation(c.cause);
  return v;
}

}  // namespace parallax::collector::diagnosis
