#include "probe/enroll/server_chain.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <memory>

#include "common/cert_fingerprint.h"
#include "common/escape.h"

namespace parallax::probe {
namespace {

std::string ToPem(X509* c) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(BIO_new(BIO_s_mem()), BIO_free);
  if (!b || PEM_write_bio_X509(b.get(), c) != 1) return "";
  char* d = nullptr;
  long n = BIO_get_mem_data(b.get(), &d);
  return std::string(d, static_cast<size_t>(n));
}

X509* FromPem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> b(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return b ? PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr) : nullptr;
}

bool SplitAddress(const std::string& address, std::string* host, std::string* port) {
  size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 == address.size()) return false;
  *host = address.substr(0, colon);
  *port = address.substr(colon + 1);
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']') {
    *host = host->substr(1, host->size() - 2);
  }
  return !host->empty();
}

std::string Subject(X509* c) {
  char buf[256] = {};
  X509_NAME_oneline(X509_get_subject_name(c), buf, sizeof(buf) - 1);
  return EscapeForTerminal(buf);
}

}  // namespace

Status FetchServerChain(const std::string& address, const std::string& sni,
                        std::chrono::milliseconds timeout, std::vector<std::string>* pem_chain) {
  std::string host, port;
  if (!SplitAddress(address, &host, &port)) {
    return Status::InvalidArgument("--collector \"" + address + "\": expected HOST:PORT");
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) {
    return Status::Unavailable("cannot resolve \"" + host + "\": " + gai_strerror(rc));
  }
  int fd = -1;
  std::string why = "no address";
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) continue;
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));  // bounds connect() too
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
    why = std::strerror(errno);
    ::close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) return Status::Unavailable("cannot connect to " + address + ": " + why);

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(ctx ? SSL_new(ctx.get()) : nullptr, SSL_free);
  if (!ssl) {
    ::close(fd);
    return Status::Internal("OpenSSL: cannot make a TLS client");
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Not verified here: the chain is checked against the pinned fingerprint.
  SSL_set_verify(ssl.get(), SSL_VERIFY_NONE, nullptr);
  static const unsigned char kAlpn[] = {2, 'h', '2'};
  SSL_set_alpn_protos(ssl.get(), kAlpn, sizeof(kAlpn));
  std::string name = sni.empty() ? host : sni;
  in6_addr ip;
  if (inet_pton(AF_INET, name.c_str(), &ip) != 1 && inet_pton(AF_INET6, name.c_str(), &ip) != 1) {
    SSL_set_tlsext_host_name(ssl.get(), name.c_str());
  }
  SSL_set_fd(ssl.get(), fd);
  Status result = Status::Ok();
  if (SSL_connect(ssl.get()) != 1) {
    unsigned long e = ERR_get_error();
    char buf[256] = "handshake failed";
    if (e != 0) ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    result = Status::Unavailable("TLS handshake with " + address + " failed: " + buf);
  } else {
    STACK_OF(X509)* chain = SSL_get_peer_cert_chain(ssl.get());
    pem_chain->clear();
    for (int i = 0; chain != nullptr && i < sk_X509_num(chain) && i < 10; ++i) {
      pem_chain->push_back(ToPem(sk_X509_value(chain, i)));
    }
    if (pem_chain->empty()) result = Status::Unavailable(address + " presented no certificate");
    SSL_shutdown(ssl.get());
  }
  ssl.reset();
  ::close(fd);
  return result;
}

Status PinnedCaFromChain(const std::vector<std::string>& chain, const std::string& fingerprint,
                         std::string* ca_pem) {
  std::string seen;
  int match = -1;
  for (size_t i = 0; i < chain.size(); ++i) {
    std::string fp;
    if (!FingerprintOfPem(chain[i], &fp).ok()) continue;
    std::unique_ptr<X509, decltype(&X509_free)> c(FromPem(chain[i]), X509_free);
    seen += "\n  " + fp + " " + (c ? Subject(c.get()) : std::string("?"));
    if (fp == fingerprint && match < 0) match = static_cast<int>(i);
  }
  if (match < 0) {
    return Status::InvalidArgument(
        "no certificate the collector presented has the SHA-256 fingerprint " + fingerprint +
        " (it presented:" + seen +
        ")\nWrong collector, wrong --ca-fingerprint, or the collector's enrollment is off "
        "(its TLS chain carries enroll.ca_cert only when enroll.ca_key is set)");
  }
  std::unique_ptr<X509, decltype(&X509_free)> ca(FromPem(chain[match]), X509_free);
  std::unique_ptr<X509, decltype(&X509_free)> leaf(FromPem(chain[0]), X509_free);
  if (!ca || !leaf) return Status::InvalidArgument("cannot parse the collector's certificates");
  if (X509_check_ca(ca.get()) == 0) {
    return Status::InvalidArgument("the certificate with fingerprint " + fingerprint +
                                   " is not a CA (" + Subject(ca.get()) + ")");
  }
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(X509_STORE_new(), X509_STORE_free);
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(X509_STORE_CTX_new(),
                                                                      X509_STORE_CTX_free);
  STACK_OF(X509)* untrusted = sk_X509_new_null();
  std::vector<std::unique_ptr<X509, decltype(&X509_free)>> keep;
  for (size_t i = 1; i < chain.size(); ++i) {
    keep.emplace_back(FromPem(chain[i]), X509_free);
    if (keep.back()) sk_X509_push(untrusted, keep.back().get());
  }
  X509_STORE_add_cert(store.get(), ca.get());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf.get(), untrusted);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_SERVER);
  int ok = X509_verify_cert(ctx.get());
  std::string err = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()));
  sk_X509_free(untrusted);
  ERR_clear_error();
  if (ok != 1) {
    return Status::InvalidArgument("the collector's certificate (" + Subject(leaf.get()) +
                                   ") does not chain to the pinned CA: " + err);
  }
  *ca_pem = chain[match];
  return Status::Ok();
}

}  // namespace parallax::probe
