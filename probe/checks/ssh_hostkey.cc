#include "probe/checks/ssh_hostkey.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include <memory>

#include "probe/checks/ssh_wire.h"

namespace parallax::probe {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
template <typename T>
using Ptr = std::unique_ptr<T, Free>;

Ptr<EVP_PKEY> FromData(const char* type, OSSL_PARAM_BLD* bld) {
  Ptr<OSSL_PARAM> params(OSSL_PARAM_BLD_to_param(bld));
  if (!params) return nullptr;
  Ptr<EVP_PKEY_CTX> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0) {
    return nullptr;
  }
  return Ptr<EVP_PKEY>(pkey);
}

Ptr<EVP_PKEY> ToPkey(const SshPublicKey& key) {
  if (key.type == "ssh-ed25519") {
    return Ptr<EVP_PKEY>(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, UChars(key.ed25519),
                                                     key.ed25519.size()));
  }
  Ptr<OSSL_PARAM_BLD> bld(OSSL_PARAM_BLD_new());
  if (!bld) return nullptr;
  if (key.type == "ecdsa-sha2-nistp256") {
    if (!OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, key.ec_point.data(),
                                          key.ec_point.size())) {
      return nullptr;
    }
    Ptr<EVP_PKEY> pkey = FromData("EC", bld.get());
    if (!pkey) return nullptr;
    // fromdata does not prove the point lies on the curve: check it.
    Ptr<EVP_PKEY_CTX> check(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr));
    if (!check || EVP_PKEY_public_check(check.get()) != 1) return nullptr;
    return pkey;
  }
  if (key.type == "ssh-rsa") {
    Ptr<BIGNUM> n(BN_bin2bn(UChars(key.rsa_n), static_cast<int>(key.rsa_n.size()), nullptr));
    Ptr<BIGNUM> e(BN_bin2bn(UChars(key.rsa_e), static_cast<int>(key.rsa_e.size()), nullptr));
    if (!n || !e || !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) ||
        !OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e.get())) {
      return nullptr;
    }
    return FromData("RSA", bld.get());
  }
  return nullptr;
}

bool DigestVerify(EVP_PKEY* pkey, const EVP_MD* md, std::string_view sig, std::string_view data) {
  Ptr<EVP_MD_CTX> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, pkey) != 1) return false;
  return EVP_DigestVerify(ctx.get(), UChars(sig), sig.size(), UChars(data), data.size()) == 1;
}

}  // namespace

Status ParseHostKeyBlob(std::string_view blob, SshPublicKey* key) {
  if (blob.size() > kMaxHostKeyBlobBytes) {
    return Status::InvalidArgument("host key blob of " + std::to_string(blob.size()) + " bytes");
  }
  SshReader r(blob);
  std::string_view type;
  if (!r.String(&type, 64)) return Status::InvalidArgument("host key blob: no key type");
  *key = SshPublicKey();
  if (type == "ssh-ed25519") {
    std::string_view pk;
    if (!r.String(&pk, 32) || pk.size() != 32) {
      return Status::InvalidArgument("ssh-ed25519 key: not 32 bytes");
    }
    key->ed25519 = std::string(pk);
    key->bits = 256;
  } else if (type == "ecdsa-sha2-nistp256") {
    std::string_view curve, point;
    if (!r.String(&curve, 64) || curve != "nistp256") {
      return Status::InvalidArgument("ecdsa-sha2-nistp256 key: curve is not nistp256");
    }
    if (!r.String(&point, 65) || point.size() != 65 || point[0] != 0x04) {
      return Status::InvalidArgument("ecdsa-sha2-nistp256 key: not an uncompressed point");
    }
    key->ec_point = std::string(point);
    key->bits = 256;
  } else if (type == "ssh-rsa") {
    std::string_view e, n;
    if (!r.MpintUnsigned(&e, 8) || e.empty()) {
      return Status::InvalidArgument("ssh-rsa key: bad public exponent");
    }
    if (!r.MpintUnsigned(&n, 2048) || n.empty()) {
      return Status::InvalidArgument("ssh-rsa key: bad modulus");
    }
    uint32_t bits = static_cast<uint32_t>(n.size()) * 8;
    for (uint8_t top = static_cast<uint8_t>(n[0]); (top & 0x80) == 0; top <<= 1) --bits;
    if (bits < 1024 || bits > 16384) {
      return Status::InvalidArgument("ssh-rsa key: modulus of " + std::to_string(bits) +
                                     " bits (1024..16384 accepted)");
    }
    key->rsa_e = std::string(e);
    key->rsa_n = std::string(n);
    key->bits = bits;
  } else {
    return Status::InvalidArgument("unsupported host key type");
  }
  if (r.remaining() != 0) {
    return Status::InvalidArgument(std::string(type) + " key: trailing bytes");
  }
  key->type = std::string(type);
  return Status::Ok();
}

