// The exposition writer against prometheus-cpp's own TextSerializer: the
// same bytes for every metric type, label escapes, timestamps and numbers
// (random values over the whole double range), and HELP text escaped as the
// format asks (prometheus-cpp 1.0.1 writes it raw).
#include "collector/metrics/exposition.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

namespace parallax::collector {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

std::string Ours(const std::vector<MetricFamily>& families) {
  std::string out;
  AppendExposition(families, &out);
  return out;
}

std::string Theirs(const std::vector<MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

double RandomDouble(std::mt19937_64& rng) {
  switch (rng() % 6) {
    case 0:
      return static_cast<double>(rng() % 1000);
    case 1:
      return std::ldexp(static_cast<double>(rng() % 1000000), static_cast<int>(rng() % 200) - 100);
    case 2: {
      uint64_t bits = rng();
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return std::isnan(d) ? 0.5 : d;
    }
    case 3:
      return -static_cast<double>(rng() % 100) / 7.0;
    case 4:
      return std::numeric_limits<double>::infinity() * ((rng() % 2) ? 1 : -1);
    default:
      return 1.7e12 + static_cast<double>(rng() % 100000) / 1000.0;
  }
}

std::string RandomValue(std::mt19937_64& rng) {
  static const char kChars[] = "ab\\\"\n{}=, \x01\xc3\xa9z";
  std::string s;
  for (size_t n = rng() % 8; n > 0; --n) s.push_back(kChars[rng() % (sizeof kChars - 1)]);
  return s;
}

TEST(Exposition, SameBytesAsPrometheusCppForEveryType) {
  std::mt19937_64 rng(7);
  std::vector<MetricFamily> families;
  const MetricType types[] = {MetricType::Counter, MetricType::Gauge, MetricType::Untyped,
                              MetricType::Summary, MetricType::Histogram};
  for (int f = 0; f < 60; ++f) {
    MetricFamily family;
    family.name = "parallax_family_" + std::to_string(f);
    family.help = f % 3 == 0 ? "" : "Help text " + std::to_string(f) + ", with: punctuation.";
    family.type = types[f % 5];
    for (int m = 0; m < 20; ++m) {
      ClientMetric metric;
      for (size_t l = rng() % 4; l > 0; --l) {
        metric.label.push_back({"label_" + std::to_string(l), RandomValue(rng)});
      }
      metric.counter.value = std::abs(RandomDouble(rng));
      metric.gauge.value = RandomDouble(rng);
      metric.untyped.value = RandomDouble(rng);
      if (rng() % 4 == 0) metric.timestamp_ms = static_cast<int64_t>(rng() % 2'000'000'000'000);
      metric.summary.sample_count = rng() % 1000;
      metric.summary.sample_sum = RandomDouble(rng);
      for (size_t q = rng() % 3; q > 0; --q) {
        metric.summary.quantile.push_back({static_cast<double>(q) / 4, RandomDouble(rng)});
      }
      metric.histogram.sample_count = rng() % 1000;
      metric.histogram.sample_sum = RandomDouble(rng);
      double bound = 0.001;
      for (size_t b = rng() % 6; b > 0; --b) {
        metric.histogram.bucket.push_back({rng() % 100, bound});
        bound *= 3.7;
      }
      if (rng() % 2) {
        metric.histogram.bucket.push_back({rng() % 100, std::numeric_limits<double>::infinity()});
      }
      family.metric.push_back(std::move(metric));
    }
    families.push_back(std::move(family));
  }
  const std::string ours = Ours(families), theirs = Theirs(families);
  ASSERT_GT(ours.size(), 10000u);
  EXPECT_EQ(ours, theirs);
}

TEST(Exposition, EscapesLabelValuesAndHelp) {
  MetricFamily family;
  family.name = "parallax_x";
  family.help = "one\\two\nthree";
  family.type = MetricType::Gauge;
  ClientMetric metric;
  metric.label.push_back({"banner", "SSH-2.0-\"evil\"\\\n} 1\nparallax_x 2"});
  metric.gauge.value = 0.25;
  family.metric.push_back(metric);
  EXPECT_EQ(Ours({family}),
            "# HELP parallax_x one\\\\two\\nthree\n"
            "# TYPE parallax_x gauge\n"
            "parallax_x{banner=\"SSH-2.0-\\\"evil\\\"\\\\\\n} 1\\nparallax_x 2\"} 0.25\n");
}

TEST(Exposition, NumbersAsTheFormatSpellsThem) {
  MetricFamily family;
  family.name = "n";
  family.type = MetricType::Gauge;
  for (double v : {0.0, 1e-7, 1e20, std::nan(""), -std::numeric_limits<double>::infinity(),
                   1.0 / 3}) {
    ClientMetric m;
    m.gauge.value = v;
    family.metric.push_back(m);
  }
  EXPECT_EQ(Ours({family}),
            "# TYPE n gauge\nn 0\nn 1e-07\nn 1e+20\nn Nan\nn -Inf\nn 0.3333333333333333\n");
}

}  // namespace
}  // namespace parallax::collector
