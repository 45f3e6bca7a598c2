// CsrSigner with a CA made here by OpenSSL: the signed certificate is probe
// NAME's (SAN URI parallax:probe/NAME, read back by the collector's own
// PeerIdentity), chains to the CA, lasts cert_days, and ignores what the CSR
// asks for (subject, extensions such as an admin role). Bad CSRs are refused.
#include "collector/enroll/csr_signer.h"

#include <gtest/gtest.h>
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "collector/auth/peer_identity.h"
#include "common/cert_fingerprint.h"

namespace parallax::collector {
namespace {

EVP_PKEY* NewKey(const char* kind) {
  if (std::string(kind) == "rsa1024") return EVP_RSA_gen(1024);
  return EVP_EC_gen(kind);
}

std::string Pem(X509* c) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, c);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, n);
  BIO_free(b);
  return s;
}

std::string KeyPem(EVP_PKEY* k) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, k, nullptr, nullptr, 0, nullptr, nullptr);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, n);
  BIO_free(b);
  return s;
}

void AddExt(X509* c, X509* issuer, int nid, const char* v) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, c, nullptr, nullptr, 0);
  X509_EXTENSION* e = X509V3_EXT_conf_nid(nullptr, &ctx, nid, v);
  X509_add_ext(c, e, -1);
  X509_EXTENSION_free(e);
}

X509* NewCa(EVP_PKEY* key, bool is_ca = true) {
  X509* c = X509_new();
  X509_set_version(c, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(c), 1);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("Test CA"), -1, -1, 0);
  X509_set_issuer_name(c, X509_get_subject_name(c));
  X509_gmtime_adj(X509_getm_notBefore(c), -60);
  X509_gmtime_adj(X509_getm_notAfter(c), 86400);
  X509_set_pubkey(c, key);
  AddExt(c, c, NID_basic_constraints, is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  AddExt(c, c, NID_key_usage, "critical,keyCertSign,digitalSignature");
  X509_sign(c, key, EVP_sha256());
  return c;
}

std::string Csr(EVP_PKEY* key, const char* cn, const char* san = nullptr) {
  X509_REQ* r = X509_REQ_new();
  X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(r), "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509_REQ_set_pubkey(r, key);
  if (san != nullptr) {
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    sk_X509_EXTENSION_push(exts, X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san));
    X509_REQ_add_extensions(r, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  X509_REQ_sign(r, key, EVP_sha256());
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(b, r);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string s(d, n);
  BIO_free(b);
  X509_REQ_free(r);
  return s;
}

X509* ParseCert(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509* c = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  return c;
}

class CsrSignerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/csr_signer_test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ca_key_ = NewKey("P-256");
    ca_ = NewCa(ca_key_);
    std::ofstream(dir_ + "/ca.pem") << Pem(ca_);
    std::ofstream(dir_ + "/ca.key") << KeyPem(ca_key_);
  }
  void TearDown() override {
    X509_free(ca_);
    EVP_PKEY_free(ca_key_);
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  EVP_PKEY* ca_key_ = nullptr;
  X509* ca_ = nullptr;
};

TEST_F(CsrSignerTest, SignsAProbeCertificateAndIgnoresWhatTheCsrAsks) {
  std::unique_ptr<CsrSigner> signer;
  ASSERT_TRUE(CsrSigner::Load(dir_ + "/ca.pem", dir_ + "/ca.key", &signer).ok());
  EVP_PKEY* key = NewKey("P-256");
  // The CSR asks to be an admin named "root": both ignored.
  std::string csr = Csr(key, "root", "URI:parallax:role/admin");
  std::string cert_pem;
  Status st = signer->Sign(csr, "fra1", 30, &cert_pem);
  ASSERT_TRUE(st.ok()) << st.message();
  PeerIdentity who = IdentityFromPem(cert_pem);
  EXPECT_EQ(who.role, PeerRole::kProbe) << who.error;
  EXPECT_EQ(who.name, "fra1");
  EXPECT_EQ(cert_pem.find("role/admin"), std::string::npos);

  X509* cert = ParseCert(cert_pem);
  ASSERT_NE(cert, nullptr);
  EXPECT_EQ(X509_check_private_key(cert, key), 1) << "the CSR's key";
  EXPECT_EQ(X509_verify(cert, ca_key_), 1) << "signed by the CA";
  EXPECT_EQ(X509_check_ca(cert), 0);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca_);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, cert, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT);
  EXPECT_EQ(X509_verify_cert(ctx), 1)
      << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  int days = 0, secs = 0;
  ASSERT_EQ(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)), 1);
  EXPECT_EQ(days, 30);  // plus the 5 minutes of backdating
  EXPECT_EQ(secs, 300);
  std::string subject(256, '\0');
  X509_NAME_oneline(X509_get_subject_name(cert), subject.data(), 255);
  EXPECT_EQ(std::string(subject.c_str()), "/CN=fra1");
  X509_free(cert);
  EXPECT_EQ(signer->ca_pem(), Pem(ca_));
  EVP_PKEY_free(key);
}

