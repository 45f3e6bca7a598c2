// Exposition: the Prometheus text format (version 0.0.4) written from
// prometheus-cpp's MetricFamily structures into one string, byte for byte what
// prometheus::TextSerializer writes (same escaping, same number formatting:
// 16 significant digits, "Nan", "+Inf"/"-Inf"), without its per-character
// ostream writes: at 100 probes x 1,000 targets (half a million series) the
// serializer was ~95% of a /metrics render (docs/PERFORMANCE.md).
//
// Escaping: HELP text escapes backslash and newline; label values escape
// backslash, double quote and newline (the format's rules). Names are written
// as given: they come from our own code, never from a probe.
//
// Thread-safety: pure functions.
#pragma once

#include <prometheus/metric_family.h>

#include <string>
#include <string_view>
#include <vector>

namespace parallax::collector {

// Appends every family to *out (nothing is cleared).
void AppendExposition(const std::vector<prometheus::MetricFamily>& families, std::string* out);

// The pieces, for renderers that write series without building a
// MetricFamily (collector/metrics/state_collectable.cc): the "# HELP" (when
// help is not empty) and "# TYPE" lines; a value as the format spells it; a
// label value with its escapes (without the quotes).
void AppendFamilyHeader(std::string_view name, std::string_view help, prometheus::MetricType type,
                        std::string* out);
void AppendDouble(double value, std::string* out);
void AppendLabelValue(std::string_view value, std::string* out);

// The Content-Type of that text.
inline constexpr char kExpositionContentType[] = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace parallax::collector
