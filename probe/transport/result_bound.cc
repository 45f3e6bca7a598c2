#include "probe/transport/result_bound.h"

#include <string>

namespace parallax::probe {
namespace {

constexpr char kMarker[] = " [truncated by parallax-probe]";

void CutString(std::string* s, size_t keep) {
  if (s->size() <= keep) return;
  s->resize(keep);
  s->append(kMarker);
}

}  // namespace

uint32_t BoundResult(v1::CheckResult* r, size_t max_bytes) {
  const size_t before = r->ByteSizeLong();
  if (before <= max_bytes) return 0;
  auto fits = [&] { return r->ByteSizeLong() <= max_bytes; };

  CutString(r->mutable_detail(), 1024);
  if (!fits() && r->pre_banner_size() > 0) {
    size_t lines = 0;
    size_t bytes = 0;
    // Room for the marker line itself.
    while (r->pre_banner_size() > 0 && r->ByteSizeLong() + 64 > max_bytes) {
      bytes += r->pre_banner(r->pre_banner_size() - 1).size();
      ++lines;
      r->mutable_pre_banner()->RemoveLast();
    }
    r->add_pre_banner("[parallax-probe: " + std::to_string(lines) + " more lines (" +
                      std::to_string(bytes) + " bytes) truncated]");
  }
  if (!fits()) {
    CutString(r->mutable_identification(), 255);
    CutString(r->mutable_address(), 255);
    CutString(r->mutable_liveness()->mutable_icmp_error(), 255);
  }
  if (!fits() && r->liveness().ports_size() > 16) {
    r->mutable_liveness()->mutable_ports()->DeleteSubrange(16, r->liveness().ports_size() - 16);
  }
  if (!fits()) {  // a tiny bound: keep the observation, lose the text
    r->clear_pre_banner();
    r->add_pre_banner("[parallax-probe: pre-banner text truncated]");
    CutString(r->mutable_detail(), 64);
    CutString(r->mutable_target(), 255);
  }
  size_t after = r->ByteSizeLong();
  uint32_t removed = static_cast<uint32_t>(before > after ? before - after : 0);
  r->set_truncated_bytes(r->truncated_bytes() + removed);
  return removed;
}

}  // namespace parallax::probe
