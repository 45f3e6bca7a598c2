// CsrSigner: signs a probe's certificate signing request with the
// enrollment CA (enroll.ca_cert, enroll.ca_key).
//
// Only the CSR's public key is used: its subject and requested extensions
// are ignored. The CSR must be at most 16 KiB of PEM, carry a valid self
// signature (proof that the requester holds the key) and an EC key on
// P-256/P-384/P-521 or an RSA key of 2048..8192 bits. The certificate gets:
// subject CN=NAME, SAN URI parallax:probe/NAME (the probe identity,
// collector/auth/peer_identity.h), CA:FALSE, digitalSignature, clientAuth, a
// random 127-bit serial, validity from 5 minutes ago for `days` days.
//
// Thread-safe after Load (Sign only reads the CA).
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>

#include "common/status.h"

namespace parallax::collector {

inline constexpr size_t kMaxCsrBytes = 16 << 10;

class CsrSigner {
 public:
  // Reads the CA certificate and key (PEM files) and checks they match.
  static Status Load(const std::string& ca_cert_path, const std::string& ca_key_path,
                     std::unique_ptr<CsrSigner>* out);
  ~CsrSigner();

  // Validates `csr_pem` (see above) without signing.
  static Status CheckCsr(const std::string& csr_pem);
  // Signs a certificate for probe `name` (already validated) over the CSR's key.
  Status Sign(const std::string& csr_pem, const std::string& name, int64_t days,
              std::string* cert_pem) const;
  const std::string& ca_pem() const { return ca_pem_; }

 private:
  CsrSigner() = default;
  X509* ca_ = nullptr;
  EVP_PKEY* key_ = nullptr;
  std::string ca_pem_;
};

}  // namespace parallax::collector
