#include "probe/checks/outcome_mapping.h"

#include <boost/asio/error.hpp>
#include <cerrno>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

namespace parallax::probe {
namespace {

bool IsErrno(const boost::system::error_code& ec) {
  return ec.category() == boost::system::system_category() ||
         ec.category() == boost::system::generic_category();
}

v1::Outcome ConnectOutcome(int e) {
  if (IsProbeSideErrno(e)) return v1::OUTCOME_PROBE_ERROR;
  switch (e) {
    case ECONNREFUSED:
      return v1::OUTCOME_REFUSED;
    case EHOSTUNREACH:
    case EHOSTDOWN:
      return v1::OUTCOME_HOST_UNREACHABLE;
    case ETIMEDOUT:
      return v1::OUTCOME_TIMEOUT;
    case ECONNRESET:
    case ECONNABORTED:
      return v1::OUTCOME_RESET;
    default:  // ENETUNREACH, ENETDOWN, ...
      return v1::OUTCOME_NETWORK_UNREACHABLE;
  }
}

v1::Outcome BannerOutcome(int e) {
  if (e == ENOBUFS || e == ENOMEM) return v1::OUTCOME_PROBE_ERROR;
  return e == ETIMEDOUT ? v1::OUTCOME_BANNER_TIMEOUT : v1::OUTCOME_RESET;
}

}  // namespace

bool IsProbeSideErrno(int e) {
  switch (e) {
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
    case EADDRNOTAVAIL:
    case EADDRINUSE:
    case EACCES:
    case EPERM:
      return true;
    default:
      return false;
  }
}

bool IsResourceExhaustion(int e) {
  return e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM || e == EADDRNOTAVAIL;
}

std::string_view PhaseName(Phase phase) {
  switch (phase) {
    case Phase::kResolve:
      return "resolve";
    case Phase::kConnect:
      return "connect";
    case Phase::kBanner:
      return "banner";
  }
  return "unknown";
}

MappedError MapError(Phase phase, const boost::system::error_code& ec) {
  MappedError m;
  bool is_errno = IsErrno(ec);
  m.error_number = is_errno ? ec.value() : 0;
  std::string message = ec.message();
  switch (phase) {
    case Phase::kResolve:
      m.outcome = v1::OUTCOME_DNS_ERROR;
      m.detail = "resolve failed: " + message;
      break;
    case Phase::kConnect:
      m.outcome = is_errno ? ConnectOutcome(ec.value()) : v1::OUTCOME_NETWORK_UNREACHABLE;
      m.detail = (m.outcome == v1::OUTCOME_PROBE_ERROR
                      ? "probe error, connect failed on the probe's side: "
                      : "connect failed: ") +
                 message;
      break;
    case Phase::kBanner:
      if (ec == boost::asio::error::eof) {
        m.outcome = v1::OUTCOME_CLOSED;
        m.detail = "connection closed by the server before an SSH identification line";
      } else {
        m.outcome = is_errno ? BannerOutcome(ec.value()) : v1::OUTCOME_RESET;
        m.detail = m.outcome == v1::OUTCOME_PROBE_ERROR
                       ? "probe error while reading the SSH identification line: " + message
                       : "connection failed before an SSH identification line: " + message;
      }
      break;
  }
  return m;
}

MappedError MapDeadline(Phase phase) {
  MappedError m;
  switch (phase) {
    case Phase::kResolve:
      m.outcome = v1::OUTCOME_DNS_ERROR;
      m.detail = "resolve timed out";
      break;
    case Phase::kConnect:
      m.outcome = v1::OUTCOME_TIMEOUT;
      m.detail = "connect timed out";
      break;
    case Phase::kBanner:
      m.outcome = v1::OUTCOME_BANNER_TIMEOUT;
      m.detail = "no SSH identification line before the deadline";
      break;
  }
  return m;
}

}  // namespace parallax::probe
