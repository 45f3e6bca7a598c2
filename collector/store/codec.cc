#include "collector/store/codec.h"

#include <nlohmann/json.hpp>

namespace parallax::collector {

std::string LabelsToJson(const std::map<std::string, std::string>& labels) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [k, v] : labels) j[k] = v;
  // Replace invalid UTF-8 instead of throwing: labels are validated upstream.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status LabelsFromJson(const std::string& json, std::map<std::string, std::string>* out) {
  out->clear();
  if (json.empty()) return Status::Ok();
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::Internal("labels column is not a JSON object: " + json);
  for (const auto& [k, v] : j.items()) {
    if (!v.is_string()) return Status::Internal("label \"" + k + "\" is not a string: " + json);
    (*out)[k] = v.get<std::string>();
  }
  return Status::Ok();
}

std::string PreBannerToJson(const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  nlohmann::json j = nlohmann::json::array();
  for (const auto& line : lines) j.push_back(line);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

Status PreBannerFromJson(const std::string& json, std::vector<std::string>* out) {
  out->clear();
  if (json.empty()) return Status::Ok();
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_array()) return Status::Internal("pre_banner column is not a JSON array: " + json);
  for (const auto& v : j) {
    if (!v.is_string()) return Status::Internal("pre_banner entry is not a string: " + json);
    out->push_back(v.get<std::string>());
  }
  return Status::Ok();
}

Status ReadResultRow(const RowColumns& st, ResultRow* row) {
  row->probe = st.Text(0);
  row->target = st.Text(1);
  row->boot_id = st.Text(2);
  v1::CheckResult& r = row->result;
  r.Clear();
  r.set_seq(static_cast<uint64_t>(st.Int(3)));
  r.set_target(row->target);
  r.set_started_unix_ms(st.Int(4));
  r.set_outcome(static_cast<v1::Outcome>(st.Int(5)));
  r.set_connect_us(static_cast<uint32_t>(st.Int(6)));
  r.set_banner_us(static_cast<uint32_t>(st.Int(7)));
  r.set_address(st.Text(8));
  r.set_error_number(static_cast<int32_t>(st.Int(9)));
  r.set_identification(st.Text(10));
  std::vector<std::string> lines;
  Status s = PreBannerFromJson(st.Text(11), &lines);
  if (!s.ok()) return s;
  for (auto& line : lines) r.add_pre_banner(std::move(line));
  r.set_detail(st.Text(12));
  if (!st.IsNull(13)) {
    if (!r.mutable_liveness()->ParseFromString(st.Blob(13))) {
      return Status::Internal("liveness column of result seq " + std::to_string(r.seq()) +
                              " is not a serialized Liveness");
    }
  }
  r.set_late_us(static_cast<uint32_t>(st.Int(14)));
  // ts_ms is on the collector's clock; rows stored before schema version 3
  // have no separate probe time (their ts_ms was the probe's).
  const int64_t probe_ts = st.Int(15);
  if (probe_ts != 0) {
    r.set_collector_started_unix_ms(r.started_unix_ms());
    r.set_started_unix_ms(probe_ts);
  }
  r.set_received_unix_ms(st.Int(16));
  r.set_adhoc_id(st.Text(17));
  return Status::Ok();
}

namespace {
class SqliteColumns : public RowColumns {
 public:
  explicit SqliteColumns(const sqlite::Statement& st) : st_(st) {}
  std::string Text(int col) const override { return st_.ColumnText(col); }
  int64_t Int(int col) const override { return st_.ColumnInt64(col); }
  bool IsNull(int col) const override { return st_.ColumnIsNull(col); }
  std::string Blob(int col) const override { return std::string(st_.ColumnBlob(col)); }

 private:
  const sqlite::Statement& st_;
};
}  // namespace

Status ReadResultRow(const sqlite::Statement& st, ResultRow* row) {
  return ReadResultRow(SqliteColumns(st), row);
}

void MergeNewestIntoHistory(std::vector<ResultRow> newest, size_t limit,
                            std::vector<ResultRow>* rows) {
  auto ts = [](const ResultRow& r) {
    return r.result.collector_started_unix_ms() != 0 ? r.result.collector_started_unix_ms()
                                                     : r.result.started_unix_ms();
  };
  for (ResultRow& n : newest) {
    bool stored = false;
    for (const ResultRow& r : *rows) {
      if (r.probe == n.probe && r.boot_id == n.boot_id && r.result.seq() == n.result.seq()) {
        stored = true;
        break;
      }
    }
    if (!stored) rows->push_back(std::move(n));
  }
  std::stable_sort(rows->begin(), rows->end(), [&](const ResultRow& a, const ResultRow& b) {
    if (ts(a) != ts(b)) return ts(a) > ts(b);
    return a.result.seq() > b.result.seq();
  });
  if (limit != 0 && rows->size() > limit) rows->resize(limit);
}

}  // namespace parallax::collector
