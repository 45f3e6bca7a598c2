#include "collector/diagnosis/evidence_proto.h"

#include <string>

namespace parallax::collector::diagnosis {

void SetVerdictFields(const Verdict& v, const std::string& host, uint32_t port, int64_t since_ms,
                      int64_t now_ms, v1::Verdict* out) {
  out->set_target(v.target);
  out->set_host(host);
  out->set_port(port);
  out->set_cause(v.cause);
  out->set_confidence(v.confidence);
  out->set_summary(v.summary);
  out->set_since_unix_ms(since_ms);
  out->set_evaluated_unix_ms(now_ms);
  for (const std::string& d : v.disagreeing) out->add_disagreeing(d);
  for (const std::string& r : v.remediation) out->add_remediation(r);
  for (const std::string& n : v.blocked_networks) out->add_blocked_networks(n);
  for (const std::string& k : v.pinned_keys) out->add_pinned_host_keys(k);
}

void SetWordedEvidence(const Evidence& e, v1::EvidenceItem* item) {
  item->set_probe(e.probe);
  item->set_network(e.network);
  item->set_outcome(e.outcome);
  item->set_connect_ms(e.connect_ms);
  item->set_age_s(e.age_s);
  item->set_detail(e.detail);
  item->set_role(std::string(e.role_word()));
  item->set_role_code(e.role);
  item->set_alive_evidence(e.alive_evidence);
  item->set_host_key_fingerprint(e.host_key_fingerprint);
  item->set_host_key_type(e.host_key_type);
}

void SetResultEvidence(const v1::CheckResult& res, v1::EvidenceItem* item) {
  item->mutable_pre_banner()->CopyFrom(res.pre_banner());
  if (res.has_liveness()) {
    const v1::Liveness& l = res.liveness();
    if (l.has_ssh_icmp_error()) *item->mutable_ssh_icmp_error() = l.ssh_icmp_error();
    if (l.has_path()) *item->mutable_path() = l.path();
    item->set_ssh_answered_on_port(l.ssh_answered_on_port());
  }
  item->set_address(res.address());
  item->mutable_dns_a()->CopyFrom(res.dns_a());
  item->mutable_dns_aaaa()->CopyFrom(res.dns_aaaa());
  item->set_dns_a_error(res.dns_a_error());
  item->set_dns_aaaa_error(res.dns_aaaa_error());
  item->mutable_other_addresses()->CopyFrom(res.other_addresses());
}

}  // namespace parallax::collector::diagnosis
