#include "probe/checks/check.h"

#include <boost/asio/steady_timer.hpp>

namespace parallax::probe {

void StartWithDeadline(boost::asio::io_context& io, std::shared_ptr<Check> check,
                       std::chrono::milliseconds timeout, Check::Done done) {
  auto timer = std::make_shared<boost::asio::steady_timer>(io, timeout);
  // The wait handler holds a weak reference only: once the check is done and
  // the timer cancelled, nothing keeps the check alive.
  std::weak_ptr<Check> weak = check;
  timer->async_wait([weak](const boost::system::error_code& ec) {
    if (ec) return;  // cancelled: the check finished first
    if (auto c = weak.lock()) c->Cancel();
  });
  check->Start([timer, done = std::move(done)]() {
    timer->cancel();
    done();
  });
}

}  // namespace parallax::probe
