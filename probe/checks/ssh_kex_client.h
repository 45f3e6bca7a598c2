// SshKexClient: the client side of an SSH key exchange, run only far enough
// to learn the server's host key (RFC 4253 7-8, RFC 5656 4, RFC 8731:
// curve25519-sha256 / curve25519-sha256@libssh.org), without I/O: the caller
// moves bytes (see SshCheck, which drives it on its connection).
//
//   Start()  -> our KEXINIT packet
//   Feed()   <- server bytes after its identification line; may return our
//               KEX_ECDH_INIT (after the server's KEXINIT) and finally
//               SSH_MSG_DISCONNECT (reason 11, "host key check done", or 3
//               on a failure after the server's KEXINIT)
//
// Done once the host key's signature over the exchange hash H verified (or
// the exchange failed: result().error says why). The client never sends
// NEWKEYS nor anything of authentication.
//
// Everything the server sends is untrusted: packets at most 35000 bytes, at
// most kMaxKexBytes in all and kMaxPackets packets (SSH_MSG_IGNORE / DEBUG
// are skipped within that), name-lists bounded (ssh_kexinit.h), key and
// signature blobs bounded (ssh_hostkey.h). A server DISCONNECT ends the
// exchange with its (escaped, cut) description as the error.
//
// Thread-compatible: one client per connection.
#pragma once

#include <string>
#include <string_view>

#include "parallax/v1/probe.pb.h"
#include "probe/checks/ssh_kexinit.h"
#include "probe/checks/ssh_wire.h"

namespace parallax::probe {

constexpr size_t kMaxKexBytes = 256 * 1024;
constexpr int kMaxPackets = 32;

class SshKexClient {
 public:
  struct Options {
    std::string client_identification;  // our line, without CR LF
    std::string server_identification;  // the server's raw line, without CR LF
    // 32 bytes: the X25519 private key to use (tests replaying a recorded
    // exchange); empty: a fresh random one.
    std::string x25519_private;
    // 16 bytes: our KEXINIT cookie (same tests); empty: random.
    std::string kexinit_cookie;
  };

  explicit SshKexClient(Options options);

  std::string Start();
  std::string Feed(std::string_view bytes);
  // The connection ended or the deadline passed before done.
  void Abort(std::string why);

  bool done() const { return done_; }
  // Once done: type/fingerprint/lists or error.
  const v1::HostKey& result() const { return result_; }
  // The exchange hash H once computed (tests).
  const std::string& exchange_hash() const { return hash_; }
  // Our X25519 public key Q_C (tests).
  const std::string& client_public() const { return q_c_; }
  // The host key blob K_S (tests).
  const std::string& host_key_blob() const { return k_s_; }

 private:
  // Handles one payload; appends what to send to `out`.
  void OnPacket(const std::string& payload, std::string* out);
  void OnKexInit(const std::string& payload, std::string* out);
  void OnEcdhReply(const std::string& payload, std::string* out);
  void Fail(std::string why, std::string* out);
  void Disconnect(uint32_t reason, std::string_view text, std::string* out);

  Options options_;
  PacketReader reader_;
  bool started_ = false;
  bool done_ = false;
  bool got_kexinit_ = false;
  bool skip_guess_ = false;  // the server guessed wrong: ignore its next kex packet
  bool lf_checked_ = false;
  size_t fed_ = 0;
  int packets_ = 0;
  std::string i_c_, i_s_;  // KEXINIT payloads
  std::string priv_;       // X25519 private key
  std::string q_c_;        // X25519 public key
  std::string k_s_;
  std::string hash_;
  v1::HostKey result_;
};

}  // namespace parallax::probe
