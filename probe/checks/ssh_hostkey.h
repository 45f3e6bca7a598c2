// SSH host keys: parsing the public key blob a server sends (RFC 4253 6.6,
// RFC 5656 3.1, RFC 8709), verifying its signature over the exchange hash
// (ssh-ed25519, ecdsa-sha2-nistp256, rsa-sha2-256, rsa-sha2-512), and the
// fingerprint in the form `ssh-keygen -lf` prints ("SHA256:" + unpadded
// base64 of SHA-256 over the blob).
//
// Blobs and signatures are untrusted: every length is checked, trailing
// bytes fail, an RSA modulus must be 1024..16384 bits, an ECDSA point must
// lie on P-256 (OpenSSL checks it), and the signature's algorithm name must
// be the negotiated one. Uses OpenSSL 3 (libcrypto).
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace parallax::probe {

struct SshPublicKey {
  std::string type;  // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"
  uint32_t bits = 0;
  // Type-specific material: ed25519: the 32-byte key; nistp256: the 65-byte
  // uncompressed point; RSA: e and n magnitudes.
  std::string ed25519;
  std::string ec_point;
  std::string rsa_e, rsa_n;
};

constexpr size_t kMaxHostKeyBlobBytes = 4096;
constexpr size_t kMaxSignatureBlobBytes = 4096;

Status ParseHostKeyBlob(std::string_view blob, SshPublicKey* key);

// Whether `negotiated` (a host key algorithm name) fits the key's type.
bool AlgorithmFitsKey(std::string_view negotiated, const SshPublicKey& key);

// Verifies `signature_blob` (string algorithm, string signature) over `data`
// with `key`; the algorithm must equal `negotiated`.
Status VerifySshSignature(const SshPublicKey& key, std::string_view negotiated,
                          std::string_view signature_blob, std::string_view data);

// "SHA256:" + base64 (no padding) of SHA-256(blob).
std::string SshFingerprint(std::string_view blob);

}  // namespace parallax::probe
