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

// "-ERR ...", "-DENIED ...", "-NOAUTH ...": '-', 2+ capital letters, then a
// space or the end. ("--- Welcome ---" and "-----BEGIN" are not.)
bool IsRespError(std::string_view line) {
  if (line.size() < 3 || line[0] != '-') return false;
  size_t i = 1;
  while (i < line.size() && line[i] >= 'A' && line[i] <= 'Z') ++i;
  return i >= 3 && (i == line.size() || line[i] == ' ');
}

bool IsHtml(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  std::string head;
  for (; i < line.size() && head.size() < 9; ++i) {
    char c = line[i];
    head.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return StartsWith(head, "<!doctype") || StartsWith(head, "<html") || StartsWith(head, "<head") ||
         StartsWith(head, "<body") || StartsWith(head, "<title") || StartsWith(head, "<?xml");
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
      if (state_ == State::kIdentified) {
        std::string_view rest = bytes.substr(i + 1);
        if (skip_lf_ && !rest.empty() && rest[0] == '\n') rest.remove_prefix(1);
        rest_ = std::string(rest);
      }
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
  if (!Classify(line_, /*complete=*/false)) KeepPreBanner(line_);
  line_.clear();
}

void BannerParser::EndLine() {
  if (!Classify(line_, /*complete=*/true)) KeepPreBanner(line_);
  line_.clear();
}

bool BannerParser::Classify(std::string_view line, bool complete) {
  if (!own_.empty() && line == own_) {
    echoed_own_ = true;
    GiveUp("echoes the probe's own identification line", line);
  } else if (StartsWith(line, "SSH-")) {
    if (!complete) return false;  // an identification cut short: kept as pre-banner
    if (StartsWith(line, "SSH-2.0-") || StartsWith(line, "SSH-1.99-")) {
      identification_ = PrintableLine(line, kMaxLineBytes);
      raw_identification_ = std::string(line);
      state_ = State::kIdentified;
      return true;
    }
    if (StartsWith(line, "SSH-1.")) {
      ssh1_only_ = true;
      GiveUp("speaks SSH protocol 1 only", line);
    } else {
      GiveUp("unsupported SSH protocol version", line);
    }
  } else if (StartsWith(line, "HTTP/") && line.size() > 5 && line[5] >= '0' && line[5] <= '9') {
    GiveUp("HTTP response", line);
  } else if (line == "220" || StartsWith(line, "220 ") || StartsWith(line, "220-")) {
    GiveUp("SMTP or FTP greeting", line);
  } else if (StartsWith(line, "+OK")) {
    GiveUp("POP3 greeting", line);
  } else if (StartsWith(line, "* OK")) {
    GiveUp("IMAP greeting", line);
  } else if (!own_.empty() && line.find(own_) != std::string_view::npos) {
    GiveUp("quotes the probe's own identification line", line);
  } else if (IsRespError(line)) {
    GiveUp("RESP (Redis) error", line);
  } else if (IsHtml(line)) {
    GiveUp("HTML document", line);
  } else {
    return false;
  }
  return true;
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
