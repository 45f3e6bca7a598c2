// Conversions between Store values and their SQLite column representation:
// labels and pre_banner as JSON text, liveness as serialized proto bytes, and
// the column list shared by every query that reads ResultRows.
// Pure functions, thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "collector/store/sqlite_util.h"
#include "collector/store/store.h"
#include "common/status.h"

namespace parallax::collector {

// Column list (aliases p: probes, t: targets, b: probe_boots, r: results) that
// ReadResultRow() expects, in order.
inline constexpr const char* kResultColumns =
    "p.name, t.name, b.boot_id, r.seq, r.ts_ms, r.outcome, r.connect_us, r.banner_us, "
    "r.address, r.error_number, r.identification, r.pre_banner, r.detail, r.liveness, r.late_us, "
    "r.probe_ts_ms, r.received_ms, r.adhoc_id";

// {"k":"v",...}; keys sorted.
std::string LabelsToJson(const std::map<std::string, std::string>& labels);
// Accepts an object of strings; anything else is an error naming the text.
Status LabelsFromJson(const std::string& json, std::map<std::string, std::string>* out);

// ["line",...]; empty input gives "" (stored as NULL).
std::string PreBannerToJson(const std::vector<std::string>& lines);
Status PreBannerFromJson(const std::string& json, std::vector<std::string>* out);

// One row of a query result, by column index (SQLite or PostgreSQL).
class RowColumns {
 public:
  virtual ~RowColumns() = default;
  virtual std::string Text(int col) const = 0;
  virtual int64_t Int(int col) const = 0;
  virtual bool IsNull(int col) const = 0;
  virtual std::string Blob(int col) const = 0;
};

// History under run compaction: the stored rows (changes, ad-hoc results,
// newest first, at most `limit` unless 0) merged with the newest result of
// each pair of the target (`newest`, any order) that is not one of them, in
// ts_ms (collector's clock) then seq order, newest first, cut to `limit`.
void MergeNewestIntoHistory(std::vector<ResultRow> newest, size_t limit,
                            std::vector<ResultRow>* rows);

// Fills `row` from a row selected with kResultColumns.
Status ReadResultRow(const RowColumns& c, ResultRow* row);
// The same from the current row of `st`.
Status ReadResultRow(const sqlite::Statement& st, ResultRow* row);

}  // namespace parallax::collector
