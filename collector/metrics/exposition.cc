#include "collector/metrics/exposition.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace parallax::collector {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void WriteDouble(double value, std::string* out) {
  if (std::isnan(value)) {
    out->append("Nan");
  } else if (std::isinf(value)) {
    out->append(value < 0 ? "-Inf" : "+Inf");
  } else {
    // "%.16g", what prometheus-cpp's ostream (precision 16) writes.
    char buf[40];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::general, 16);
    out->append(buf, ec == std::errc() ? end : buf);
  }
}

void AppendInt(uint64_t value, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out->append(buf, end);
}

void WriteLabelValue(std::string_view value, std::string* out) {
  size_t start = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    if (c != '\\' && c != '"' && c != '\n') continue;
    out->append(value.data() + start, i - start);
    out->push_back('\\');
    out->push_back(c == '\n' ? 'n' : c);
    start = i + 1;
  }
  out->append(value.data() + start, value.size() - start);
}

// The name, the labels (plus one extra label when extra_name is set) and the
// space before the value.
void AppendHead(const MetricFamily& family, const ClientMetric& metric, std::string_view suffix,
                std::string_view extra_name, std::string_view extra_value, std::string* out) {
  out->append(family.name);
  out->append(suffix);
  if (!metric.label.empty() || !extra_name.empty()) {
    out->push_back('{');
    bool first = true;
    for (const auto& label : metric.label) {
      if (!first) out->push_back(',');
      first = false;
      out->append(label.name);
      out->append("=\"");
      WriteLabelValue(label.value, out);
      out->push_back('"');
    }
    if (!extra_name.empty()) {
      if (!first) out->push_back(',');
      out->append(extra_name);
      out->append("=\"");
      out->append(extra_value);
      out->push_back('"');
    }
    out->push_back('}');
  }
  out->push_back(' ');
}

void AppendHead(const MetricFamily& family, const ClientMetric& metric, std::string_view suffix,
                std::string* out) {
  AppendHead(family, metric, suffix, {}, {}, out);
}

void AppendTail(const ClientMetric& metric, std::string* out) {
  if (metric.timestamp_ms != 0) {
    out->push_back(' ');
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, metric.timestamp_ms);
    out->append(buf, end);
  }
  out->push_back('\n');
}

std::string DoubleText(double value) {
  std::string s;
  WriteDouble(value, &s);
  return s;
}

void AppendValueLine(const MetricFamily& family, const ClientMetric& metric, double value,
                     std::string* out) {
  AppendHead(family, metric, {}, out);
  WriteDouble(value, out);
  AppendTail(metric, out);
}

void AppendSummary(const MetricFamily& family, const ClientMetric& metric, std::string* out) {
  const auto& sum = metric.summary;
  AppendHead(family, metric, "_count", out);
  AppendInt(sum.sample_count, out);
  AppendTail(metric, out);
  AppendHead(family, metric, "_sum", out);
  WriteDouble(sum.sample_sum, out);
  AppendTail(metric, out);
  for (const auto& q : sum.quantile) {
    AppendHead(family, metric, {}, "quantile", DoubleText(q.quantile), out);
    WriteDouble(q.value, out);
    AppendTail(metric, out);
  }
}

void AppendHistogram(const MetricFamily& family, const ClientMetric& metric, std::string* out) {
  const auto& hist = metric.histogram;
  AppendHead(family, metric, "_count", out);
  AppendInt(hist.sample_count, out);
  AppendTail(metric, out);
  AppendHead(family, metric, "_sum", out);
  WriteDouble(hist.sample_sum, out);
  AppendTail(metric, out);
  double last = -std::numeric_limits<double>::infinity();
  for (const auto& b : hist.bucket) {
    AppendHead(family, metric, "_bucket", "le", DoubleText(b.upper_bound), out);
    last = b.upper_bound;
    AppendInt(b.cumulative_count, out);
    AppendTail(metric, out);
  }
  if (last != std::numeric_limits<double>::infinity()) {
    AppendHead(family, metric, "_bucket", "le", "+Inf", out);
    AppendInt(hist.sample_count, out);
    AppendTail(metric, out);
  }
}

void AppendHelp(std::string_view help, std::string* out) {
  for (char c : help) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else {
      out->push_back(c);
    }
  }
}

const char* TypeWord(MetricType type) {
  switch (type) {
    case MetricType::Counter:
      return "counter";
    case MetricType::Gauge:
      return "gauge";
    case MetricType::Summary:
      return "summary";
    case MetricType::Histogram:
      return "histogram";
    case MetricType::Untyped:
      break;
  }
  return "untyped";
}

}  // namespace

void AppendDouble(double value, std::string* out) { WriteDouble(value, out); }

void AppendLabelValue(std::string_view value, std::string* out) { WriteLabelValue(value, out); }

void AppendFamilyHeader(std::string_view name, std::string_view help, MetricType type,
                        std::string* out) {
  if (!help.empty()) {
    out->append("# HELP ");
    out->append(name);
    out->push_back(' ');
    AppendHelp(help, out);
    out->push_back('\n');
  }
  out->append("# TYPE ");
  out->append(name);
  out->push_back(' ');
  out->append(TypeWord(type));
  out->push_back('\n');
}

void AppendExposition(const std::vector<MetricFamily>& families, std::string* out) {
  for (const MetricFamily& family : families) {
    AppendFamilyHeader(family.name, family.help, family.type, out);
    for (const ClientMetric& metric : family.metric) {
      switch (family.type) {
        case MetricType::Counter:
          AppendValueLine(family, metric, metric.counter.value, out);
          break;
        case MetricType::Gauge:
          AppendValueLine(family, metric, metric.gauge.value, out);
          break;
        case MetricType::Untyped:
          AppendValueLine(family, metric, metric.untyped.value, out);
          break;
        case MetricType::Summary:
          AppendSummary(family, metric, out);
          break;
        case MetricType::Histogram:
          AppendHistogram(family, metric, out);
          break;
      }
    }
  }
}

}  // namespace parallax::collector
