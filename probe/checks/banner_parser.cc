#include "probe/checks/banner_parser.h"

#include <algorithm>
#include <cstdint>

#include "probe/checks/printable.h"

namespace parallax::probe {
namespace {

constexpr size_t kDetailBytes = 120;   // of the offending line, in not_ssh_detail()
constexpr size_t kBinaryContext = 16;  // bytes after a binary byte shown in the detail

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

bool IsBinary(uint8_t b) { return (b < 0x20 && b != '\t') || b == 0x7F; }

// TLS record content types: change_cipher_spec, alert, handshake, application_data.
bool IsTlsContentType(uint8_t b) { return b >= 0x14 && b <= 0x17; }

std::string_view TlsRecordName(uint8_t b) {
  switch (b) {
    case 0x15:
      return "TLS alert record";
    case 0x16:
      return "TLS handshake record";
    default:
      return "TLS record";
  }
}

}  // namespace

BannerParser::State BannerParser::Feed(std::string_view bytes) {
  for (size_t i = 0; i < bytes.size() && state_ == State::kNeedMore; ++i) {
    char c = bytes[i];
    uint8_t b = static_cast<uint8_t>(c);
    if (skip_lf_) {
      skip_lf_ = false;
      if (c == '\n') continue;  // the LF of a CR LF
    }
    if (line_.size() == 1 && IsTlsContentType(static_cast<uint8_t>(line_[0]))) {
      // A possible TLS record header: content type then version major 3.
      std::string shown = line_ + std::string(bytes.substr(i, kBinaryContext));
      GiveUp(b == 0x03 ? TlsRecordName(static_cast<uint8_t>(line_[0])) : "binary data", shown);
      return state_;
    }
    if (c == '\n' || c == '\r') {
      skip_lf_ = (c == '\r');
      EndLine();
      continue;
    }
    if (IsBinary(b)) {
      if (line_.empty() && IsTlsContentType(b)) {
        line_.push_back(c);  // decided by the next byte (or by Finish)
        continue;
      }
      std::string shown = line_ + std::string(bytes.substr(i, kBinaryContext));
      GiveUp("binary data", shown);
      return state_;
    }
    line_.push_back(c);
    if (line_.size() >= kMaxLineBytes) {
      GiveUp("line longer than 255 bytes", line_);
      return state_;
    }
  }
  return state_;
}

void BannerParser::Finish() {
  if (state_ != State::kNeedMore || line_.empty()) return;
  if (line_.size() == 1 && IsBinary(static_cast<uint8_t>(line_[0]))) {
    GiveUp("binary data", line_);
    return;
  }
  KeepPreBanner(line_);
  line_.clear();
}

void BannerParser::EndLine() {
  std::string_view line = line_;
  if (StartsWith(line, "SSH-")) {
    identification_ = PrintableLine(line, kMaxLineBytes);
    state_ = State::kIdentified;
  } else if (StartsWith(line, "HTTP/") && line.size() > 5 && line[5] >= '0' && line[5] <= '9') {
    GiveUp("HTTP response", line);
  } else if (line == "220" || StartsWith(line, "220 ") || StartsWith(line, "220-")) {
    GiveUp("SMTP or FTP greeting", line);
  } else if (StartsWith(line, "+OK")) {
    GiveUp("POP3 greeting", line);
  } else if (StartsWith(line, "* OK")) {
    GiveUp("IMAP greeting", line);
  } else {
    KeepPreBanner(line);
  }
  line_.clear();
}

void BannerParser::KeepPreBanner(std::string_view line) {
  if (pre_banner_.size() >= kMaxPreBannerLines || pre_banner_bytes_ >= kMaxPreBannerBytes) {
    ++pre_banner_dropped_;
    return;
  }
  size_t room = std::min(kMaxLineBytes, kMaxPreBannerBytes - pre_banner_bytes_);
  std::string kept = PrintableLine(line, room);
  if (kept.size() < line.size() && room < kMaxLineBytes) ++pre_banner_dropped_;  // cut by the cap
  pre_banner_bytes_ += kept.size();
  pre_banner_.push_back(std::move(kept));
}

void BannerParser::GiveUp(std::string_view what, std::string_view line) {
  state_ = State::kNotSsh;
  not_ssh_detail_ = std::string(what) + ": \"" + Printable(line, kDetailBytes) + "\"";
}

}  // namespace parallax::probe
