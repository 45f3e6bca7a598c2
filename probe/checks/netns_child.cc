#include "probe/checks/netns_child.h"

#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace parallax::probe {

std::string InNetns(const std::string& rule, const std::function<std::string()>& body,
                    std::string* skip) {
  int fds[2];
  if (pipe(fds) != 0) return "";
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    auto fail = [&](const char* why) {
      (void)!write(fds[1], "SKIP ", 5);
      (void)!write(fds[1], why, strlen(why));
      _exit(0);
    };
    if (unshare(CLONE_NEWNET) != 0) fail("unshare(CLONE_NEWNET) not permitted");
    if (std::system("ip link set lo up >/dev/null 2>&1") != 0) fail("ip link set lo up failed");
    std::string nft =
        "nft add table inet pxt && nft add chain inet pxt in "
        "'{ type filter hook input priority 0; }' && nft add rule inet pxt in "
        "tcp dport 2201 " +
        rule + " >/dev/null 2>&1";
    if (std::system(nft.c_str()) != 0) fail("nft not usable");
    std::string out = body();
    (void)!write(fds[1], out.data(), out.size());
    _exit(0);
  }
  close(fds[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  // Bounded: the child's body runs for at most a few seconds.
  while ((n = read(fds[0], buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (out.rfind("SKIP ", 0) == 0) {
    *skip = out.substr(5);
    return "";
  }
  return out;
}

}  // namespace parallax::probe
