#include "collector/diagnosis/wording.h"

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <map>
#include <string_view>

#include "common/words.h"

namespace parallax::collector::diagnosis {

namespace {

// Printable ASCII only (others as \xNN, backslashes and, when `quotes`,
// double quotes escaped), cut with "..." at about `max_bytes`.
std::string Escape(std::string_view text, size_t max_bytes, bool quotes) {
  auto plain = [quotes](unsigned char c) {
    return c >= 0x20 && c < 0x7f && !(quotes && (c == '"' || c == '\\'));
  };
  // The usual case (every evidence row of a failing verdict): nothing to do.
  if (text.size() <= max_bytes &&
      std::all_of(text.begin(), text.end(), [&](char c) { return plain(c); })) {
    return std::string(text);
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(std::min(text.size(), max_bytes) + 8);
  for (char ch : text) {
    auto c = static_cast<unsigned char>(ch);
    size_t width = plain(c) ? 1 : (c >= 0x20 && c < 0x7f) ? 2 : 4;
    if (out.size() + width > max_bytes) {
      out += "...";
      break;
    }
    if (width == 1) {
      out += static_cast<char>(c);
    } else if (width == 2) {
      out += '\\';
      out += static_cast<char>(c);
    } else {
      out += {'\\', 'x', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

}  // namespace

std::string Quote(std::string_view text, size_t max_bytes) {
  return "\"" + Escape(text, max_bytes, true) + "\"";
}

namespace {

// Text from a probe (an address, a description, a detail it composed):
// printable and bounded, not quoted.
std::string Safe(std::string_view text, size_t max_bytes = 64) {
  return Escape(text, max_bytes, false);
}

std::string IcmpText(const v1::IcmpError& e) {
  std::string what = e.description().empty()
                         ? "type " + std::to_string(e.type()) + " code " + std::to_string(e.code())
                         : Safe(e.description());
  return "ICMP " + what + " from " + (e.sender().empty() ? "?" : Safe(e.sender())) +
         (e.from_target() ? " (the target itself)" : "");
}

// The liveness evidence in words; only what answered when `answers_only`.
std::string LivenessText(const v1::CheckResult& r, bool answers_only = false) {
  if (!r.has_liveness()) return "";
  const v1::Liveness& l = r.liveness();
  std::string out;
  auto add = [&out](const std::string& part) {
    if (!out.empty()) out += ", ";
    out += part;
  };
  if (answers_only) {
    if (l.icmp_reply()) add("ping answers");
    for (const v1::PortProbe& p : l.ports()) {
      if (p.outcome() == v1::OUTCOME_OK) add("port " + std::to_string(p.port()) + " open");
      if (p.outcome() == v1::OUTCOME_REFUSED) {
        add("port " + std::to_string(p.port()) + " answers with a reset");
      }
    }
    if (l.has_closed_port() && l.closed_port().outcome() == v1::OUTCOME_REFUSED) {
      add("closed port " + std::to_string(l.closed_port().port()) + " answers with a reset");
    }
    if (l.has_ssh_icmp_error() && l.ssh_icmp_error().from_target()) {
      add("the host sent " + IcmpText(l.ssh_icmp_error()));
    }
    return out;
  }
  if (l.has_ssh_icmp_error()) add("SSH connect failed with " + IcmpText(l.ssh_icmp_error()));
  if (l.icmp_attempted()) {
    add(l.icmp_reply()
            ? "ping answers"
            : "no ping reply" + (l.icmp_error().empty() ? "" : " (" + Safe(l.icmp_error()) + ")"));
  }
  for (const v1::PortProbe& p : l.ports()) {
    add("port " + std::to_string(p.port()) + " " +
        (p.outcome() == v1::OUTCOME_OK ? std::string("open")
                                       : std::string(OutcomeWord(p.outcome()))));
  }
  if (l.has_closed_port()) {
    const v1::PortProbe& p = l.closed_port();
    add("closed port " + std::to_string(p.port()) + " " +
        (p.outcome() == v1::OUTCOME_REFUSED ? std::string("answers with a reset (the host is up)")
         : p.outcome() == v1::OUTCOME_OK    ? std::string("accepts a connection")
                                            : std::string(OutcomeWord(p.outcome()))));
  }
  for (const v1::AltPortProbe& a : l.alt_ports()) {
    add("port " + std::to_string(a.port()) + " " +
        (a.outcome() == v1::OUTCOME_OK ? "answers " + Quote(a.identification(), 80)
                                       : std::string(OutcomeWord(a.outcome()))));
  }
  return out;
}

// Up to three of the server's own lines, quoted, within ~120 bytes.
std::string ServerWords(const v1::CheckResult& r) {
  std::string out;
  size_t room = 120;
  for (int i = 0; i < r.pre_banner_size() && i < 3 && room > 8; ++i) {
    std::string q = Quote(r.pre_banner(i), room);
    room = q.size() >= room ? 0 : room - q.size();
    out += (out.empty() ? "" : " / ") + q;
  }
  return out;
}

std::string ProtocolText(Protocol p) {
  switch (p) {
    case Protocol::kSsh1:
      return "speaks SSH protocol 1 only (OpenSSH refuses it: \"Protocol major versions "
             "differ\")";
    case Protocol::kOtherSshVersion:
      return "speaks an SSH version other than 2.0 or 1.99";
    case Protocol::kRedis:
      return "a Redis server (it answered with a RESP error)";
    case Protocol::kHttp:
      return "an HTTP server";
    case Protocol::kHtml:
      return "an HTTP server (it sent an HTML document)";
    case Protocol::kTls:
      return "a TLS service (it answered a TLS ClientHello)";
    case Protocol::kSmtpOrFtp:
      return "an SMTP or FTP server";
    case Protocol::kPop3:
      return "a POP3 server";
    case Protocol::kImap:
      return "an IMAP server";
    case Protocol::kEcho:
      return "something that echoes what it receives (it sent back the probe's own "
             "identification line)";
    case Protocol::kBinary:
      return "a service that sends binary data";
    case Protocol::kUnknown:
      break;
  }
  return "";
}

std::string DetailOf(const v1::CheckResult& r) {
  std::string d = Safe(r.outcome() == v1::OUTCOME_OK ? r.identification() : r.detail(), 256);
  if (r.pre_banner_size() > 0) d += (d.empty() ? "" : "; ") + ("server said: " + ServerWords(r));
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

// "SHA256:abc (ssh-ed25519)" of row i's host key, escaped.
std::string KeyText(const Classification& c, uint32_t i) {
  const v1::HostKey& k = *c.rows[i].observation->host_key;
  return Safe(k.fingerprint(), 60) + " (" + Safe(k.type(), 32) + ")";
}

// The distinct keys of rows[idx] with the networks that see each, e.g.
// "SHA256:x (ssh-ed25519) from isp-a (p1, p2)".
std::string KeysByNetwork(const Classification& c, const std::vector<uint32_t>& idx) {
  std::map<std::string, std::vector<uint32_t>> by_key;
  for (uint32_t i : idx) by_key[KeyText(c, i)].push_back(i);
  std::vector<std::string> parts;
  for (const auto& [key, rows] : by_key) {
    parts.push_back(key + " from " + Join(NetworksOf(c, rows)) + " (" + Join(ProbesOf(c, rows)) +
                    ")");
  }
  return Join(parts, "; ");
}

std::string HostKeySummary(const TargetInput& t, const Classification& c) {
  std::vector<std::string> pins;
  for (const std::string& p : t.pinned_keys) pins.push_back(Safe(p, 60));
  const std::string pinned = Join(pins, " or ");
  const std::string name = Safe(t.name, 128);
  if (c.cause == v1::CAUSE_HOSTKEY_CHANGED) {
    return "SSH answers with a different host key from every vantage point (" +
           Plural(c.key_changed.size(), "vantage point") + " in " +
           Plural(DistinctNetworks(c.rows, c.key_changed), "network") +
           "): " + KeysByNetwork(c, c.key_changed) + ", not the pinned " + pinned +
           ". Either the host was rebuilt or its keys regenerated (legitimate), or it was "
           "compromised or replaced: confirm with its admin before logging in. If planned, "
           "remove the old key on clients (ssh-keygen -R " +
           Safe(t.host, 128) + ") and re-pin it (parallax hostkey accept " + name + ").";
  }
  return "SSH answers with a different host key from some networks only: " +
         KeysByNetwork(c, c.key_changed) + ", while " + KeysByNetwork(c, c.key_pinned) +
         " sees the pinned key " + pinned +
         ". Those networks reach another host or an interceptor: a TLS/SSH-intercepting "
         "middlebox, a wrong host behind a reused address, or split DNS.";
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
    case v1::CAUSE_HOSTKEY_CHANGED:
    case v1::CAUSE_HOSTKEY_MISMATCH:
      s = HostKeySummary(t, c);
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
    case v1::CAUSE_DNS_MISMATCH: {
      std::vector<std::string> fail_addresses, ok_addresses;
      for (const std::string& a : c.fail_addresses) fail_addresses.push_back(Safe(a));
      for (const std::string& a : c.ok_addresses) ok_addresses.push_back(Safe(a));
      std::vector<std::string> nets = NetworksOf(c, c.fail);
      s = Join(nets) + (nets.size() == 1 ? " resolves " : " resolve ") + Safe(t.host, 253) +
          " to " + Join(fail_addresses) + ", the others to " + Join(ok_addresses) +
          "; SSH fails only at " +
          (fail_addresses.size() == 1 ? "that address" : "those addresses") + " (" +
          Join(ProbesOf(c, c.fail)) +
          "): a stale DNS record or resolver cache, or a split-DNS view, sends them to an address "
          "where SSH does not answer.";
      break;
    }
    case v1::CAUSE_PROBES_BANNED: {
      std::vector<std::pair<int64_t, std::string>> order;
      std::vector<std::string> addresses;
      bool any_ok = !c.ok.empty();
      for (uint32_t i : c.fail) {
        order.emplace_back(c.rows[i].observation->failing_since_ms, *c.rows[i].probe);
      }
      std::sort(order.begin(), order.end());
      std::vector<std::string> seq;
      // Relative to the first failure (never to now: a verdict's words stay
      // the same until its inputs change).
      for (const auto& [since, probe] : order) {
        seq.push_back(seq.empty() ? probe + " first"
                                  : probe + " " + Seconds(since - order.front().first) + " later");
      }
      for (const Row& row : c.rows) {
        std::string_view a = row.observation->source_address;
        if (!a.empty()) addresses.push_back(Safe(a));
      }
      std::sort(addresses.begin(), addresses.end());
      addresses.erase(std::unique(addresses.begin(), addresses.end()), addresses.end());
      s = "SSH on " + where + " fails probe by probe, each right after it had read SSH (" +
          Join(seq) + "), while " +
          (any_ok
               ? Join(ProbesOf(c, c.ok)) + " still " + (c.ok.size() == 1 ? "reads" : "read") + " it"
               : std::string("the host still answers")) +
          ": the host bans the probes themselves (fail2ban in mode aggressive/ddos, sshd "
          "PerSourcePenalties): exempt the probes (" +
          (addresses.empty() ? std::string("parallax probes --ignoreip lists their addresses")
                             : Join(addresses)) +
          ").";
      break;
    }
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
        case v1::CAUSE_SSH_REFUSED: {
          s = "Refused on " + where + " from every vantage point (" + from +
              "): the host answers with a TCP reset, so nothing listens there — sshd "
              "stopped, or listens on another port or address.";
          if (c.witness >= 0) {  // some, not all, found SSH elsewhere
            const auto i = static_cast<uint32_t>(c.witness);
            s += " (" + *c.rows[i].probe + " found SSH on port " +
                 std::to_string(ResultOf(c, i).liveness().ssh_answered_on_port()) + ".)";
          }
          s += " A firewall rule can send resets too (reject with tcp reset): if sshd "
               "runs, check the host's firewall.";
          break;
        }
        case v1::CAUSE_SSH_MOVED: {
          const v1::CheckResult& w = ResultOf(c, static_cast<uint32_t>(c.witness));
          std::string id;
          for (const v1::AltPortProbe& a : w.liveness().alt_ports()) {
            if (a.port() == c.moved_port && !a.identification().empty()) {
              id = " (" + Quote(a.identification(), 80) + ")";
            }
          }
          s = "sshd answers on " + std::to_string(c.moved_port) + ", not on " +
              std::to_string(t.port) + ": " + where + " refuses from every vantage point (" + from +
              ") while port " + std::to_string(c.moved_port) +
              " answers with an SSH identification" + id + ".";
          break;
        }
        case v1::CAUSE_SSH_UNRESPONSIVE:
          s = "TCP connects on " + where + " from " + from +
              ", but no SSH identification line comes back";
          if (c.answer == Answer::kServerWords) {
            s += "; the server says " + ServerWords(ResultOf(c, static_cast<uint32_t>(c.witness))) +
                 " before closing: sshd (or a wrapper in front of it) turns connections away "
                 "(MaxStartups, a connection limit, TCP wrappers).";
          } else {
            s += ": sshd overloaded (MaxStartups), a tarpit, or a middlebox.";
          }
          break;
        case v1::CAUSE_NOT_SSH: {
          std::string what = ProtocolText(c.protocol);
          if (c.protocol == Protocol::kSsh1 || c.protocol == Protocol::kOtherSshVersion) {
            s = "The server on " + where + " " + what + " (" + from + ")";
          } else {
            s = "Another protocol answers on " + where + " (" + from + ")" +
                (what.empty() ? "" : ": " + what);
          }
          s += first.detail().empty() ? "." : " — " + Safe(first.detail(), 120) + ".";
          break;
        }
        case v1::CAUSE_DNS_ERROR:
          s = "The name " + t.host + " does not resolve from " + from + ".";
          break;
        case v1::CAUSE_FIREWALL_BLOCK: {
          const v1::CheckResult& w = ResultOf(c, static_cast<uint32_t>(c.witness));
          if (c.answer == Answer::kIcmpRejectOnHost) {
            s = "SSH on " + where + " is rejected by the host itself from " + from +
                ": it "
                "answers with " +
                IcmpText(w.liveness().ssh_icmp_error()) +
                " instead of a TCP reset — a REJECT rule in the host's firewall (nftables/"
                "iptables reject), not a stopped sshd.";
          } else if (c.answer == Answer::kIcmpProhibitedOnPath) {
            const v1::IcmpError& e = w.liveness().ssh_icmp_error();
            s = "SSH on " + where + " is rejected on the way from " + from + ": router " +
                Safe(e.sender()) + " answers with ICMP " +
                (e.description().empty() ? "administratively prohibited" : Safe(e.description())) +
                " — a firewall at " + Safe(e.sender()) + " on the path, not the host.";
          } else {
            s = "SSH on " + where + " gets no answer from " + from + " while the host is up (" +
                LivenessText(w, /*answers_only=*/true) + "): a firewall drops SSH.";
          }
          break;
        }
        default: {  // host_offline
          bool tried = false;
          for (uint32_t i : c.fail) tried |= LivenessTried(ResultOf(c, i));
          s = "Nothing answers from " + from + ": no SSH" +
              (tried ? ", no ping, no liveness port" : "") +
              " — the host is down or its address unreachable.";
          if (c.answer == Answer::kGatewayHostUnreachable) {
            const v1::IcmpError& e =
                ResultOf(c, static_cast<uint32_t>(c.witness)).liveness().ssh_icmp_error();
            s += " The gateway " + Safe(e.sender()) + " says so: " + IcmpText(e) + ".";
          }
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

std::string HealthReason(const ProbeFacts& f, std::string_view error_detail) {
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
    case Unhealthy::kProbeErrors:
      return "cannot run checks: " + std::to_string(f.probe_errors) + " of its " +
             std::to_string(f.probe_errors + f.fresh) + " fresh checks ended in probe_error" +
             (error_detail.empty() ? "" : " (" + Quote(error_detail, 120) + ")") +
             "; a probe-side failure, never counted against a target";
    case Unhealthy::kSshEgressBlocked:
      return "cannot reach SSH on any of its " + std::to_string(f.fresh) +
             " targets while other probes (in its own network too) reach them, and its "
             "liveness checks answer: outbound SSH is filtered where it sits (an egress "
             "firewall or proxy in front of this probe); its results are excluded";
  }
  return "";
}

bool SameWording(const Verdict& previous, const TargetInput& t, const Classification& c) {
  if (c.cause != v1::CAUSE_OK || previous.cause != v1::CAUSE_OK || previous.target != t.name ||
      previous.confidence != c.confidence || previous.evidence.size() != c.rows.size() ||
      previous.port_worded != t.port || previous.pinned_keys != t.pinned_keys) {
    return false;
  }
  for (size_t i = 0; i < c.rows.size(); ++i) {
    const Row& row = c.rows[i];
    const Evidence& e = previous.evidence[i];
    const v1::CheckResult& r = *row.observation->result;
    if (e.role != row.role || e.outcome != r.outcome() || e.probe != *row.probe ||
        e.alive_evidence != AliveEvidence(r)) {
      return false;
    }
    // The host key as Word() writes it (Safe(): a fingerprint or type that
    // needed escaping never compares equal, so it is worded again).
    const v1::HostKey* k = row.observation->host_key;
    if (e.host_key_fingerprint != (k != nullptr ? std::string_view(k->fingerprint()) : "") ||
        e.host_key_type != (k != nullptr ? std::string_view(k->type()) : "")) {
      return false;
    }
    if (row.facts != nullptr ? e.network != row.facts->network
                             : e.network.compare(0, 6, "probe:") != 0 ||
                                   e.network.compare(6, std::string::npos, *row.probe) != 0) {
      return false;
    }
  }
  return true;
}

Verdict Word(const TargetInput& t, const FleetContext& ctx, const Classification& c) {
  Verdict v;
  v.target = t.name;
  v.port_worded = t.port;
  v.cause = c.cause;
  v.confidence = c.confidence;
  v.provisional = c.provisional;
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
    if (const v1::HostKey* k = row.observation->host_key; k != nullptr) {
      e.host_key_fingerprint = Safe(k->fingerprint(), 60);
      e.host_key_type = Safe(k->type(), 32);
    }
    if (details) e.detail = DetailOf(r);
    if (row.role == v1::ROLE_DISAGREES) v.disagreeing.push_back(*row.probe);
  }
  if (c.cause == v1::CAUSE_ISP_BLOCK) v.blocked_networks = NetworksOf(c, c.aside);
  v.pinned_keys = t.pinned_keys;
  v.summary = Summary(t, ctx, c);
  v.remediation = Remediation(c.cause);
  if (c.cause == v1::CAUSE_SSH_MOVED) {
    const std::string moved = std::to_string(c.moved_port);
    v.remediation.insert(v.remediation.begin(),
                         "Connect with ssh -p " + moved + ", or set port: " + moved +
                             " for this target in Parallax's config if the move is intended");
  }
  return v;
}

}  // namespace parallax::collector::diagnosis
