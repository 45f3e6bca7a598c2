// Fuzz target: the collector's YAML config loader (collector/config), with
// any text as the config file. It must return Ok or an error naming the
// problem, never crash, hang or blow up memory; a config it accepts must
// satisfy the documented invariants (docs/CONFIG.md).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "collector/config/config.h"
#include "fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view yaml(reinterpret_cast<const char*>(data), size);
  parallax::collector::Config config;
  parallax::Status st = parallax::collector::ParseConfig(yaml, "fuzz.yaml", &config);
  if (!st.ok()) {
    FUZZ_CHECK(!st.message().empty());
    return 0;
  }
  std::set<std::string> names;
  for (const auto& t : config.targets) {
    FUZZ_CHECK(!t.name.empty() && !t.host.empty());
    FUZZ_CHECK(names.insert(t.name).second);  // names are unique
    FUZZ_CHECK(t.port != 0);
    // timeout may equal the interval (like Prometheus' scrape_timeout), never exceed it.
    FUZZ_CHECK(t.interval.count() > 0 && t.timeout.count() > 0 && t.timeout <= t.interval);
  }
  return 0;
}
