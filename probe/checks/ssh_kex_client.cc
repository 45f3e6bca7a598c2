#include "probe/checks/ssh_kex_client.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <memory>

#include "probe/checks/printable.h"
#include "probe/checks/ssh_hostkey.h"
#include "probe/checks/ssh_wire.h"

namespace parallax::probe {
namespace {

constexpr uint32_t kReasonKeyExchangeFailed = 3;
constexpr uint32_t kReasonByApplication = 11;
constexpr size_t kMaxListsKept = 32;

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};

// Derives the X25519 public key of `priv`; "" on failure.
std::string X25519Public(const std::string& priv) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, UChars(priv), priv.size()));
  std::string pub(32, '\0');
  size_t len = pub.size();
  if (!key ||
      EVP_PKEY_get_raw_public_key(key.get(), reinterpret_cast<unsigned char*>(pub.data()), &len) !=
          1 ||
      len != 32) {
    return "";
  }
  return pub;
}

// X25519(priv, peer); "" on failure (including the all-zero result).
std::string X25519Shared(const std::string& priv, std::string_view peer) {
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, UChars(priv), priv.size()));
  std::unique_ptr<EVP_PKEY, PkeyFree> other(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, UChars(peer), peer.size()));
  if (!key || !other) return "";
  std::unique_ptr<EVP_PKEY_CTX, PkeyFree> ctx(EVP_PKEY_CTX_new(key.get(), nullptr));
  std::string shared(32, '\0');
  size_t len = shared.size();
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), other.get()) != 1 ||
      EVP_PKEY_derive(ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len) != 1 ||
      len != 32) {
    return "";  // OpenSSL fails the derive on an all-zero shared secret
  }
  return shared;
}

void KeepList(const std::vector<std::string>& names,
              google::protobuf::RepeatedPtrField<std::string>* out) {
  for (size_t i = 0; i < names.size() && i < kMaxListsKept; ++i) out->Add(std::string(names[i]));
}

}  // namespace

SshKexClient::SshKexClient(Options options) : options_(std::move(options)) {}

std::string SshKexClient::Start() {
  started_ = true;
  priv_ = options_.x25519_private;
  if (priv_.size() != 32) {
    priv_.assign(32, '\0');
    RAND_bytes(reinterpret_cast<unsigned char*>(priv_.data()), 32);
  }
  q_c_ = X25519Public(priv_);
  i_c_ = EncodeKexInit(ClientKexInit(), options_.kexinit_cookie);
  if (q_c_.empty()) {
    done_ = true;
    result_.set_error("cannot create an X25519 key (OpenSSL)");
    return "";
  }
  return EncodePacket(i_c_);
}

std::string SshKexClient::Feed(std::string_view bytes) {
  std::string out;
  if (done_ || !started_) return out;
  if (!lf_checked_ && !bytes.empty()) {
    // The LF of the server's CR LF may arrive after the line was parsed.
    lf_checked_ = true;
    if (bytes[0] == '\n') bytes.remove_prefix(1);
  }
  fed_ += bytes.size();
  if (fed_ > kMaxKexBytes) {
    Fail("the server sent more than " + std::to_string(kMaxKexBytes) +
             " bytes without completing the key exchange",
         &out);
    return out;
  }
  reader_.Feed(bytes);
  std::string payload;
  while (!done_) {
    switch (reader_.Next(&payload)) {
      case PacketReader::State::kNeedMore:
        return out;
      case PacketReader::State::kError:
        Fail("bad packet from the server: " + reader_.error(), &out);
        return out;
      case PacketReader::State::kPacket:
        if (++packets_ > kMaxPackets) {
          Fail("the server sent more than " + std::to_string(kMaxPackets) +
                   " packets without completing the key exchange",
               &out);
          return out;
        }
        OnPacket(payload, &out);
        break;
    }
  }
  return out;
}

void SshKexClient::Abort(std::string why) {
  if (done_) return;
  done_ = true;
  result_.set_error(std::move(why));
}

void SshKexClient::OnPacket(const std::string& payload, std::string* out) {
  const uint8_t type = static_cast<uint8_t>(payload[0]);
  switch (type) {
    case kMsgIgnore:
    case kMsgDebug:
    case kMsgUnimplemented:
      return;
    case kMsgDisconnect: {
      SshReader r(payload);
      uint8_t b;
      uint32_t reason = 0;
      std::string_view text;
      r.Byte(&b);
      r.Uint32(&reason);
      r.String(&text, 1024);
      done_ = true;
      result_.set_error("the server disconnected (reason " + std::to_string(reason) +
                        "): " + Printable(text, 200));
      return;
    }
    case kMsgKexInit:
      if (got_kexinit_) {
        Fail("the server sent a second KEXINIT", out);
        return;
      }
      OnKexInit(payload, out);
      return;
    case kMsgKexEcdhReply:
      if (!got_kexinit_) {
        Fail("the server sent KEX_ECDH_REPLY before its KEXINIT", out);
        return;
      }
      if (skip_guess_) {
        skip_guess_ = false;
        return;
      }
      OnEcdhReply(payload, out);
      return;
    default:
      if (skip_guess_ && got_kexinit_ && type >= 30 && type <= 49) {
        skip_guess_ = false;  // the server's wrongly guessed first kex packet
        return;
      }
      Fail("unexpected message " + std::to_string(type) + " during the key exchange", out);
  }
}