TEST_F(CsrSignerTest, RefusesBadCsrs) {
  EXPECT_FALSE(CsrSigner::CheckCsr("not a csr").ok());
  EXPECT_FALSE(CsrSigner::CheckCsr(std::string(17 << 10, 'A')).ok());
  EVP_PKEY* weak = NewKey("rsa1024");
  Status st = CsrSigner::CheckCsr(Csr(weak, "x"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("1024 bits refused"), std::string::npos) << st.message();
  EVP_PKEY_free(weak);
  EVP_PKEY* k224 = NewKey("P-224");
  st = CsrSigner::CheckCsr(Csr(k224, "x"));
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("secp224r1 refused"), std::string::npos) << st.message();
  EVP_PKEY_free(k224);
  // A CSR whose signature does not match its key (a byte of the signature flipped).
  EVP_PKEY* key = NewKey("P-256");
  std::string csr = Csr(key, "x");
  EXPECT_TRUE(CsrSigner::CheckCsr(csr).ok());
  BIO* b = BIO_new_mem_buf(csr.data(), static_cast<int>(csr.size()));
  X509_REQ* r = PEM_read_bio_X509_REQ(b, nullptr, nullptr, nullptr);
  BIO_free(b);
  const ASN1_BIT_STRING* sig = nullptr;
  X509_REQ_get0_signature(r, &sig, nullptr);
  const_cast<ASN1_BIT_STRING*>(sig)->data[10] ^= 1;
  b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509_REQ(b, r);
  char* d;
  long n = BIO_get_mem_data(b, &d);
  std::string bad(d, n);
  BIO_free(b);
  X509_REQ_free(r);
  st = CsrSigner::CheckCsr(bad);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("bad signature"), std::string::npos) << st.message();
  EVP_PKEY_free(key);
}

TEST_F(CsrSignerTest, LoadRefusesAMismatchedKeyAndANonCa) {
  EVP_PKEY* other = NewKey("P-256");
  std::ofstream(dir_ + "/other.key") << KeyPem(other);
  std::unique_ptr<CsrSigner> signer;
  Status st = CsrSigner::Load(dir_ + "/ca.pem", dir_ + "/other.key", &signer);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is not the key of enroll.ca_cert"), std::string::npos);
  X509* leaf = NewCa(other, /*is_ca=*/false);
  std::ofstream(dir_ + "/leaf.pem") << Pem(leaf);
  st = CsrSigner::Load(dir_ + "/leaf.pem", dir_ + "/other.key", &signer);
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("is not a CA certificate"), std::string::npos) << st.message();
  EXPECT_FALSE(CsrSigner::Load(dir_ + "/missing.pem", dir_ + "/ca.key", &signer).ok());
  X509_free(leaf);
  EVP_PKEY_free(other);
}

TEST(CertFingerprint, MatchesOpensslSpellingAndReadsUserInput) {
  std::string fp = FingerprintOfDer("abc");
  EXPECT_EQ(fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:"
            "F2:00:15:AD");
  EXPECT_EQ(CanonicalFingerprint(
                "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
            fp);
  EXPECT_EQ(CanonicalFingerprint("SHA256 Fingerprint=" + fp), fp);
  EXPECT_EQ(CanonicalFingerprint(fp.substr(3)), "");
  EXPECT_EQ(CanonicalFingerprint("zz" + fp.substr(2)), "");
}

}  // namespace
}  // namespace parallax::collector
