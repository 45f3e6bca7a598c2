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
//  - The first line starting with "SSH-2.0-" or "SSH-1.99-" is the
//    identification: Identified (RFC 4253 5.1: only these speak SSH-2).
//    Bytes after it (the server's KEXINIT) are not looked at, only kept in
//    rest() (from the same Feed() call; a LF ending the identification's
//    CR may still follow).
//  - Any other "SSH-" line is NotSsh: "SSH-1.x-" (x != 99) is "speaks SSH
//    protocol 1 only" (OpenSSH refuses it: "Protocol major versions differ"),
//    anything else "unsupported SSH protocol version".
//  - NotSsh when another protocol recognisably answered: an HTTP status line,
//    an SMTP/FTP "220" greeting, POP3 "+OK", IMAP "* OK", a RESP (Redis)
//    error ("-ERR ...", "-DENIED ..."), an HTML document ("<!DOCTYPE",
//    "<html", ...: an HTTP/0.9-style answer without status line), a TLS
//    record, or any other binary data (control bytes such as NUL in a line).
//  - With own_identification set (the line the probe sends): a line equal to
//    it is NotSsh with echoed_own() true (an echo, or the probe talking to its
//    own socket: the caller decides which); a line that contains it is NotSsh
//    "quotes the probe's own identification line" (a service complaining
//    about our line, e.g. Redis "-ERR unknown command 'SSH-2.0-...'").
//  - Finish() applies the same rules to an unterminated last line, except
//    that an incomplete "SSH-" line is only kept as pre-banner.
//
// Everything the parser returns is valid UTF-8 (see printable.h), so it can
// go into protobuf string fields as is.
// Thread-compatible: one parser per connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace parallax::probe {

class BannerParser {
 public:
  enum class State { kNeedMore, kIdentified, kNotSsh };

  static constexpr size_t kMaxLineBytes = 255;  // including CR LF (RFC 4253)
  static constexpr size_t kMaxPreBannerLines = 20;
  static constexpr size_t kMaxPreBannerBytes = 4096;

  BannerParser() = default;
  // `own_identification`: the probe's identification line without CR LF
  // (empty: no echo / quote detection).
  explicit BannerParser(std::string own_identification) : own_(std::move(own_identification)) {}

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
  // The identification line exactly as received (for the SSH exchange hash).
  const std::string& raw_identification() const { return raw_identification_; }
  // The bytes of the Feed() call that completed the identification after it.
  const std::string& rest() const { return rest_; }
  // The lines received before the identification (or before the data that
  // made the parser give up), in order, without line ends.
  const std::vector<std::string>& pre_banner() const { return pre_banner_; }
  // Pre-banner lines (or parts of them) dropped by the caps.
  size_t pre_banner_dropped() const { return pre_banner_dropped_; }
  // For kNotSsh: what was recognised and the offending line, escaped and
  // truncated, e.g. `HTTP response: "HTTP/1.1 400 Bad Request"`.
  const std::string& not_ssh_detail() const { return not_ssh_detail_; }
  // kNotSsh because a line equal to own_identification came back.
  bool echoed_own() const { return echoed_own_; }
  // kNotSsh because of an "SSH-1.x-" (x != 99) identification.
  bool ssh1_only() const { return ssh1_only_; }

 private:
  // Handles one complete line (without its line end).
  void EndLine();
  // Gives up if `line` is recognisably not SSH; returns whether it did.
  // `complete`: the line had its line end (an "SSH-" line counts only then).
  bool Classify(std::string_view line, bool complete);
  void KeepPreBanner(std::string_view line);
  void GiveUp(std::string_view what, std::string_view line);

  State state_ = State::kNeedMore;
  std::string line_;      // the current, unterminated line
  bool skip_lf_ = false;  // the previous line ended in CR: a LF now is its end
  std::string identification_;
  std::string raw_identification_;
  std::string rest_;
  std::vector<std::string> pre_banner_;
  size_t pre_banner_bytes_ = 0;
  size_t pre_banner_dropped_ = 0;
  std::string not_ssh_detail_;
  std::string own_;
  bool echoed_own_ = false;
  bool ssh1_only_ = false;
};

}  // namespace parallax::probe
