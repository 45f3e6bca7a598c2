#include "probe/checks/dns_resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cstdlib>
#include <cstring>
#include <mutex>

namespace parallax::probe {

std::string DefaultDnsServers(const std::string& flag) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("PARALLAX_DNS_SERVER");
  return env != nullptr ? std::string(env) : std::string();
}

namespace {

using Clock = std::chrono::steady_clock;
namespace posix = boost::asio::posix;

struct Watch {
  explicit Watch(boost::asio::io_context& io) : d(io) {}
  posix::stream_descriptor d;  // not owning in spirit: released before c-ares closes the fd
  bool want_read = false, want_write = false;
  bool reading = false, writing = false;
  bool closed = false;
};

struct Lookup {
  explicit Lookup(boost::asio::io_context& io) : timer(io) {}
  DnsResolver::Done done;
  DnsAnswer answer;
  int pending = 2;
  bool finished = false;
  boost::asio::steady_timer timer;
  Clock::time_point start;
  std::chrono::milliseconds deadline{0};
};

std::string ErrorText(int status) {
  switch (status) {
    case ARES_ENODATA:
      return "no record of this type";
    case ARES_ENOTFOUND:
      return "name not found (NXDOMAIN)";
    case ARES_ETIMEOUT:
      return "no answer from the DNS server";
    case ARES_ECONNREFUSED:
      return "DNS server refused the query or the connection";
    case ARES_ESERVFAIL:
      return "DNS server failure (SERVFAIL)";
    case ARES_EREFUSED:
      return "DNS server refused the query";
    default:
      return ares_strerror(status);
  }
}

}  // namespace

struct DnsResolver::Impl : std::enable_shared_from_this<Impl> {
  explicit Impl(boost::asio::io_context& io_context) : io(io_context), timer(io_context) {}

  struct Query {
    std::shared_ptr<Impl> impl;
    std::shared_ptr<Lookup> lookup;
    int family;
  };

  static void SockState(void* data, ares_socket_t fd, int readable, int writable) {
    auto* impl = static_cast<Impl*>(data);
    auto it = impl->watches.find(fd);
    if (!readable && !writable) {
      if (it == impl->watches.end()) return;
      // c-ares closes the fd right after this: stop watching it first.
      it->second->closed = true;
      boost::system::error_code ignored;
      it->second->d.cancel(ignored);
      it->second->d.release();
      impl->watches.erase(it);
      return;
    }
    if (impl->destroying) return;
    std::shared_ptr<Watch> w;
    if (it == impl->watches.end()) {
      w = std::make_shared<Watch>(impl->io);
      boost::system::error_code ec;
      w->d.assign(fd, ec);
      if (ec) return;  // c-ares' own timeout ends its queries on this socket
      impl->watches.emplace(fd, w);
    } else {
      w = it->second;
    }
    w->want_read = readable != 0;
    w->want_write = writable != 0;
    impl->Arm(w, fd);
  }

  void Arm(const std::shared_ptr<Watch>& w, int fd) {
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->d.async_wait(posix::descriptor_base::wait_read, [self = shared_from_this(), w,
                                                          fd](const boost::system::error_code& ec) {
        w->reading = false;
        if (w->closed || self->destroying || ec == boost::asio::error::operation_aborted) {
          return;
        }
        ares_process_fd(self->channel, fd, ARES_SOCKET_BAD);
        if (!w->closed) self->Arm(w, fd);
        self->ScheduleTimer();
      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->d.async_wait(posix::descriptor_base::wait_write, [self = shared_from_this(), w, fd](
                                                              const boost::system::error_code& ec) {
        w->writing = false;
        if (w->closed || self->destroying || ec == boost::asio::error::operation_aborted) {
          return;
        }
        ares_process_fd(self->channel, ARES_SOCKET_BAD, fd);
        if (!w->closed) self->Arm(w, fd);
        self->ScheduleTimer();
      });
    }
  }

  void ScheduleTimer() {
    if (destroying) return;
    timeval tv{};
    timeval* t = ares_timeout(channel, nullptr, &tv);
    if (t == nullptr) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec));
    timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
      if (ec || self->destroying) return;
      ares_process_fd(self->channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // retries, timeouts
      self->ScheduleTimer();
    });
  }

  void Finish(const std::shared_ptr<Lookup>& l) {
    if (l->finished) return;
    l->finished = true;
    l->timer.cancel();
    l->answer.elapsed_us = static_cast<uint32_t>(std::min<int64_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - l->start).count(),
        UINT32_MAX));
    --pending;
    boost::asio::post(io, [l] {
      DnsResolver::Done done = std::move(l->done);
      if (done) done(std::move(l->answer));
    });
  }

  static void OnAddrInfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    std::unique_ptr<Query> q(static_cast<Query*>(arg));
    if (!q->impl->destroying && !q->lookup->finished) {
      Lookup& l = *q->lookup;
      bool v4 = q->family == AF_INET;
      auto& list = v4 ? l.answer.v4 : l.answer.v6;
      std::string& error = v4 ? l.answer.v4_error : l.answer.v6_error;
      if (status == ARES_SUCCESS && res != nullptr) {
        for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
          if (list.size() >= kMaxAnswersPerFamily) break;
          boost::asio::ip::address a;
          if (n->ai_family == AF_INET && v4 && n->ai_addr != nullptr) {
            const auto* sin = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
            a = boost::asio::ip::address_v4(ntohl(sin->sin_addr.s_addr));
          } else if (n->ai_family == AF_INET6 && !v4 && n->ai_addr != nullptr) {
            const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
            boost::asio::ip::address_v6::bytes_type b;
            std::memcpy(b.data(), sin6->sin6_addr.s6_addr, 16);
            a = boost::asio::ip::address_v6(b, sin6->sin6_scope_id);
          } else {
            continue;
          }
          if (std::find(list.begin(), list.end(), a) == list.end()) list.push_back(a);
        }
      } else {
        error = ErrorText(status);
      }
      if (--l.pending == 0) q->impl->Finish(q->lookup);
    }
    if (res != nullptr) ares_freeaddrinfo(res);
  }

  boost::asio::io_context& io;
  ares_channel channel = nullptr;
  std::map<int, std::shared_ptr<Watch>> watches;
  boost::asio::steady_timer timer;
  bool destroying = false;
  size_t pending = 0;
};

