#include "probe/enroll/enroll_command.h"

#include <grpcpp/grpcpp.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <memory>

#include "common/cert_fingerprint.h"
#include "common/escape.h"
#include "common/tls.h"
#include "common/version.h"
#include "parallax/v1/enroll.grpc.pb.h"
#include "probe/enroll/enrolled_credentials.h"
#include "probe/enroll/server_chain.h"

namespace parallax::probe {
namespace {

using KeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using CertPtr = std::unique_ptr<X509, decltype(&X509_free)>;

bool NameOk(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

std::string BioText(BIO* b) {
  char* d = nullptr;
  long n = BIO_get_mem_data(b, &d);
  return std::string(d, static_cast<size_t>(n));
}

// A fresh EC P-256 key and a CSR (CN=name) signed by it.
Status MakeKeyAndCsr(const std::string& name, std::string* key_pem, std::string* csr_pem) {
  KeyPtr key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  if (!key) return Status::Internal("cannot generate an EC P-256 key");
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  bool ok = req && X509_REQ_set_version(req.get(), 0) == 1 &&
            X509_NAME_add_entry_by_txt(X509_REQ_get_subject_name(req.get()), "CN", MBSTRING_ASC,
                                       reinterpret_cast<const unsigned char*>(name.c_str()), -1, -1,
                                       0) == 1 &&
            X509_REQ_set_pubkey(req.get(), key.get()) == 1 &&
            X509_REQ_sign(req.get(), key.get(), EVP_sha256()) > 0;
  if (!ok) return Status::Internal("cannot make the certificate request");
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(BIO_new(BIO_s_mem()), BIO_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> rb(BIO_new(BIO_s_mem()), BIO_free);
  if (!kb || !rb ||
      PEM_write_bio_PrivateKey(kb.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_X509_REQ(rb.get(), req.get()) != 1) {
    return Status::Internal("cannot encode the key or the request");
  }
  *key_pem = BioText(kb.get());
  *csr_pem = BioText(rb.get());
  return Status::Ok();
}

CertPtr ParseCert(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return CertPtr(b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
}

bool HasProbeUri(X509* cert, const std::string& name) {
  GENERAL_NAMES* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  bool found = false;
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = g->d.uniformResourceIdentifier;
    std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                    static_cast<size_t>(ASN1_STRING_length(s)));
    if (uri == "parallax:probe/" + name) found = true;
  }
  GENERAL_NAMES_free(sans);
  return found;
}

// The collector's answer: the pinned CA, a certificate for our key and name
// that chains to it.
Status CheckAnswer(const v1::EnrollResponse& r, const std::string& fingerprint,
                   const std::string& key_pem, const std::string& name) {
  std::string fp;
  if (!FingerprintOfPem(r.ca_pem(), &fp).ok() || fp != fingerprint) {
    return Status::InvalidArgument("the collector answered with a CA whose fingerprint is not " +
                                   fingerprint);
  }
  CertPtr cert = ParseCert(r.cert_pem());
  CertPtr ca = ParseCert(r.ca_pem());
  std::unique_ptr<BIO, decltype(&BIO_free)> kb(
      BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())), BIO_free);
  KeyPtr key(PEM_read_bio_PrivateKey(kb.get(), nullptr, nullptr, nullptr), EVP_PKEY_free);
  if (!cert || !ca || !key) return Status::InvalidArgument("unreadable certificate in the answer");
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the certificate is not for the key made here");
  }
  if (!HasProbeUri(cert.get(), name)) {
    return Status::InvalidArgument("the certificate does not carry SAN URI parallax:probe/" + name);
  }
  EVP_PKEY* ca_key = X509_get0_pubkey(ca.get());
  if (ca_key == nullptr || X509_verify(cert.get(), ca_key) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument("the certificate is not signed by the pinned CA");
  }
  return Status::Ok();
}

std::string NotAfter(const std::string& cert_pem) {
  CertPtr cert = ParseCert(cert_pem);
  if (!cert) return "?";
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), BIO_free);
  ASN1_TIME_print(b.get(), X509_get0_notAfter(cert.get()));
  return BioText(b.get());
}

}  // namespace

