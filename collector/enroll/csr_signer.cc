#include "collector/enroll/csr_signer.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/tls.h"

namespace parallax::collector {
namespace {

std::string OpenSslError() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct ReqDeleter {
  void operator()(X509_REQ* r) const { X509_REQ_free(r); }
};
using ReqPtr = std::unique_ptr<X509_REQ, ReqDeleter>;

ReqPtr ParseCsr(const std::string& pem) {
  if (pem.size() > kMaxCsrBytes) return nullptr;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  if (!bio) return nullptr;
  return ReqPtr(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
}

Status CheckKey(EVP_PKEY* key) {
  int id = EVP_PKEY_base_id(key);
  if (id == EVP_PKEY_EC) {
    char curve[64] = {};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", curve, sizeof(curve), &len) != 1) {
      return Status::InvalidArgument("CSR: EC key without a named curve");
    }
    std::string c(curve);
    if (c != "prime256v1" && c != "secp384r1" && c != "secp521r1") {
      return Status::InvalidArgument("CSR: EC curve " + c + " refused (P-256, P-384, P-521)");
    }
    return Status::Ok();
  }
  if (id == EVP_PKEY_RSA) {
    int bits = EVP_PKEY_get_bits(key);
    if (bits < 2048 || bits > 8192) {
      return Status::InvalidArgument("CSR: RSA key of " + std::to_string(bits) +
                                     " bits refused (2048..8192)");
    }
    return Status::Ok();
  }
  return Status::InvalidArgument("CSR: key type refused (EC P-256/P-384/P-521 or RSA)");
}

bool AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

CsrSigner::~CsrSigner() {
  X509_free(ca_);
  EVP_PKEY_free(key_);
}

Status CsrSigner::Load(const std::string& ca_cert_path, const std::string& ca_key_path,
                       std::unique_ptr<CsrSigner>* out) {
  std::unique_ptr<CsrSigner> s(new CsrSigner());
  Status st = ReadFileToString(ca_cert_path, "enroll.ca_cert", &s->ca_pem_);
  if (!st.ok()) return st;
  std::string key_pem;
  st = ReadFileToString(ca_key_path, "enroll.ca_key", &key_pem);
  if (!st.ok()) return st;
  struct stat sb;
  if (::stat(ca_key_path.c_str(), &sb) == 0 && (sb.st_mode & 077) != 0) {
    Logf(LogLevel::kWarning, "enroll.ca_key \"%s\" is readable by group or others: chmod 600 it",
         ca_key_path.c_str());
  }
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(s->ca_pem_.data(), static_cast<int>(s->ca_pem_.size())), BIO_free);
    s->ca_ = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
  }
  if (s->ca_ == nullptr) {
    return Status::InvalidArgument("enroll.ca_cert \"" + ca_cert_path +
                                   "\": not a PEM certificate: " + OpenSslError());
  }
  {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
    s->key_ = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  }
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (s->key_ == nullptr) {
    return Status::InvalidArgument("enroll.ca_key \"" + ca_key_path +
                                   "\": not a PEM private key (or encrypted): " + OpenSslError());
  }
  if (X509_check_private_key(s->ca_, s->key_) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("enroll.ca_key \"" + ca_key_path +
                                   "\" is not the key of enroll.ca_cert \"" + ca_cert_path + "\"");
  }
  if (X509_check_ca(s->ca_) == 0) {
    return Status::InvalidArgument("enroll.ca_cert \"" + ca_cert_path +
                                   "\" is not a CA certificate (basicConstraints CA:TRUE)");
  }
  *out = std::move(s);
  return Status::Ok();
}

Status CsrSigner::CheckCsr(const std::string& csr_pem) {
  if (csr_pem.size() > kMaxCsrBytes) {
    return Status::InvalidArgument("CSR larger than 16 KiB");
  }
  ReqPtr req = ParseCsr(csr_pem);
  if (!req) {
    ERR_clear_error();
    return Status::InvalidArgument("CSR: not a PEM certificate request");
  }
  EVP_PKEY* key = X509_REQ_get0_pubkey(req.get());
  if (key == nullptr) return Status::InvalidArgument("CSR: no public key");
  Status st = CheckKey(key);
  if (!st.ok()) return st;
  if (X509_REQ_verify(req.get(), key) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("CSR: bad signature (not signed by its own key)");
  }
  return Status::Ok();
}

Status CsrSigner::Sign(const std::string& csr_pem, const std::string& name, int64_t days,
                       std::string* cert_pem) const {
  Status st = CheckCsr(csr_pem);
  if (!st.ok()) return st;
  ReqPtr req = ParseCsr(csr_pem);
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  if (!req || !cert) return Status::Internal("out of memory");
  X509* c = cert.get();
  unsigned char serial_bytes[16];
  if (RAND_bytes(serial_bytes, sizeof(serial_bytes)) != 1) {
    return Status::Internal("no random bytes for the serial");
  }
  serial_bytes[0] &= 0x7f;  // positive
  serial_bytes[0] |= 0x40;  // and 16 bytes long
  std::unique_ptr<BIGNUM, decltype(&BN_free)> bn(
      BN_bin2bn(serial_bytes, sizeof(serial_bytes), nullptr), BN_free);
  bool ok = X509_set_version(c, 2) == 1 && bn &&
            BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(c)) != nullptr &&
            X509_set_issuer_name(c, X509_get_subject_name(ca_)) == 1 &&
            X509_gmtime_adj(X509_getm_notBefore(c), -300) != nullptr &&
            X509_gmtime_adj(X509_getm_notAfter(c), days * 86400) != nullptr &&
            X509_set_pubkey(c, X509_REQ_get0_pubkey(req.get())) == 1;
  X509_NAME* subject = X509_get_subject_name(c);
  ok = ok && X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                                        reinterpret_cast<const unsigned char*>(name.c_str()), -1,
                                        -1, 0) == 1;
  ok = ok && AddExt(c, ca_, NID_basic_constraints, "critical,CA:FALSE") &&
       AddExt(c, ca_, NID_key_usage, "critical,digitalSignature") &&
       AddExt(c, ca_, NID_ext_key_usage, "clientAuth") &&
       AddExt(c, ca_, NID_subject_alt_name, "URI:parallax:probe/" + name) &&
       AddExt(c, ca_, NID_subject_key_identifier, "hash") &&
       (X509_get0_subject_key_id(ca_) == nullptr ||
        AddExt(c, ca_, NID_authority_key_identifier, "keyid"));
  if (!ok) return Status::Internal("cannot build the certificate: " + OpenSslError());
  int key_id = EVP_PKEY_base_id(key_);
  const EVP_MD* md =
      (key_id == EVP_PKEY_ED25519 || key_id == EVP_PKEY_ED448) ? nullptr : EVP_sha256();
  if (X509_sign(c, key_, md) <= 0) {
    return Status::Internal("cannot sign the certificate: " + OpenSslError());
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || PEM_write_bio_X509(bio.get(), c) != 1) {
    return Status::Internal("cannot encode the certificate");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  cert_pem->assign(data, static_cast<size_t>(len));
  return Status::Ok();
}

}  // namespace parallax::collector
