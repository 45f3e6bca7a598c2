#include "collector/store/pg_util.h"

#include <cctype>
#include <cstdlib>
#include <memory>

#include "common/escape.h"

namespace parallax::collector::pg {
namespace {

constexpr char kStateTag[] = " [SQLSTATE ";

std::string Trim(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  return s;
}

Status Make(const std::string& state, const std::string& msg) {
  std::string text = msg + kStateTag + state + "]";
  if (state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0 || state == "40001" ||
      state == "40P01" || state == "55P03") {
    return Status::Unavailable(text);
  }
  if (state.rfind("53", 0) == 0 || state.rfind("58", 0) == 0) return Status::IoError(text);
  return Status::Internal(text);
}

}  // namespace

std::string RedactDsn(const std::string& dsn) {
  std::string out = dsn;
  // URI form: postgresql://user:secret@host/... and ?password=...
  if (out.rfind("postgres://", 0) == 0 || out.rfind("postgresql://", 0) == 0) {
    const size_t start = out.find("://") + 3;
    const size_t at = out.find('@', start);
    const size_t colon = out.find(':', start);
    if (at != std::string::npos && colon != std::string::npos && colon < at) {
      out.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // key=value form (and URI query parameters): password=... up to a space or &.
  for (size_t pos = 0; (pos = out.find("password", pos)) != std::string::npos;) {
    size_t eq = pos + 8;
    while (eq < out.size() && out[eq] == ' ') ++eq;
    if (eq >= out.size() || out[eq] != '=') {
      pos += 8;
      continue;
    }
    size_t v = eq + 1;
    while (v < out.size() && out[v] == ' ') ++v;
    size_t end = v;
    if (end < out.size() && out[end] == '\'') {
      for (++end; end < out.size() && out[end] != '\''; ++end) {
        if (out[end] == '\\') ++end;
      }
      if (end < out.size()) ++end;
    } else {
      while (end < out.size() && out[end] != ' ' && out[end] != '&') ++end;
    }
    out.replace(v, end - v, "***");
    pos = v + 3;
  }
  return out;
}

Status ValidateDsn(const std::string& dsn) {
  if (dsn.empty()) return Status::InvalidArgument("is empty");
  char* err = nullptr;
  PQconninfoOption* opts = PQconninfoParse(dsn.c_str(), &err);
  if (opts == nullptr) {
    std::string why = err ? Trim(err) : "out of memory";
    if (err) PQfreemem(err);
    // libpq's message may quote the offending text, which may be (part of)
    // the password: with a password in the DSN, quoted text is elided.
    if (RedactDsn(dsn) != dsn) {
      std::string clean;
      bool quoted = false;
      for (char c : why) {
        if (c == '"') {
          clean += quoted ? "\"" : "\"...";
          quoted = !quoted;
        } else if (!quoted) {
          clean += c;
        }
      }
      why = clean;
    }
    if (why.find("password") != std::string::npos) why = "invalid connection string";
    return Status::InvalidArgument(why);
  }
  PQconninfoFree(opts);
  return Status::Ok();
}

std::string ToPgText(std::string_view in) {
  std::string s = SanitizeUtf8(in);
  if (s.find('\0') == std::string::npos) return s;
  std::string out;
  for (char c : s) {
    if (c == '\0') {
      out += "\\x00";
    } else {
      out += c;
    }
  }
  return out;
}

void ArrayLiteral::Sep() {
  if (out_.size() > 1) out_ += ',';
}

void ArrayLiteral::Add(std::string_view text) {
  Sep();
  out_ += '"';
  for (char c : ToPgText(text)) {
    if (c == '"' || c == '\\') out_ += '\\';
    out_ += c;
  }
  out_ += '"';
}

void ArrayLiteral::AddNull() {
  Sep();
  out_ += "NULL";
}

void ArrayLiteral::AddInt(int64_t v) {
  Sep();
  out_ += std::to_string(v);
}

std::string ArrayLiteral::Take() {
  out_ += '}';
  std::string r = std::move(out_);
  out_ = "{";
  return r;
}

std::string SqlStateOf(const Status& s) {
  const std::string& m = s.message();
  size_t pos = m.rfind(kStateTag);
  if (pos == std::string::npos) return "";
  pos += sizeof(kStateTag) - 1;
  size_t end = m.find(']', pos);
  return end == std::string::npos ? "" : m.substr(pos, end - pos);
}

bool IsConnectionError(const Status& s) {
  const std::string state = SqlStateOf(s);
  return state.rfind("08", 0) == 0 || state.rfind("57P", 0) == 0;
}

Result& Result::operator=(Result&& o) noexcept {
  if (this != &o) {
    Clear();
    r_ = o.r_;
    o.r_ = nullptr;
  }
  return *this;
}

void Result::Clear() {
  if (r_) PQclear(r_);
  r_ = nullptr;
}

std::string Result::Text(int row, int col) const {
  return std::string(PQgetvalue(r_, row, col), PQgetlength(r_, row, col));
}

int64_t Result::Int(int row, int col) const {
  if (IsNull(row, col)) return 0;
  return std::strtoll(PQgetvalue(r_, row, col), nullptr, 10);
}

std::string Result::Bytes(int row, int col) const {
  if (IsNull(row, col)) return "";
  size_t n = 0;
  unsigned char* raw =
      PQunescapeBytea(reinterpret_cast<const unsigned char*>(PQgetvalue(r_, row, col)), &n);
  if (raw == nullptr) return "";
  std::string out(reinterpret_cast<char*>(raw), n);
  PQfreemem(raw);
  return out;
}

int64_t Result::Affected() const {
  const char* n = r_ ? PQcmdTuples(r_) : "";
  return *n ? std::strtoll(n, nullptr, 10) : 0;
}

Conn::~Conn() { Close(); }

void Conn::Close() {
  if (c_) PQfinish(c_);
  c_ = nullptr;
}

bool Conn::Healthy() const { return c_ != nullptr && PQstatus(c_) == CONNECTION_OK; }

Status Conn::Connect(const std::string& dsn, int connect_timeout_s) {
  Close();
  Status v = ValidateDsn(dsn);
  if (!v.ok()) return Status::InvalidArgument("dsn \"" + RedactDsn(dsn) + "\": " + v.message());
  const char* keys[] = {"dbname", "connect_timeout", "application_name", nullptr};
  const std::string timeout = std::to_string(connect_timeout_s);
  const char* values[] = {dsn.c_str(), timeout.c_str(), "parallax-collector", nullptr};
  // expand_dbname=1: the first dbname is the whole DSN; its own keywords win
  // over the defaults that follow it.
  c_ = PQconnectdbParams(keys, values, 1);
  if (c_ == nullptr) return Status::Unavailable("dsn \"" + RedactDsn(dsn) + "\": out of memory");
  if (PQstatus(c_) != CONNECTION_OK) {
    std::string why = Trim(PQerrorMessage(c_));
    Close();
    return Make("08001", "connecting to PostgreSQL: " + why);
  }
  // Text is sent and read as UTF-8 whatever the database's default; notices
  // (e.g. "relation already exists, skipping") stay out of stderr.
  return Exec("SET client_encoding = 'UTF8'; SET client_min_messages = warning");
}

Status Conn::Check(PGresult* r, std::string_view what, Result* out) {
  Result res(r);
  const ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
    if (out) *out = std::move(res);
    return Status::Ok();
  }
  std::string state;
  if (r) {
    const char* s = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (s) state = s;
  }
  std::string msg = r ? Trim(PQresultErrorMessage(r)) : "";
  if (msg.empty() && c_) msg = Trim(PQerrorMessage(c_));
  if (c_ == nullptr || PQstatus(c_) != CONNECTION_OK) {
    if (state.empty() || state.rfind("08", 0) != 0)
      state = state.rfind("57P", 0) == 0 ? state : "08006";
  }
  if (state.empty()) state = "XX000";
  return Make(state, std::string(what) + ": " + msg);
}

Status Conn::Exec(std::string_view sql, Result* out) {
  if (!c_) return Make("08003", "not connected");
  return Check(PQexec(c_, std::string(sql).c_str()), sql.substr(0, 60), out);
}

namespace {
struct ParamArrays {
  std::vector<const char*> values;
  std::vector<int> lengths;
  std::vector<int> formats;
  explicit ParamArrays(const std::vector<Param>& params) {
    for (const Param& p : params) {
      values.push_back(p.value ? p.value->data() : nullptr);
      lengths.push_back(p.value ? static_cast<int>(p.value->size()) : 0);
      formats.push_back(p.binary ? 1 : 0);
    }
  }
};
}  // namespace

Status Conn::Query(const std::string& sql, const std::vector<Param>& params, Result* out) {
  if (!c_) return Make("08003", "not connected");
  ParamArrays a(params);
  return Check(PQexecParams(c_, sql.c_str(), static_cast<int>(params.size()), nullptr,
                            a.values.data(), a.lengths.data(), a.formats.data(), 0),
               sql.substr(0, 60), out);
}

Status Conn::Prepare(const std::string& name, const std::string& sql) {
  if (!c_) return Make("08003", "not connected");
  return Check(PQprepare(c_, name.c_str(), sql.c_str(), 0, nullptr), "prepare " + name, nullptr);
}

Status Conn::Run(const std::string& name, const std::vector<Param>& params, Result* out) {
  if (!c_) return Make("08003", "not connected");
  ParamArrays a(params);
  return Check(PQexecPrepared(c_, name.c_str(), static_cast<int>(params.size()), a.values.data(),
                              a.lengths.data(), a.formats.data(), 0),
               name, out);
}

}  // namespace parallax::collector::pg