int RunEnroll(int argc, char** argv) {
  CLI::App app{
      "parallax-probe enroll: enroll this probe at a collector in one command. Makes a key "
      "here (it never leaves this machine), checks that the collector's certificate chains to "
      "the CA with --ca-fingerprint before sending anything, sends a certificate request with "
      "the one-time token from `parallax-collector token create`, and stores the key, the "
      "signed certificate and the CA under STATE_DIR/enroll, where `parallax-probe` finds them "
      "when started without --ca/--cert/--key.",
      "parallax-probe enroll"};
  std::string collector, token, name, fingerprint_text, server_name;
  std::string state_dir = "/var/lib/parallax-probe";
  app.add_option("--collector", collector, "Collector address HOST:PORT")->required();
  app.add_option("--token", token, "One-time token from `parallax-collector token create`")
      ->required();
  app.add_option("--name", name, "Probe name the token was issued for")->required();
  app.add_option("--ca-fingerprint", fingerprint_text,
                 "SHA-256 fingerprint of the collector's CA, as `token create` printed it")
      ->required();
  app.add_option("--state-dir", state_dir,
                 "The probe's state directory; credentials go to STATE_DIR/enroll")
      ->capture_default_str();
  app.add_option("--tls-server-name", server_name,
                 "Expected name in the collector's certificate (default: HOST)");
  app.set_version_flag("--version", std::string("parallax-probe ") + PARALLAX_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  auto fail = [](int code, const std::string& msg) {
    std::fprintf(stderr, "parallax-probe enroll: %s\n", msg.c_str());
    return code;
  };
  std::string fingerprint = CanonicalFingerprint(fingerprint_text);
  if (fingerprint.empty()) {
    return fail(2, "--ca-fingerprint \"" + EscapeForTerminal(fingerprint_text) +
                       "\": expected 64 hex digits (AB:CD:... as `token create` prints)");
  }
  if (!NameOk(name))
    return fail(2, "--name \"" + EscapeForTerminal(name) + "\": use 1..64 of [A-Za-z0-9._-]");
  if (state_dir.empty()) return fail(2, "--state-dir: must not be empty");

  // 1. The pinned CA, before anything is sent.
  std::vector<std::string> chain;
  Status st = FetchServerChain(collector, server_name, std::chrono::seconds(10), &chain);
  if (!st.ok()) return fail(1, st.message());
  std::string ca_pem;
  st = PinnedCaFromChain(chain, fingerprint, &ca_pem);
  if (!st.ok()) return fail(1, "refused, token not sent: " + st.message());

  // 2. Key and CSR.
  std::string key_pem, csr_pem;
  st = MakeKeyAndCsr(name, &key_pem, &csr_pem);
  if (!st.ok()) return fail(1, st.message());

  // 3. Enroll over TLS that trusts only the pinned CA.
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = ca_pem;
  ClientTlsFlags flags;
  flags.server_name = server_name;
  auto channel =
      grpc::CreateCustomChannel(collector, grpc::SslCredentials(opts), MakeChannelArguments(flags));
  auto stub = v1::EnrollService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::EnrollRequest req;
  req.set_token(token);
  req.set_name(name);
  req.set_csr_pem(csr_pem);
  v1::EnrollResponse resp;
  grpc::Status gs = stub->Enroll(&ctx, req, &resp);
  OPENSSL_cleanse(token.data(), token.size());
  if (!gs.ok()) {
    return fail(1, "the collector refused: " + EscapeForTerminal(gs.error_message()) + " (code " +
                       std::to_string(static_cast<int>(gs.error_code())) + ")");
  }

  // 4. Check and store.
  st = CheckAnswer(resp, fingerprint, key_pem, name);
  if (!st.ok()) return fail(1, "answer refused, nothing stored: " + st.message());
  EnrolledCredentials stored;
  st = StoreEnrolled(state_dir, name, key_pem, resp.cert_pem(), resp.ca_pem(), &stored);
  OPENSSL_cleanse(key_pem.data(), key_pem.size());
  if (!st.ok()) return fail(1, st.message());
  std::printf(
      "enrolled as probe \"%s\" (certificate valid until %s)\n"
      "  key          %s (made here, mode 0600)\n"
      "  certificate  %s\n"
      "  CA           %s\n"
      "Start the probe (it uses these when run without --ca/--cert/--key):\n"
      "  parallax-probe --collector %s --state-dir %s --label network=NETWORK\n",
      name.c_str(), NotAfter(resp.cert_pem()).c_str(), stored.key.c_str(), stored.cert.c_str(),
      stored.ca.c_str(), collector.c_str(), state_dir.c_str());
  return 0;
}

}  // namespace parallax::probe
