// SSH_MSG_KEXINIT (RFC 4253 7.1): the probe's own, parsing the server's, and
// algorithm negotiation (the first client algorithm the server also offers).
//
// ParseKexInit treats the payload as untrusted: each name-list is at most
// kMaxNameListBytes, holds at most kMaxNames names of 1..kMaxNameBytes
// printable ASCII bytes (no spaces, no commas inside a name); anything else
// fails with a reason. Trailing bytes after the reserved uint32 fail too.
//
// Pure functions, thread-safe.
#pragma once

#include <array>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace parallax::probe {

constexpr size_t kMaxNameListBytes = 4096;
constexpr size_t kMaxNames = 64;
constexpr size_t kMaxNameBytes = 64;

constexpr uint8_t kMsgDisconnect = 1;
constexpr uint8_t kMsgIgnore = 2;
constexpr uint8_t kMsgUnimplemented = 3;
constexpr uint8_t kMsgDebug = 4;
constexpr uint8_t kMsgKexInit = 20;
constexpr uint8_t kMsgKexEcdhInit = 30;
constexpr uint8_t kMsgKexEcdhReply = 31;

struct KexInit {
  // The ten name-lists in wire order.
  enum List {
    kKex = 0,
    kHostKey,
    kCipherC2S,
    kCipherS2C,
    kMacC2S,
    kMacS2C,
    kCompressionC2S,
    kCompressionS2C,
    kLanguageC2S,
    kLanguageS2C,
    kListCount
  };
  std::array<std::vector<std::string>, kListCount> lists;
  bool first_kex_packet_follows = false;
};

// The probe's offer: curve25519-sha256 only; host keys ssh-ed25519,
// ecdsa-sha2-nistp256, rsa-sha2-512, rsa-sha2-256; common ciphers and MACs
// (never used: the exchange stops before NEWKEYS, but the server must find a
// match to proceed).
KexInit ClientKexInit();

// The KEXINIT payload (message byte, 16-byte cookie, lists, ...); `cookie`
// must be 16 bytes, or empty for a random one.
std::string EncodeKexInit(const KexInit& kexinit, std::string_view cookie = {});

// Parses a KEXINIT payload (starting with the message byte).
Status ParseKexInit(std::string_view payload, KexInit* out);

// The first of `client` that `server` also lists, or "" when none does.
std::string Negotiate(const std::vector<std::string>& client,
                      const std::vector<std::string>& server);

}  // namespace parallax::probe
