// ICMP errors for the probe's own TCP connects.
//
// The kernel matches an ICMP / ICMPv6 error to the TCP socket whose flow it
// quotes (addresses and ports of the SYN), and with IP_RECVERR /
// IPV6_RECVERR set queues it on that socket's error queue with its type,
// code and sender ("offender"). That needs no privilege and no raw socket,
// and a forged error that does not quote our exact flow never reaches us.
//
//   EnableIcmpErrors(socket)   before connect (opens the socket if needed)
//   TakeIcmpError(socket, to)  after a failed connect: the queued error, if any
//   IcmpDescription(...)       pure: "port unreachable", "communication
//                              administratively prohibited", ...
//
// Thread-compatible (acts on the socket given).
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"

namespace parallax::probe {

// Human words for an ICMP (family 4) or ICMPv6 (family 6) type/code.
std::string IcmpDescription(int family, int type, int code);

// Builds the IcmpError message (pure; `from_target` = sender == target).
v1::IcmpError MakeIcmpError(int family, int type, int code, const boost::asio::ip::address& sender,
                            const boost::asio::ip::address& target);

// Opens `socket` for `protocol` if needed and sets IP(V6)_RECVERR. Failures
// are ignored (the evidence is then just missing).
void EnableIcmpErrors(boost::asio::ip::tcp::socket& socket, const boost::asio::ip::tcp& protocol);

// The first ICMP error queued on `socket` (non-blocking), or nullopt.
std::optional<v1::IcmpError> TakeIcmpError(boost::asio::ip::tcp::socket& socket,
                                           const boost::asio::ip::address& target);

}  // namespace parallax::probe
