// Microbenchmarks: the probe's banner parser (probe/checks/banner_parser.h),
// run once per SSH check on the bytes the server sends.
#include <benchmark/benchmark.h>

#include <string>

#include "probe/checks/banner_parser.h"

namespace parallax::probe {
namespace {

constexpr char kOpenSsh[] = "SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n";

// The common case: the identification line arrives in one read.
void BM_BannerParseOneRead(benchmark::State& state) {
  for (auto _ : state) {
    BannerParser p;
    benchmark::DoNotOptimize(p.Feed(kOpenSsh));
    benchmark::DoNotOptimize(p.identification().data());
  }
}
BENCHMARK(BM_BannerParseOneRead);

// The identification followed by the server's KEXINIT in the same read.
void BM_BannerParseWithKexinit(benchmark::State& state) {
  std::string bytes = std::string(kOpenSsh) + std::string(1000, '\x14');
  for (auto _ : state) {
    BannerParser p;
    benchmark::DoNotOptimize(p.Feed(bytes));
  }
}
BENCHMARK(BM_BannerParseWithKexinit);

// Pre-banner lines (a legal notice) before the identification.
void BM_BannerParsePreBanner(benchmark::State& state) {
  std::string bytes;
  for (int i = 0; i < 5; ++i) bytes += "Authorised use only. Line " + std::to_string(i) + "\r\n";
  bytes += kOpenSsh;
  for (auto _ : state) {
    BannerParser p;
    benchmark::DoNotOptimize(p.Feed(bytes));
  }
}
BENCHMARK(BM_BannerParsePreBanner);

// Worst case for the incremental path: one byte per Feed().
void BM_BannerParseBytewise(benchmark::State& state) {
  std::string bytes = kOpenSsh;
  for (auto _ : state) {
    BannerParser p;
    for (char c : bytes) p.Feed(std::string_view(&c, 1));
    benchmark::DoNotOptimize(p.state());
  }
}
BENCHMARK(BM_BannerParseBytewise);

// Another protocol answered (HTTP): recognised as not SSH.
void BM_BannerParseNotSsh(benchmark::State& state) {
  for (auto _ : state) {
    BannerParser p;
    benchmark::DoNotOptimize(p.Feed("HTTP/1.1 400 Bad Request\r\n"));
  }
}
BENCHMARK(BM_BannerParseNotSsh);

}  // namespace
}  // namespace parallax::probe