DnsResolver::DnsResolver(boost::asio::io_context& io)
    : io_(io), impl_(std::make_shared<Impl>(io)) {}

Status DnsResolver::Create(boost::asio::io_context& io, DnsResolverOptions options,
                           std::shared_ptr<DnsResolver>* out) {
  static std::once_flag once;
  static int init_status = ARES_SUCCESS;
  std::call_once(once, [] { init_status = ares_library_init(ARES_LIB_INIT_ALL); });
  if (init_status != ARES_SUCCESS) {
    return Status::Internal(std::string("c-ares: ") + ares_strerror(init_status));
  }
  std::shared_ptr<DnsResolver> r(new DnsResolver(io));
  ares_options o{};
  o.sock_state_cb = &Impl::SockState;
  o.sock_state_cb_data = r->impl_.get();
  o.timeout = static_cast<int>(std::max<int64_t>(options.try_timeout.count(), 1));
  o.tries = std::max(options.tries, 1);
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
  int st = ares_init_options(&r->impl_->channel, &o, mask);
  if (st != ARES_SUCCESS) {
    r->impl_->channel = nullptr;
    return Status::Internal(std::string("c-ares: ") + ares_strerror(st));
  }
  if (!options.servers.empty()) {
    st = ares_set_servers_ports_csv(r->impl_->channel, options.servers.c_str());
    if (st != ARES_SUCCESS) {
      return Status::InvalidArgument("DNS servers \"" + options.servers +
                                     "\": " + ares_strerror(st) +
                                     " (expected ip[:port],... with [v6]:port)");
    }
  }
  *out = std::move(r);
  return Status::Ok();
}

size_t DnsResolver::pending() const { return impl_->pending; }

DnsResolver::~DnsResolver() {
  impl_->destroying = true;
  impl_->timer.cancel();
  if (impl_->channel != nullptr) ares_destroy(impl_->channel);  // callbacks see `destroying`
  impl_->channel = nullptr;
  for (auto& [fd, w] : impl_->watches) {
    w->closed = true;
    boost::system::error_code ignored;
    w->d.cancel(ignored);
    w->d.release();
  }
  impl_->watches.clear();
}

void DnsResolver::Resolve(const std::string& name, std::chrono::milliseconds deadline, Done done) {
  auto l = std::make_shared<Lookup>(io_);
  l->done = std::move(done);
  l->start = Clock::now();
  l->deadline = deadline;
  ++impl_->pending;
  l->timer.expires_after(deadline);
  l->timer.async_wait([impl = impl_, l](const boost::system::error_code& ec) {
    if (ec || l->finished || impl->destroying) return;
    std::string why = "timed out after " + std::to_string(l->deadline.count()) + " ms";
    // A family that answered keeps its answer; the others say they timed out.
    if (l->answer.v4.empty() && l->answer.v4_error.empty()) l->answer.v4_error = why;
    if (l->answer.v6.empty() && l->answer.v6_error.empty()) l->answer.v6_error = why;
    l->answer.timed_out = true;
    impl->Finish(l);
  });
  for (int family : {AF_INET, AF_INET6}) {
    ares_addrinfo_hints hints{};
    hints.ai_family = family;
    hints.ai_flags = ARES_AI_NOSORT;
    auto* q = new Impl::Query{impl_, l, family};
    ares_getaddrinfo(impl_->channel, name.c_str(), nullptr, &hints, &Impl::OnAddrInfo, q);
  }
  impl_->ScheduleTimer();
}

}  // namespace parallax::probe
