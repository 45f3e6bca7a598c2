// BannerParser: incremental parser of the bytes an SSH server sends after the
// TCP connect, up to and including its identification line (RFC 4253 4.2).
//
//  - The server may send other lines first ("pre-banner" lines, e.g. a
//    legal notice or "Too many connections"); they are kept, capped at
//    kMaxPreBannerLines lines / kMaxPreBannerBytes bytes (extra text is
//    dropped and counted, never an error).
//  - A line ends in CR LF; a bare LF and a lone CR also end a line (a CR LF
//    split across two Feed() calls is one line end, never an empty line).
//  - A line may be at most kMaxLineBytes bytes including its line end; a
//    longer one is NotSsh.
//  - The first line starting with "SSH-" is the identification: Identified.
//    Bytes after it (the server's KEXINIT) are not looked at.
//  - NotSsh when another protocol recognisably answered: an HTTP status line,
//    an SMTP/FTP "220" greeting, POP3 "+OK", IMAP "* OK", a TLS record, or
//    any other binary data (control bytes such as NUL in a line).
//
// Everything the parser returns is valid UTF-8 (see printable.h), so it can
// go into protobuf string fields as is.
// Thread-compatible: one parser per connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace parallax::probe {

class BannerParser {
 public:
  enum class State { kNeedMore, kIdentified, kNotSsh };

  static constexpr size_t kMaxLineBytes = 255;  // including CR LF (RFC 4253)
  static constexpr size_t kMaxPreBannerLines = 20;
  static constexpr size_t kMaxPreBannerBytes = 4096;

  // Consumes `bytes` and returns the new state. Once the state is
  // kIdentified or kNotSsh, further bytes are ignored.
  State Feed(std::string_view bytes);

  // The connection ended (EOF, reset or deadline) while kNeedMore: keeps the
  // unterminated partial line, if any, as a last pre-banner line (an
  // identification without its line end is incomplete, so it lands there).
  void Finish();

  State state() const { return state_; }
  // The identification line without its line end ("SSH-2.0-OpenSSH_9.2p1").
  const std::string& identification() const { return identification_; }
  // The lines received before the identification (or before the data that
  // made the parser give up), in order, without line ends.
  const std::vector<std::string>& pre_banner() const { return pre_banner_; }
  // Pre-banner lines (or parts of them) dropped by the caps.
  size_t pre_banner_dropped() const { return pre_banner_dropped_; }
  // For kNotSsh: what was recognised and the offending line, escaped and
  // truncated, e.g. `HTTP response: "HTTP/1.1 400 Bad Request"`.
  const std::string& not_ssh_detail() const { return not_ssh_detail_; }

 private:
  // Handles one complete line (without its line end).
  void EndLine();
  void KeepPreBanner(std::string_view line);
  void GiveUp(std::string_view what, std::string_view line);

  State state_ = State::kNeedMore;
  std::string line_;      // the current, unterminated line
  bool skip_lf_ = false;  // the previous line ended in CR: a LF now is its end
  std::string identification_;
  std::vector<std::string> pre_banner_;
  size_t pre_banner_bytes_ = 0;
  size_t pre_banner_dropped_ = 0;
  std::string not_ssh_detail_;
};

}  // namespace parallax::probe
