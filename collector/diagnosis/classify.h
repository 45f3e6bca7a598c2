// Classification: rule 3 of the diagnosis (engine.h) for one target — the
// cause, a Role per evidence row, the agreeing set and the confidence. No
// prose is built here (wording.h does that), so a caller can classify cheaply
// and word only what it shows.
//
// Pure and thread-safe: reads its arguments only. The Classification points
// into `target` and `context`: keep both alive while it is used.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/diagnosis/engine.h"
#include "collector/diagnosis/fleet.h"

namespace parallax::collector::diagnosis {

// Hints the CPU to fetch the first two cache lines of `r` (where the
// outcome and liveness fields sit): results are scattered in memory and a
// full evaluation walks a million of them.
inline void Prefetch(const v1::CheckResult* r) {
  __builtin_prefetch(r);
  __builtin_prefetch(reinterpret_cast<const char*>(r) + 64);
}

// How an SSH outcome fails, for "do they all fail alike?".
enum class Kind { kOk, kRefused, kFiltered, kUnresponsive, kNotSsh, kDns };
Kind KindOf(v1::Outcome o);

// An ICMP reply, or a liveness port that answered (open or refusing).
bool AliveEvidence(const v1::CheckResult& r);
// Liveness evidence was gathered at all (ICMP tried or ports checked).
bool LivenessTried(const v1::CheckResult& r);
// Something on the far side answered this probe (alive evidence, a refusal,
// a TCP connect, another protocol): the probe's own network is not down.
bool SomethingAnswered(const v1::CheckResult& r);

// An ICMP error as the diagnosis reads it (IcmpError type and code, v4 or v6).
enum class Icmp { kNone, kPortUnreachable, kProhibited, kHostUnreachable, kOther };
Icmp IcmpOf(const v1::IcmpError& e);

// What answered the failing vantage points: the ground of the cause, for the
// wording (`witness` is the row that shows it).
enum class Answer {
  kNone,
  kTcpReset,                // ssh_refused: a TCP reset (nothing listens, or a reset rule)
  kIcmpRejectOnHost,        // firewall_block: ICMP port-unreachable/prohibited from the host
  kIcmpProhibitedOnPath,    // firewall_block: admin-prohibited from a router on the path
  kDropHostAlive,           // firewall_block: no answer on SSH, the host answers liveness
  kGatewayHostUnreachable,  // host_offline: a gateway says host unreachable
  kNothing,                 // host_offline: nothing answers at all
  kAltPort,                 // ssh_moved: an alternative port answers with SSH-2
  kServerWords,             // ssh_unresponsive: the server sent lines before closing
  kProtocol,                // not_ssh: `protocol` tells what answered
};

// What answered instead of SSH (not_ssh), from the probe's detail and second opinion.
enum class Protocol {
  kUnknown,
  kSsh1,
  kOtherSshVersion,
  kRedis,
  kHttp,
  kHtml,
  kTls,
  kSmtpOrFtp,
  kPop3,
  kImap,
  kEcho,  // it echoes or quotes the probe's own identification line
  kBinary,
};
Protocol ProtocolOf(const v1::CheckResult& r);

struct Row {
  const std::string* probe = nullptr;  // Observation::probe
  const Observation* observation = nullptr;
  const ProbeFacts* facts = nullptr;  // null: the probe is not in the context
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

struct Classification {
  v1::Cause cause = v1::CAUSE_UNKNOWN;
  double confidence = 0;
  std::vector<Row> rows;  // one per TargetInput::results entry, in its order
  // Indices into rows. Fresh results of healthy probes: reading SSH, failing
  // (outside blocked networks), failing in a blocked network (set aside).
  std::vector<uint32_t> ok, fail, aside;
  std::vector<uint32_t> agreeing;  // the rows that support the cause (empty for partial/unknown)
  size_t agreeing_networks = 0;    // distinct networks among them
  Answer answer = Answer::kNone;   // set for the causes where all fail alike
  // The row that shows `answer` (-1: none); for kTcpReset, a row that found
  // SSH on an alternative port (not every one did, or not on the same port).
  int32_t witness = -1;
  uint32_t moved_port = 0;                 // ssh_moved: the port sshd answers on
  Protocol protocol = Protocol::kUnknown;  // not_ssh
  // dns_mismatch: the addresses (IP text) the failing / reading vantage
  // points checked, sorted, distinct.
  std::vector<std::string> fail_addresses, ok_addresses;
  // Rule 4: ok rows whose host key is not pinned / is pinned.
  std::vector<uint32_t> key_changed, key_pinned;
  // source_block / partial named while a failing vantage point's failure is
  // younger than one interval + timeout (Verdict::provisional).
  bool provisional = false;
};

// The IP of an "ip:port" / "[v6]:port" address text.
std::string HostOfAddress(std::string_view address);

// dns_mismatch (checked before source_block): some fresh vantage points read
// SSH and some fail, they checked two addresses at least, and no address
// has both a failing and a reading vantage point (the outcomes follow the
// address).
bool DnsMismatch(Classification& c);

// probes_banned: two failing vantage points at least, each read SSH before
// its current failures began (the pair's history), their failures began at
// least two intervals apart (probe by probe, not one event seen on each
// probe's own phase), they fail by
// refusal, silence or a cut connection, the host still answers (another
// vantage point reads SSH, or a failing one got an answer from the host), and
// SSH was read after the first failure began (by a vantage point that reads it
// now, or a failing one whose last read began a timeout or more after it):
// one event seen late by slow probes has every read before every failure.
bool ProbesBanned(const Classification& c, int64_t interval_ms, int64_t timeout_ms);

// Distinct networks among rows[idx] (rows of listed probes only: ok, fail,
// aside, agreeing).
size_t DistinctNetworks(const std::vector<Row>& rows, const std::vector<uint32_t>& idx);

Classification Classify(const TargetInput& target, const FleetContext& context);

// Confidence of a cause seen by `agreeing` vantage points in `networks`
// networks: 1 - 0.5^n + 0.05 x (networks - 1), capped at 0.99; 0 for none.
double Confidence(size_t agreeing, size_t networks);

}  // namespace parallax::collector::diagnosis