bool AlgorithmFitsKey(std::string_view negotiated, const SshPublicKey& key) {
  if (key.type == "ssh-rsa") return negotiated == "rsa-sha2-256" || negotiated == "rsa-sha2-512";
  return negotiated == key.type;
}

Status VerifySshSignature(const SshPublicKey& key, std::string_view negotiated,
                          std::string_view signature_blob, std::string_view data) {
  if (!AlgorithmFitsKey(negotiated, key)) {
    return Status::InvalidArgument("host key type " + key.type + " does not fit the negotiated " +
                                   std::string(negotiated));
  }
  SshReader r(signature_blob);
  std::string_view alg, sig;
  if (!r.String(&alg, 64) || !r.String(&sig, kMaxSignatureBlobBytes) || r.remaining() != 0) {
    return Status::InvalidArgument("malformed signature");
  }
  if (alg != negotiated) {
    return Status::InvalidArgument("signature algorithm is not the negotiated " +
                                   std::string(negotiated));
  }
  Ptr<EVP_PKEY> pkey = ToPkey(key);
  if (!pkey) return Status::InvalidArgument(key.type + " key: OpenSSL rejects it");
  bool good = false;
  if (key.type == "ssh-ed25519") {
    good = sig.size() == 64 && DigestVerify(pkey.get(), nullptr, sig, data);
  } else if (key.type == "ecdsa-sha2-nistp256") {
    SshReader sr(sig);
    std::string_view rr, ss;
    if (!sr.MpintUnsigned(&rr, 32) || !sr.MpintUnsigned(&ss, 32) || sr.remaining() != 0) {
      return Status::InvalidArgument("malformed ecdsa-sha2-nistp256 signature");
    }
    Ptr<ECDSA_SIG> es(ECDSA_SIG_new());
    BIGNUM* br = BN_bin2bn(UChars(rr), static_cast<int>(rr.size()), nullptr);
    BIGNUM* bs = BN_bin2bn(UChars(ss), static_cast<int>(ss.size()), nullptr);
    if (!es || !br || !bs || ECDSA_SIG_set0(es.get(), br, bs) != 1) {
      BN_free(br);
      BN_free(bs);
      return Status::Internal("out of memory");
    }
    unsigned char* der = nullptr;
    int der_len = i2d_ECDSA_SIG(es.get(), &der);
    if (der_len <= 0) return Status::Internal("cannot encode the ECDSA signature");
    good = DigestVerify(pkey.get(), EVP_sha256(),
                        std::string_view(reinterpret_cast<char*>(der), der_len), data);
    OPENSSL_free(der);
  } else if (key.type == "ssh-rsa") {
    // A signature may be shorter than the modulus (leading zeros dropped,
    // as OpenSSH accepts): OpenSSL wants exactly the modulus size.
    if (sig.size() <= key.rsa_n.size()) {
      std::string padded(key.rsa_n.size() - sig.size(), '\0');
      padded += sig;
      good = DigestVerify(pkey.get(), negotiated == "rsa-sha2-512" ? EVP_sha512() : EVP_sha256(),
                          padded, data);
    }
  }
  if (!good) {
    return Status::InvalidArgument(std::string(negotiated) +
                                   " signature over the exchange hash does not verify");
  }
  return Status::Ok();
}

std::string SshFingerprint(std::string_view blob) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(UChars(blob), blob.size(), digest);
  unsigned char b64[64];
  int n = EVP_EncodeBlock(b64, digest, sizeof digest);
  std::string out(reinterpret_cast<char*>(b64), n);
  while (!out.empty() && out.back() == '=') out.pop_back();
  return "SHA256:" + out;
}

}  // namespace parallax::probe
