// BoundResult: keeps one CheckResult under a size bound so it always fits in
// a batch. Never drops the result: it cuts known free-text fields, in order,
// and marks every cut in the text itself:
//   1. detail beyond 1 KiB            -> "... [truncated by parallax-probe]"
//   2. pre_banner lines from the end  -> a last line
//      "[parallax-probe: N more lines (B bytes) truncated]"
//   3. identification, address, liveness.icmp_error beyond 255 bytes
//   4. liveness ports beyond the first 16
// and sets truncated_bytes to the encoded bytes removed. Pure, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

#include "parallax/v1/probe.pb.h"

namespace parallax::probe {

// Returns the bytes removed (0 if `r` already fit in `max_bytes`).
uint32_t BoundResult(v1::CheckResult* r, size_t max_bytes);

}  // namespace parallax::probe
