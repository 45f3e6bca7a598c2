// Fuzz target: probe/checks/banner_parser.h, with the bytes a hostile server
// sends after the TCP connect.
//
// Input: byte 0 picks the chunk sizes the bytes are fed in (as TCP may
// split them anywhere), byte 1 whether the connection then ends (Finish).
// Checks the contract: every output is valid UTF-8, the caps hold, an
// identification starts with "SSH-", and the result does not depend on how
// the bytes were split (fed whole vs in chunks).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_util.h"
#include "probe/checks/banner_parser.h"

using parallax::probe::BannerParser;

namespace {

void CheckContract(const BannerParser& p) {
  FUZZ_CHECK(parallax::fuzz::IsUtf8(p.identification()));
  FUZZ_CHECK(parallax::fuzz::IsUtf8(p.not_ssh_detail()));
  FUZZ_CHECK(p.pre_banner().size() <= BannerParser::kMaxPreBannerLines);
  size_t bytes = 0;
  for (const std::string& line : p.pre_banner()) {
    FUZZ_CHECK(parallax::fuzz::IsUtf8(line));
    bytes += line.size();
  }
  // The cap counts the lines as kept (escaping may grow a line up to 4x).
  FUZZ_CHECK(bytes <= BannerParser::kMaxPreBannerBytes);
  if (p.state() == BannerParser::State::kIdentified) {
    FUZZ_CHECK(p.identification().rfind("SSH-", 0) == 0);
    FUZZ_CHECK(p.identification().size() < BannerParser::kMaxLineBytes * 4);
  } else {
    FUZZ_CHECK(p.identification().empty());
  }
  if (p.state() == BannerParser::State::kNotSsh) FUZZ_CHECK(!p.not_ssh_detail().empty());
}

// What was recognised ("HTTP response", "binary data", ...): the part of the
// detail before the quoted bytes. The quoted context after a binary byte is
// whatever arrived in the same read, so only this part must not depend on
// the split.
std::string_view What(const std::string& detail) {
  return std::string_view(detail).substr(0, detail.find(": \""));
}

bool Same(const BannerParser& a, const BannerParser& b) {
  return a.state() == b.state() && a.identification() == b.identification() &&
         a.pre_banner() == b.pre_banner() && a.pre_banner_dropped() == b.pre_banner_dropped() &&
         What(a.not_ssh_detail()) == What(b.not_ssh_detail());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  uint8_t split = data[0];
  bool finish = data[1] & 1;
  std::string_view bytes(reinterpret_cast<const char*>(data + 2), size - 2);

  BannerParser whole;
  whole.Feed(bytes);
  if (finish) whole.Finish();
  CheckContract(whole);

  BannerParser chunked;
  size_t at = 0;
  for (size_t i = 0; at < bytes.size(); ++i) {
    // Chunk sizes 1..16 from the bits of `split`, rotating.
    size_t n = 1 + ((split >> (i % 5)) & 0x0F);
    chunked.Feed(bytes.substr(at, n));
    at += n;
  }
  if (finish) chunked.Finish();
  CheckContract(chunked);
  FUZZ_CHECK(Same(whole, chunked));
  return 0;
}
