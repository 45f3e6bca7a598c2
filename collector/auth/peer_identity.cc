#include "collector/auth/peer_identity.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "collector/config/config.h"
#include "common/escape.h"

namespace parallax::collector {
namespace {

constexpr std::string_view kProbeUri = "parallax:probe/";
constexpr std::string_view kRoleUri = "parallax:role/";

std::string CommonName(X509* cert) {
  X509_NAME* subject = X509_get_subject_name(cert);
  int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return "";
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return "";
  std::string out(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  return out;
}

std::string Serial(X509* cert) {
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  // BN_bn2hex prints whole bytes ("0F1A"); `openssl x509 -serial` may too, and
  // the revoked list is written without leading zeros: compare one spelling.
  std::string out = hex != nullptr ? CanonicalSerial(hex) : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return out;
}

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

const char* RoleName(PeerRole role) {
  switch (role) {
    case PeerRole::kProbe:
      return "probe";
    case PeerRole::kReader:
      return "reader";
    case PeerRole::kAdmin:
      return "admin";
    case PeerRole::kNone:
      break;
  }
  return "none";
}

std::string PeerIdentity::Describe() const {
  if (!authenticated) return "unauthenticated peer";
  if (role == PeerRole::kNone) return "certificate serial " + serial + " (" + error + ")";
  return std::string(RoleName(role)) + " \"" + EscapeForTerminal(name) + "\" (certificate serial " +
         serial + ")";
}

PeerIdentity IdentityFromPem(const std::string& pem) {
  PeerIdentity id;
  id.authenticated = true;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  std::unique_ptr<X509, decltype(&X509_free)> cert(
      bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr, X509_free);
  if (!cert) {
    id.error = "unreadable client certificate";
    return id;
  }
  id.serial = Serial(cert.get());
  std::string cn = CommonName(cert.get());
  std::string uri_name, uri_role, conflict;
  auto* sans = static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans != nullptr && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans, i);
    if (gn->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = gn->d.uniformResourceIdentifier;
    std::string uri(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)), ASN1_STRING_length(s));
    std::string* slot = nullptr;
    std::string value;
    if (uri.rfind(kProbeUri, 0) == 0) {
      slot = &uri_name;
      value = uri.substr(kProbeUri.size());
    } else if (uri.rfind(kRoleUri, 0) == 0) {
      slot = &uri_role;
      value = uri.substr(kRoleUri.size());
    } else {
      continue;
    }
    if (!slot->empty() && *slot != value) conflict = uri;
    *slot = value;
  }
  GENERAL_NAMES_free(sans);
  if (!conflict.empty()) {
    id.error =
        "conflicting parallax: URIs in the certificate (" + EscapeForTerminal(conflict) + ")";
    return id;
  }
  if (!uri_name.empty() && !uri_role.empty() && uri_role != "probe") {
    id.error = "certificate is both probe \"" + EscapeForTerminal(uri_name) + "\" and role " +
               EscapeForTerminal(uri_role);
    return id;
  }
  if (!uri_name.empty() || uri_role.empty() || uri_role == "probe") {
    id.name = !uri_name.empty() ? uri_name : cn;
    if (!ValidName(id.name)) {
      id.error = "probe name \"" + EscapeForTerminal(id.name) +
                 "\" from the certificate is not 1..64 of [A-Za-z0-9._-]";
      return id;
    }
    id.role = PeerRole::kProbe;
    return id;
  }
  id.name = cn;
  if (uri_role == "reader") {
    id.role = PeerRole::kReader;
  } else if (uri_role == "admin") {
    id.role = PeerRole::kAdmin;
  } else {
    id.error = "unknown role \"" + EscapeForTerminal(uri_role) + "\" (reader, admin, probe)";
  }
  return id;
}

PeerIdentity IdentityFromAuthContext(const grpc::AuthContext* context) {
  if (context == nullptr || !context->IsPeerAuthenticated()) return PeerIdentity();
  std::vector<grpc::string_ref> pems = context->FindPropertyValues("x509_pem_cert");
  if (pems.empty()) return PeerIdentity();
  return IdentityFromPem(std::string(pems[0].data(), pems[0].size()));
}

}  // namespace parallax::collector
