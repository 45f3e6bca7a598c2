#include "probe/checks/outcome_mapping.h"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>
#include <cerrno>

namespace parallax::probe {
namespace {

namespace err = boost::asio::error;
using boost::system::error_code;

struct MappingCase {
  Phase phase;
  error_code ec;
  v1::Outcome outcome;
  int error_number;
};

TEST(OutcomeMappingTest, Table) {
  const MappingCase cases[] = {
      {Phase::kConnect, err::connection_refused, v1::OUTCOME_REFUSED, ECONNREFUSED},
      {Phase::kConnect, err::host_unreachable, v1::OUTCOME_HOST_UNREACHABLE, EHOSTUNREACH},
      {Phase::kConnect, error_code(EHOSTDOWN, boost::system::system_category()),
       v1::OUTCOME_HOST_UNREACHABLE, EHOSTDOWN},
      {Phase::kConnect, err::network_unreachable, v1::OUTCOME_NETWORK_UNREACHABLE, ENETUNREACH},
      {Phase::kConnect, err::network_down, v1::OUTCOME_NETWORK_UNREACHABLE, ENETDOWN},
      {Phase::kConnect, err::timed_out, v1::OUTCOME_TIMEOUT, ETIMEDOUT},
      {Phase::kConnect, err::connection_reset, v1::OUTCOME_RESET, ECONNRESET},
      {Phase::kConnect, err::connection_aborted, v1::OUTCOME_RESET, ECONNABORTED},
      {Phase::kConnect, err::access_denied, v1::OUTCOME_PROBE_ERROR, EACCES},
      {Phase::kConnect, error_code(EPERM, boost::system::system_category()),
       v1::OUTCOME_PROBE_ERROR, EPERM},
      {Phase::kConnect, error_code(EADDRNOTAVAIL, boost::system::system_category()),
       v1::OUTCOME_PROBE_ERROR, EADDRNOTAVAIL},
      {Phase::kConnect, err::no_descriptors, v1::OUTCOME_PROBE_ERROR, EMFILE},
      {Phase::kConnect, error_code(ENFILE, boost::system::system_category()),
       v1::OUTCOME_PROBE_ERROR, ENFILE},
      {Phase::kConnect, err::no_buffer_space, v1::OUTCOME_PROBE_ERROR, ENOBUFS},
      {Phase::kConnect, err::no_memory, v1::OUTCOME_PROBE_ERROR, ENOMEM},
      {Phase::kBanner, err::no_buffer_space, v1::OUTCOME_PROBE_ERROR, ENOBUFS},
      {Phase::kBanner, err::eof, v1::OUTCOME_CLOSED, 0},
      {Phase::kBanner, err::connection_reset, v1::OUTCOME_RESET, ECONNRESET},
      {Phase::kBanner, err::connection_aborted, v1::OUTCOME_RESET, ECONNABORTED},
      {Phase::kBanner, err::broken_pipe, v1::OUTCOME_RESET, EPIPE},
      {Phase::kBanner, err::timed_out, v1::OUTCOME_BANNER_TIMEOUT, ETIMEDOUT},
      {Phase::kResolve, err::host_not_found, v1::OUTCOME_DNS_ERROR, 0},
      {Phase::kResolve, err::host_not_found_try_again, v1::OUTCOME_DNS_ERROR, 0},
      {Phase::kResolve, err::no_data, v1::OUTCOME_DNS_ERROR, 0},
      {Phase::kResolve, err::service_not_found, v1::OUTCOME_DNS_ERROR, 0},
      {Phase::kResolve, err::timed_out, v1::OUTCOME_DNS_ERROR, ETIMEDOUT},
  };
  for (const MappingCase& c : cases) {
    SCOPED_TRACE(std::string(PhaseName(c.phase)) + " " + c.ec.message());
    MappedError m = MapError(c.phase, c.ec);
    EXPECT_EQ(m.outcome, c.outcome);
    EXPECT_EQ(m.error_number, c.error_number);
    EXPECT_FALSE(m.detail.empty());
    EXPECT_NE(m.outcome, v1::OUTCOME_UNSPECIFIED);
  }
}

TEST(OutcomeMappingTest, DetailNamesTheError) {
  MappedError m = MapError(Phase::kConnect, err::connection_refused);
  EXPECT_NE(m.detail.find("connect"), std::string::npos) << m.detail;
  EXPECT_NE(m.detail.find("refused"), std::string::npos) << m.detail;
}

TEST(OutcomeMappingTest, DeadlineByPhase) {
  EXPECT_EQ(MapDeadline(Phase::kResolve).outcome, v1::OUTCOME_DNS_ERROR);
  EXPECT_EQ(MapDeadline(Phase::kResolve).detail, "resolve timed out");
  EXPECT_EQ(MapDeadline(Phase::kConnect).outcome, v1::OUTCOME_TIMEOUT);
  EXPECT_EQ(MapDeadline(Phase::kBanner).outcome, v1::OUTCOME_BANNER_TIMEOUT);
  EXPECT_EQ(MapDeadline(Phase::kBanner).error_number, 0);
}

}  // namespace
}  // namespace parallax::probe
