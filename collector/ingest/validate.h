// Validation of what probes send. Each function returns an error naming the
// field and the offending value, or Ok. Pure, thread-safe.
#pragma once

#include "common/status.h"
#include "parallax/v1/probe.pb.h"

namespace parallax::collector {

// Hello labels: at most kMaxLabels, each key a Prometheus label name of at
// most kMaxLabelKeyBytes, each value at most kMaxLabelValueBytes of safe text.
inline constexpr int kMaxLabels = 32;
inline constexpr size_t kMaxLabelKeyBytes = 64;
inline constexpr size_t kMaxLabelValueBytes = 256;

Status ValidateHello(const v1::Hello& hello);
// `index` names the result in errors ("results[3].seq: 0 ...").
Status ValidateResult(const v1::CheckResult& result, int index);

}  // namespace parallax::collector
