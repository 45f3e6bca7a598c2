#include "probe/checks/ssh_kexinit.h"

#include <openssl/rand.h>

#include <algorithm>

#include "probe/checks/ssh_wire.h"

namespace parallax::probe {
namespace {

const char* const kListNames[KexInit::kListCount] = {"kex_algorithms",
                                                     "server_host_key_algorithms",
                                                     "encryption (client to server)",
                                                     "encryption (server to client)",
                                                     "mac (client to server)",
                                                     "mac (server to client)",
                                                     "compression (client to server)",
                                                     "compression (server to client)",
                                                     "languages (client to server)",
                                                     "languages (server to client)"};

Status ParseNameList(std::string_view text, const char* what, std::vector<std::string>* out) {
  out->clear();
  if (text.empty()) return Status::Ok();
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view name = text.substr(start, comma - start);
    if (name.empty() || name.size() > kMaxNameBytes) {
      return Status::InvalidArgument(std::string(what) + ": a name of " +
                                     std::to_string(name.size()) + " bytes");
    }
    for (char c : name) {
      if (c <= 0x20 || c >= 0x7F) {
        return Status::InvalidArgument(std::string(what) + ": a name with a non-printable byte");
      }
    }
    if (out->size() >= kMaxNames) {
      return Status::InvalidArgument(std::string(what) + ": more than " +
                                     std::to_string(kMaxNames) + " names");
    }
    out->emplace_back(name);
    start = comma + 1;
  }
  return Status::Ok();
}

}  // namespace

KexInit ClientKexInit() {
  KexInit k;
  k.lists[KexInit::kKex] = {"curve25519-sha256", "curve25519-sha256@libssh.org"};
  k.lists[KexInit::kHostKey] = {"ssh-ed25519", "ecdsa-sha2-nistp256", "rsa-sha2-512",
                                "rsa-sha2-256"};
  std::vector<std::string> ciphers = {"chacha20-poly1305@openssh.com", "aes128-ctr", "aes256-ctr",
                                      "aes128-gcm@openssh.com", "aes256-gcm@openssh.com"};
  std::vector<std::string> macs = {"hmac-sha2-256-etm@openssh.com", "hmac-sha2-256",
                                   "hmac-sha2-512", "hmac-sha1"};
  k.lists[KexInit::kCipherC2S] = ciphers;
  k.lists[KexInit::kCipherS2C] = ciphers;
  k.lists[KexInit::kMacC2S] = macs;
  k.lists[KexInit::kMacS2C] = macs;
  k.lists[KexInit::kCompressionC2S] = {"none"};
  k.lists[KexInit::kCompressionS2C] = {"none"};
  return k;
}

std::string EncodeKexInit(const KexInit& kexinit, std::string_view fixed_cookie) {
  SshWriter w;
  w.Byte(kMsgKexInit);
  std::string cookie(16, '\0');
  if (fixed_cookie.size() == 16) {
    cookie = std::string(fixed_cookie);
  } else {
    RAND_bytes(reinterpret_cast<unsigned char*>(cookie.data()), 16);
  }
  w.Raw(cookie);
  for (const auto& list : kexinit.lists) w.NameList(list);
  w.Byte(kexinit.first_kex_packet_follows ? 1 : 0);
  w.Uint32(0);
  return w.Take();
}

Status ParseKexInit(std::string_view payload, KexInit* out) {
  SshReader r(payload);
  uint8_t type = 0;
  if (!r.Byte(&type) || type != kMsgKexInit) return Status::InvalidArgument("not a KEXINIT");
  if (!r.Skip(16)) return Status::InvalidArgument("KEXINIT cut short in its cookie");
  for (int i = 0; i < KexInit::kListCount; ++i) {
    std::string_view text;
    if (!r.String(&text, kMaxNameListBytes)) {
      return Status::InvalidArgument(std::string("KEXINIT ") + kListNames[i] +
                                     ": missing, cut short, or longer than " +
                                     std::to_string(kMaxNameListBytes) + " bytes");
    }
    Status s = ParseNameList(text, kListNames[i], &out->lists[i]);
    if (!s.ok()) return Status::InvalidArgument("KEXINIT " + s.message());
  }
  uint32_t reserved = 0;
  if (!r.Bool(&out->first_kex_packet_follows) || !r.Uint32(&reserved)) {
    return Status::InvalidArgument("KEXINIT cut short after its name-lists");
  }
  if (r.remaining() != 0) {
    return Status::InvalidArgument("KEXINIT has " + std::to_string(r.remaining()) +
                                   " trailing bytes");
  }
  return Status::Ok();
}

std::string Negotiate(const std::vector<std::string>& client,
                      const std::vector<std::string>& server) {
  for (const auto& c : client) {
    if (std::find(server.begin(), server.end(), c) != server.end()) return c;
  }
  return "";
}

}  // namespace parallax::probe
