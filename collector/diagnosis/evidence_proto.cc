#include "collector/diagnosis/evidence_proto.h"

#include <string>

namespace parallax::collector::diagnosis {

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
