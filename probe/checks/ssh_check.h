// SshCheck: is an SSH server answering at host:port?
//
// Resolves the host (skipped for IP literals; async, never blocks the io
// thread; AI_ADDRCONFIG, so no IPv6 addresses on an IPv4-only host),
// connects to the first address, immediately sends the probe's own
// identification line (as OpenSSH's client does, so sshd logs a clean close
// rather than "did not receive identification string", and HTTP servers
// answer "400 Bad Request" that the parser recognises), then reads until the
// server's identification line, another protocol, EOF or an error, and closes
// the connection.
//
// Protocol rules are the BannerParser's (only SSH-2.0 / SSH-1.99 count; an
// echo or quote of our own line, HTML, RESP errors are not_ssh). A TCP
// self-connect (local address:port == remote address:port, which happens
// when the target is this host and the port lies in the ephemeral range) is
// OUTCOME_PROBE_ERROR, never ok: the probe talked to itself.
//
// With options.hostkey (or when the identification differs from
// options.hostkey_known_identification), the check then runs the SSH key
// exchange on the same connection (SshKexClient: host key, verified
// signature, SSH_MSG_DISCONNECT, never authentication) until the same
// deadline, and fills result().host_key (error set if it did not complete).
// The outcome stays ok: the server answered SSH.
//
// result() then holds: outcome, started_unix_ms, connect_us, banner_us
// (connect done -> identification received), address ("ip:port"),
// source_address (the local address of a connect that succeeded),
// error_number, identification, pre_banner, detail, and in liveness:
// ssh_icmp_error (the ICMP error that failed the connect, see icmp_error.h)
// and pre_banner_dropped. The runner fills target,
// generation, late_us, liveness and seq.
//
// Thread-safety: see check.h (io_context thread only).
#pragma once

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>  // Boost 1.74 Asio under C++20 needs this first

#include "parallax/v1/probe.pb.h"
#include "probe/checks/banner_parser.h"
#include "probe/checks/check.h"
#include "probe/checks/icmp_receiver.h"
#include "probe/checks/outcome_mapping.h"
#include "probe/checks/ssh_kex_client.h"

namespace parallax::probe {

struct SshCheckOptions {
  std::string host;  // DNS name or IP literal
  uint16_t port = 22;
  std::string identification;  // e.g. "SSH-2.0-parallax_probe_0.1.0"; sent with CR LF;
                               // empty: send nothing
  uint16_t source_port = 0;    // 0: the kernel's choice (tests pin it to provoke a self-connect)
  // The probe's shared ICMP receiver (null: only IP_RECVERR on the socket).
  std::shared_ptr<IcmpReceiver> icmp_receiver;
  // For a DNS name: why the address it resolved to may not be checked ("" if
  // it may), the probe's own target policy (probe/policy). A refused address
  // ends the check as probe_error before any packet is sent to it.
  std::function<std::string(const std::string& address)> address_policy;
  // Run the key exchange for the host key after the identification.
  bool hostkey = false;
  // Also run it when the identification line differs from this one
  // (empty: only with `hostkey`).
  std::string hostkey_known_identification;
};

class SshCheck : public Check, public std::enable_shared_from_this<SshCheck> {
 public:
  static std::shared_ptr<SshCheck> Create(boost::asio::io_context& io, SshCheckOptions options);

  void Start(Done done) override;
  void Cancel() override;

  // Valid once `done` has run.
  const v1::CheckResult& result() const { return result_; }
  v1::CheckResult* mutable_result() { return &result_; }
  // Still connecting (resolved, no answer to the SYN yet).
  bool connecting() const { return !finished_ && phase_ == Phase::kConnect; }
  // Nothing at all was read before the connection ended (for the second opinion).
  bool received_nothing() const { return received_ == 0; }
  // The address connected to (or tried), once resolution got that far.
  const std::optional<boost::asio::ip::address>& address() const { return address_; }

 private:
  using Clock = std::chrono::steady_clock;
  SshCheck(boost::asio::io_context& io, SshCheckOptions options);

  void OnResolved(const boost::system::error_code& ec,
                  const boost::asio::ip::tcp::resolver::results_type& results);
  void Connect(const boost::asio::ip::tcp::endpoint& endpoint);
  void OnConnected(const boost::system::error_code& ec);
  void ReadMore();
  void OnRead(const boost::system::error_code& ec, size_t n);
  // Ends the check in the banner phase after EOF / error / deadline.
  void EndBanner(MappedError m);
  // After the identification: runs the key exchange if wanted; false if not.
  bool MaybeStartKex();
  void OnKexRead(const boost::system::error_code& ec, size_t n);
  // The key exchange is over (done or aborted): records it, ends the check.
  void EndKex();
  // Queues bytes to send; one async_write at a time.
  void Send(std::string bytes);
  void WriteNext();
  // Fills the common result fields, closes everything and posts `done_`.
  void Complete(v1::Outcome outcome, int error_number, std::string detail);

  boost::asio::io_context& io_;
  SshCheckOptions options_;
  boost::asio::ip::tcp::resolver resolver_;
  boost::asio::ip::tcp::socket socket_;
  ConnectIcmpWatch icmp_watch_;
  Done done_;
  bool finished_ = false;
  Phase phase_ = Phase::kResolve;
  Clock::time_point connect_start_;
  Clock::time_point connected_at_;
  std::optional<boost::asio::ip::address> address_;
  boost::asio::ip::tcp::endpoint remote_;  // what Connect() connects to
  std::array<char, 2048> buffer_;
  BannerParser parser_;
  size_t received_ = 0;
  v1::CheckResult result_;
  std::unique_ptr<SshKexClient> kex_;
  Clock::time_point kex_start_;
  std::string write_queue_;  // bytes not yet handed to async_write
  std::string writing_;      // the bytes of the async_write in flight
  bool write_failed_ = false;
  bool complete_after_write_ = false;  // the key exchange is over: close once written
};

}  // namespace parallax::probe