void SshKexClient::OnKexInit(const std::string& payload, std::string* out) {
  got_kexinit_ = true;
  i_s_ = payload;
  KexInit server;
  Status s = ParseKexInit(payload, &server);
  if (!s.ok()) {
    Fail(s.message(), out);
    return;
  }
  KeepList(server.lists[KexInit::kKex], result_.mutable_kex_algorithms());
  KeepList(server.lists[KexInit::kHostKey], result_.mutable_host_key_algorithms());
  KeepList(server.lists[KexInit::kCipherC2S], result_.mutable_ciphers());
  const KexInit client = ClientKexInit();
  std::string kex = Negotiate(client.lists[KexInit::kKex], server.lists[KexInit::kKex]);
  std::string hostkey = Negotiate(client.lists[KexInit::kHostKey], server.lists[KexInit::kHostKey]);
  if (kex.empty()) {
    Fail("no common key exchange: the server offers none of curve25519-sha256", out);
    return;
  }
  if (hostkey.empty()) {
    Fail(
        "no common host key algorithm: the server offers none of ssh-ed25519, "
        "ecdsa-sha2-nistp256, rsa-sha2-512, rsa-sha2-256",
        out);
    return;
  }
  result_.set_kex_algorithm(kex);
  result_.set_signature_algorithm(hostkey);
  if (server.first_kex_packet_follows && (server.lists[KexInit::kKex].front() != kex ||
                                          server.lists[KexInit::kHostKey].front() != hostkey)) {
    skip_guess_ = true;
  }
  SshWriter w;
  w.Byte(kMsgKexEcdhInit);
  w.String(q_c_);
  *out += EncodePacket(w.data());
}

void SshKexClient::OnEcdhReply(const std::string& payload, std::string* out) {
  SshReader r(payload);
  uint8_t b;
  std::string_view k_s, q_s, sig;
  r.Byte(&b);
  if (!r.String(&k_s, kMaxHostKeyBlobBytes)) {
    Fail("KEX_ECDH_REPLY: host key missing, cut short or too long", out);
    return;
  }
  if (!r.String(&q_s, 32) || q_s.size() != 32) {
    Fail("KEX_ECDH_REPLY: the server's X25519 key is not 32 bytes", out);
    return;
  }
  if (!r.String(&sig, kMaxSignatureBlobBytes)) {
    Fail("KEX_ECDH_REPLY: signature missing, cut short or too long", out);
    return;
  }
  if (r.remaining() != 0) {
    Fail("KEX_ECDH_REPLY: trailing bytes", out);
    return;
  }
  SshPublicKey key;
  Status s = ParseHostKeyBlob(k_s, &key);
  if (!s.ok()) {
    Fail(s.message(), out);
    return;
  }
  k_s_ = std::string(k_s);
  // The key is known from here on, even if its signature fails below.
  result_.set_type(key.type);
  result_.set_bits(key.bits);
  result_.set_fingerprint(SshFingerprint(k_s));
  std::string shared = X25519Shared(priv_, q_s);
  if (shared.empty()) {
    Fail("KEX_ECDH_REPLY: the server's X25519 key gives no valid shared secret", out);
    return;
  }
  SshWriter h;
  h.String(options_.client_identification);
  h.String(options_.server_identification);
  h.String(i_c_);
  h.String(i_s_);
  h.String(k_s);
  h.String(q_c_);
  h.String(q_s);
  h.MpintUnsigned(shared);
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(UChars(h.data()), h.data().size(), digest);
  hash_.assign(reinterpret_cast<char*>(digest), sizeof digest);
  OPENSSL_cleanse(shared.data(), shared.size());
  s = VerifySshSignature(key, result_.signature_algorithm(), sig, hash_);
  if (!s.ok()) {
    Fail(s.message(), out);
    return;
  }
  done_ = true;
  Disconnect(kReasonByApplication, "host key check done", out);
}

void SshKexClient::Fail(std::string why, std::string* out) {
  done_ = true;
  result_.set_error(std::move(why));
  if (started_) Disconnect(kReasonKeyExchangeFailed, "host key check failed", out);
}

void SshKexClient::Disconnect(uint32_t reason, std::string_view text, std::string* out) {
  SshWriter w;
  w.Byte(kMsgDisconnect);
  w.Uint32(reason);
  w.String(text);
  w.String("");
  *out += EncodePacket(w.data());
}

}  // namespace parallax::probe
