#include "probe/enroll/enrolled_credentials.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/tls.h"

namespace parallax::probe {
namespace {

Status WriteAtomically(const std::string& path, const std::string& data, mode_t mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) {
    return Status::IoError("cannot write \"" + tmp + "\": " + std::strerror(errno));
  }
  ::fchmod(fd, mode);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status st = Status::IoError("cannot write \"" + tmp + "\": " + std::strerror(errno));
      ::close(fd);
      return st;
    }
    done += static_cast<size_t>(n);
  }
  int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0 || ::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IoError("cannot write \"" + path + "\": " + std::strerror(errno));
  }
  return Status::Ok();
}

bool Exists(const std::string& path) {
  struct stat sb;
  return ::stat(path.c_str(), &sb) == 0;
}

}  // namespace

EnrolledCredentials EnrolledPaths(const std::string& state_dir) {
  EnrolledCredentials c;
  c.dir = state_dir + "/enroll";
  c.cert = c.dir + "/probe.pem";
  c.key = c.dir + "/probe.key";
  c.ca = c.dir + "/ca.pem";
  return c;
}

Status FindEnrolled(const std::string& state_dir, EnrolledCredentials* out, bool* found) {
  *found = false;
  if (state_dir.empty()) return Status::Ok();
  EnrolledCredentials c = EnrolledPaths(state_dir);
  std::string name_file = c.dir + "/name";
  int present = Exists(c.cert) + Exists(c.key) + Exists(c.ca) + Exists(name_file);
  if (present == 0) return Status::Ok();
  if (present != 4) {
    return Status::InvalidArgument("enrolled credentials in \"" + c.dir +
                                   "\" are incomplete (need probe.pem, probe.key, ca.pem, "
                                   "name): enroll again");
  }
  Status st = ReadFileToString(name_file, "enrolled name", &c.name);
  if (!st.ok()) return st;
  while (!c.name.empty() && (c.name.back() == '\n' || c.name.back() == '\r')) c.name.pop_back();
  *out = std::move(c);
  *found = true;
  return Status::Ok();
}

Status StoreEnrolled(const std::string& state_dir, const std::string& name,
                     const std::string& key_pem, const std::string& cert_pem,
                     const std::string& ca_pem, EnrolledCredentials* out) {
  EnrolledCredentials c = EnrolledPaths(state_dir);
  c.name = name;
  for (const std::string& d : {state_dir, c.dir}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IoError("cannot create \"" + d + "\": " + std::strerror(errno));
    }
  }
  Status st = WriteAtomically(c.key, key_pem, 0600);
  if (st.ok()) st = WriteAtomically(c.cert, cert_pem, 0644);
  if (st.ok()) st = WriteAtomically(c.ca, ca_pem, 0644);
  if (st.ok()) st = WriteAtomically(c.dir + "/name", name + "\n", 0644);
  if (!st.ok()) return st;
  *out = std::move(c);
  return Status::Ok();
}

}  // namespace parallax::probe
