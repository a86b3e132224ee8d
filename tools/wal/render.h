// tools/wal/render.h — record bodies as named fields, written for people or
// as JSON (docs/hotq-wal.md, "Output formats").
//
// One decoder (describe) turns a record body into fields; two writers render
// them: `key=value` words for people, and JSON members. Bytes that are not
// printable ASCII are escaped in both (\xNN for people; \u00NN in JSON, so
// every line is valid JSON whatever the payload holds).
//
// Thread safety: pure functions.
#ifndef HOTQ_TOOLS_WAL_RENDER_H_
#define HOTQ_TOOLS_WAL_RENDER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wal/format.h"

namespace hotq::waltool {

// Bytes of a payload (or other opaque bytes) shown after its length.
inline constexpr std::size_t payload_prefix_bytes = 32;
// Job ids shown of a job list (redrive, purge, delete_dead) in human output;
// JSON lists them all.
inline constexpr std::size_t human_list_max = 8;

struct Field {
  enum class Kind : std::uint8_t { num, text, bytes, time, flag, list };
  std::string key;
  Kind kind = Kind::num;
  std::uint64_t num = 0;           // num, time (wall-clock ns; 0: none), flag
  std::string text;                // text: whole; bytes: the first payload_prefix_bytes
  std::uint64_t bytes_total = 0;   // bytes: the full length
  std::vector<std::uint64_t> list;

  static Field number(std::string k, std::uint64_t v) { return {std::move(k), Kind::num, v, {}, 0, {}}; }
  static Field str(std::string k, std::string_view v) {
    return {std::move(k), Kind::text, 0, std::string(v), 0, {}};
  }
  static Field blob(std::string k, std::string_view v) {
    return {std::move(k), Kind::bytes, 0, std::string(v.substr(0, payload_prefix_bytes)), v.size(), {}};
  }
  static Field when(std::string k, std::uint64_t ns) { return {std::move(k), Kind::time, ns, {}, 0, {}}; }
  static Field flag(std::string k, bool v) { return {std::move(k), Kind::flag, v ? 1u : 0u, {}, 0, {}}; }
  static Field ids(std::string k, std::vector<std::uint64_t> v) {
    return {std::move(k), Kind::list, 0, {}, 0, std::move(v)};
  }
};
using Fields = std::vector<Field>;

// The fields of a log record's body (`snapshot`: a snapshot record, whose
// queue_create and bind bodies differ). A body that does not decode yields
// one field, decode_error.
Fields describe(wal::RecordType type, std::string_view body, bool snapshot);

// "2023-11-14T22:13:20.123Z" (UTC, milliseconds); "-" for 0.
std::string format_time(std::uint64_t wall_ns);
// Printable ASCII as is; \" \\ \n \t \r and \xNN for the rest.
std::string escape_human(std::string_view s);
// A JSON string literal, quotes included (bytes >= 0x80 as \u00NN).
std::string json_string(std::string_view s);

// ` key=value` for each field, appended to out.
void append_human(const Fields& fields, std::string* out);
// `,"key":value` for each field, appended to out.
void append_json(const Fields& fields, std::string* out);

// A JSON object built member by member: {"a":1,"b":"x"}.
class JsonLine {
 public:
  JsonLine& num(std::string_view key, std::uint64_t v);
  JsonLine& signed_num(std::string_view key, std::int64_t v);
  JsonLine& str(std::string_view key, std::string_view v);
  JsonLine& flag(std::string_view key, bool v);
  JsonLine& raw(std::string_view key, std::string_view json);  // a value already JSON
  JsonLine& fields(const Fields& f);
  std::string done() const { return out_ + "}"; }

 private:
  void key(std::string_view k);
  std::string out_ = "{";
};

}  // namespace hotq::waltool

#endif  // HOTQ_TOOLS_WAL_RENDER_H_
