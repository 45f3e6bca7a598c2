// Outcome mapping: turns the error a check phase failed with into the
// Outcome it means, the errno to report and a human-readable detail.
//
//   resolve: any failure                      -> dns_error
//   connect: ECONNREFUSED -> refused, EHOSTUNREACH/EHOSTDOWN -> host_unreachable,
//            ENETUNREACH/ENETDOWN -> network_unreachable, ETIMEDOUT -> timeout,
//            ECONNRESET/ECONNABORTED -> reset; failures on the probe's side
//            (EMFILE, ENFILE, ENOBUFS, ENOMEM, EADDRNOTAVAIL, EADDRINUSE, and
//            EPERM/EACCES from the probe host's own firewall or policy) ->
//            probe_error (no observation of the target; never its fault);
//            anything else -> network_unreachable (the detail says why)
//   banner:  EOF -> closed, ECONNRESET/ECONNABORTED/EPIPE -> reset,
//            ETIMEDOUT -> banner_timeout, ENOBUFS/ENOMEM -> probe_error,
//            anything else -> reset
//   deadline (the runner's Cancel()): resolve -> dns_error, connect -> timeout,
//            banner -> banner_timeout.
//
// error_number is the errno (system/generic error category) and 0 otherwise
// (EOF, resolver codes, deadlines). Pure functions, thread-safe.
#pragma once

#include <boost/system/error_code.hpp>
#include <string>
#include <string_view>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/outcome.pb.h"

namespace parallax::probe {

enum class Phase { kResolve, kConnect, kBanner };

std::string_view PhaseName(Phase phase);

// True for the errnos of a connect that failed on the probe's side
// (the list above): such a check says nothing about its target.
bool IsProbeSideErrno(int e);
// True for the probe-side errnos that mean "out of a local resource"
// (descriptors, buffers, memory, local ports): the scheduler pauses new checks.
bool IsResourceExhaustion(int e);

struct MappedError {
  v1::Outcome outcome = v1::OUTCOME_UNSPECIFIED;
  int error_number = 0;
  std::string detail;
};

// `ec` is a failure (not success, not the operation_aborted of a deadline).
MappedError MapError(Phase phase, const boost::system::error_code& ec);

// The check was cancelled at its deadline while in `phase`.
MappedError MapDeadline(Phase phase);

}  // namespace parallax::probe
