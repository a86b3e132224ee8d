// Tests of the Prometheus text export (include/hotq/prometheus.h).
//
// The page is checked by a strict parser of the text exposition format
// (version 0.0.4), written here from the format's rules, not from the
// exporter: comments, HELP and TYPE lines, the sample grammar with label
// escapes and float values, families contiguous and unique with TYPE before
// their samples, and the histogram and summary rules. The parser is tested
// on its own first (it must refuse each kind of malformed page), then on
// pages of engines that did known work on a ManualClock.
#include <hotq/clock.h>
#include <hotq/engine.h>
#include <hotq/prometheus.h>
#include <hotq/version.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/engine_impl.h"
#include "engine/histogram.h"
#include "tests/test_util.h"
#include "wal/borrowed_fs.h"
#include "wal/faulty_fs.h"
#include "wal/mem_fs.h"

namespace hotq::engine {
// Defined in engine/prometheus.cc (a test seam; there is no internal header
// for it): one snapshot's histogram samples as the page renders them.
std::string prometheus_histogram_samples(std::string_view name, std::string_view queue,
                                         const LatencyHistogram::Snapshot& s);
}  // namespace hotq::engine

namespace prom {
namespace {

// ================================================================ the parser

using Labels = std::vector<std::pair<std::string, std::string>>;

struct Sample {
  std::string name{};
  Labels labels{};  // in page order, unescaped
  double value = 0;
};

struct Family {
  std::string name{};
  std::string type = "untyped";  // without a TYPE line
  bool has_type = false;
  std::optional<std::string> help{};  // unescaped
  std::vector<Sample> samples{};
};

struct Exposition {
  std::vector<Family> families;

  const Family* find(std::string_view name) const {
    for (const Family& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  // The family's type and help ("" for a family that is not there).
  std::string type_of(std::string_view name) const {
    const Family* f = find(name);
    return f == nullptr ? "" : f->type;
  }
  std::string help_of(std::string_view name) const {
    const Family* f = find(name);
    return f == nullptr ? "" : f->help.value_or("");
  }
  // The value of the sample with exactly this name and label set (any order).
  std::optional<double> value(std::string_view name, Labels labels) const {
    std::sort(labels.begin(), labels.end());
    for (const Family& f : families) {
      for (const Sample& s : f.samples) {
        Labels l = s.labels;
        std::sort(l.begin(), l.end());
        if (s.name == name && l == labels) return s.value;
      }
    }
    return std::nullopt;
  }
};

struct Parsed {
  std::string error;  // empty: the page is valid
  Exposition exposition;
  bool ok() const { return error.empty(); }
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_alpha_(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// [a-zA-Z_:][a-zA-Z0-9_:]*
bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(is_alpha_(c) || c == ':' || (i > 0 && is_digit(c)))) return false;
  }
  return true;
}

// [a-zA-Z_][a-zA-Z0-9_]*, and not the reserved __ prefix.
bool valid_label_name(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (!(is_alpha_(c) || (i > 0 && is_digit(c)))) return false;
  }
  return true;
}

// A value as Go's ParseFloat reads what exposition writers emit: decimal
// floats with an optional sign and exponent, NaN, +Inf, -Inf (and Inf).
// Hex floats and Go's other spellings are refused: no writer should use them.
std::optional<double> parse_float(std::string_view s) {
  if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (s == "+Inf" || s == "Inf") return std::numeric_limits<double>::infinity();
  if (s == "-Inf") return -std::numeric_limits<double>::infinity();
  std::size_t i = 0;
  auto digits = [&] {
    const std::size_t from = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    return i - from;
  };
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
  std::size_t mantissa_digits = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa_digits += digits();
  }
  if (mantissa_digits == 0) return std::nullopt;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (digits() == 0) return std::nullopt;
  }
  if (i != s.size()) return std::nullopt;
  // from_chars takes no leading '+'.
  const std::size_t from = s[0] == '+' ? 1 : 0;
  double v = 0;
  const auto r = std::from_chars(s.data() + from, s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// A page being parsed.
class Parser {
 public:
  Parsed run(std::string_view text) {
    if (!text.empty() && text.back() != '\n') return fail(0, "the last line must end with \\n");
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const std::size_t end = text.find('\n', pos);
      std::string_view line = text.substr(pos, end - pos);
      pos = end + 1;
      ++line_no;
      // Leading and trailing blanks are ignored; so are empty lines.
      while (!line.empty() && is_blank(line.front())) line.remove_prefix(1);
      while (!line.empty() && is_blank(line.back())) line.remove_suffix(1);
      if (line.empty()) continue;
      if (line.front() == '#') {
        comment(line_no, line.substr(1));
      } else {
        sample(line_no, line);
      }
      if (!out_.ok()) return out_;
    }
    for (const Family& f : out_.exposition.families) {
      if (f.type == "histogram") check_histogram(f);
      if (f.type == "summary") check_summary(f);
      if (!out_.ok()) return out_;
    }
    return out_;
  }

 private:
  Parsed& fail(std::size_t line_no, const std::string& why) {
    if (out_.ok()) out_.error = "line " + std::to_string(line_no) + ": " + why;
    return out_;
  }
  static std::string_view token(std::string_view& rest) {
    while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
    std::size_t n = 0;
    while (n < rest.size() && !is_blank(rest[n])) ++n;
    std::string_view t = rest.substr(0, n);
    rest.remove_prefix(n);
    return t;
  }

  // The sample names a family of this type owns.
  static bool owns(const Family& f, std::string_view name) {
    auto is = [&](std::string_view suffix) {
      return name.size() == f.name.size() + suffix.size() && name.starts_with(f.name) &&
             name.ends_with(suffix);
    };
    if (f.type == "histogram") return is("_bucket") || is("_sum") || is("_count");
    if (f.type == "summary") return name == f.name || is("_sum") || is("_count");
    return name == f.name;
  }
  // Whether a family other than `except` uses name (as its name or a sample name).
  bool name_taken(std::string_view name, const Family* except) const {
    for (const Family& f : out_.exposition.families) {
      if (&f != except && (f.name == name || owns(f, name))) return true;
    }
    return false;
  }
  Family* current() {
    return out_.exposition.families.empty() ? nullptr : &out_.exposition.families.back();
  }

  // `# HELP name doc`, `# TYPE name type`, or any other comment (ignored).
  void comment(std::size_t line_no, std::string_view rest) {
    const std::string_view keyword = token(rest);
    if (keyword != "HELP" && keyword != "TYPE") return;
    const std::string_view name = token(rest);
    if (!valid_metric_name(name)) {
      fail(line_no, "bad metric name '" + std::string(name) + "' in " + std::string(keyword));
      return;
    }
    Family* f = current();
    if (f == nullptr || f->name != name) {
      if (name_taken(name, nullptr)) {
        fail(line_no, "family " + std::string(name) + " appears twice (not contiguous)");
        return;
      }
      out_.exposition.families.push_back(Family{.name = std::string(name)});
      f = current();
    } else if (!f->samples.empty()) {
      fail(line_no, std::string(keyword) + " of " + std::string(name) + " after its samples");
      return;
    }
    if (keyword == "HELP") {
      if (f->help) {
        fail(line_no, "second HELP for " + f->name);
        return;
      }
      while (!rest.empty() && is_blank(rest.front())) rest.remove_prefix(1);
      std::string doc;
      for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] != '\\') {
          doc.push_back(rest[i]);
        } else if (i + 1 < rest.size() && (rest[i + 1] == '\\' || rest[i + 1] == 'n')) {
          doc.push_back(rest[++i] == 'n' ? '\n' : '\\');
        } else {
          fail(line_no, "bad escape in HELP of " + f->name);
          return;
        }
      }
      f->help = std::move(doc);
      return;
    }
    if (f->has_type) {
      fail(line_no, "second TYPE for " + f->name);
      return;
    }
    const std::string_view type = token(rest);
    if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
        type != "untyped") {
      fail(line_no, "unknown type '" + std::string(type) + "'");
      return;
    }
    if (!token(rest).empty()) {
      fail(line_no, "text after the type");
      return;
    }
    f->type = std::string(type);
    f->has_type = true;
    // Its sample names must not be another family's.
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if ((type == "histogram" || (type == "summary" && suffix != "_bucket")) &&
          name_taken(f->name + std::string(suffix), f)) {
        fail(line_no, f->name + std::string(suffix) + " is another family's name");
        return;
      }
    }
  }

  // `{name="value",...}` at line[i] (i at the brace); advances i past '}'.
  bool labels(std::size_t line_no, std::string_view line, std::size_t& i, Labels& out) {
    auto skip = [&] {
      while (i < line.size() && is_blank(line[i])) ++i;
    };
    ++i;  // '{'
    skip();
    while (i < line.size() && line[i] != '}') {
      std::size_t n = i;
      while (n < line.size() && (is_alpha_(line[n]) || is_digit(line[n]))) ++n;
      const std::string name(line.substr(i, n - i));
      if (!valid_label_name(name)) {
        fail(line_no, "bad label name '" + name + "'");
        return false;
      }
      i = n;
      skip();
      if (i >= line.size() || line[i] != '=') {
        fail(line_no, "no '=' after label " + name);
        return false;
      }
      ++i;
      skip();
      if (i >= line.size() || line[i] != '"') {
        fail(line_no, "label value of " + name + " not quoted");
        return false;
      }
      ++i;
      std::string value;
      for (;;) {
        if (i >= line.size()) {
          fail(line_no, "unterminated label value of " + name);
          return false;
        }
        const char c = line[i++];
        if (c == '"') break;
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        const char e = i < line.size() ? line[i++] : '\0';
        if (e == '\\') {
          value.push_back('\\');
        } else if (e == '"') {
          value.push_back('"');
        } else if (e == 'n') {
          value.push_back('\n');
        } else {
          fail(line_no, "bad escape in label value of " + name);
          return false;
        }
      }
      for (const auto& [k, v] : out) {
        if (k == name) {
          fail(line_no, "label " + name + " twice");
          return false;
        }
      }
      out.emplace_back(name, std::move(value));
      skip();
      if (i < line.size() && line[i] == ',') {
        ++i;
        skip();
      } else if (i < line.size() && line[i] != '}') {
        fail(line_no, "expected ',' or '}' after label " + name);
        return false;
      }
    }
    if (i >= line.size()) {
      fail(line_no, "no '}'");
      return false;
    }
    ++i;  // '}'
    return true;
  }

  // name[{labels}] value [timestamp]
  void sample(std::size_t line_no, std::string_view line) {
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && !is_blank(line[i])) ++i;
    Sample s;
    s.name = std::string(line.substr(0, i));
    if (!valid_metric_name(s.name)) {
      fail(line_no, "bad metric name '" + s.name + "'");
      return;
    }
    std::size_t brace = i;  // blanks may come before the labels too
    while (brace < line.size() && is_blank(line[brace])) ++brace;
    if (brace < line.size() && line[brace] == '{') {
      i = brace;
      if (!labels(line_no, line, i, s.labels)) return;
    }
    std::string_view rest = line.substr(i);
    if (rest.empty() || !is_blank(rest.front())) {
      fail(line_no, "no blank before the value of " + s.name);
      return;
    }
    const std::string_view value = token(rest);
    const std::optional<double> v = parse_float(value);
    if (!v) {
      fail(line_no, "bad value '" + std::string(value) + "'");
      return;
    }
    s.value = *v;
    const std::string_view ts = token(rest);
    if (!ts.empty()) {
      std::int64_t t = 0;
      const auto r = std::from_chars(ts.data(), ts.data() + ts.size(), t);
      if (r.ec != std::errc() || r.ptr != ts.data() + ts.size()) {
        fail(line_no, "bad timestamp '" + std::string(ts) + "'");
        return;
      }
    }
    if (!token(rest).empty()) {
      fail(line_no, "text after the timestamp");
      return;
    }
    // Its family: the current one if it owns the name; else a new untyped
    // family, unless another family has the name (then it is not contiguous).
    Family* f = current();
    if (f == nullptr || !owns(*f, s.name)) {
      if (name_taken(s.name, nullptr)) {
        fail(line_no, "sample " + s.name + " apart from the rest of its family");
        return;
      }
      out_.exposition.families.push_back(Family{.name = s.name});
      f = current();
    }
    const std::string series = s.name + "{" + key_of(s.labels, {}) + "}";
    if (!series_.insert(series).second) {
      fail(line_no, "series " + series + " twice");
      return;
    }
    if (!rules(line_no, *f, s)) return;
    f->samples.push_back(std::move(s));
  }

  // A label set (but `skip`) as a string, the same for any order: each
  // value length-prefixed, so no two sets share one.
  static std::string key_of(const Labels& labels, std::string_view skip) {
    Labels l;
    for (const auto& kv : labels) {
      if (kv.first != skip) l.push_back(kv);
    }
    std::sort(l.begin(), l.end());
    std::string key;
    for (const auto& [k, v] : l) key += k + "=" + std::to_string(v.size()) + ":" + v + ",";
    return key;
  }

  static const std::string* label(const Sample& s, std::string_view name) {
    for (const auto& [k, v] : s.labels) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  // A label's value as a number (NaN when it is missing or not a number;
  // rules() has refused both before this is used).
  static double label_number(const Sample& s, std::string_view name) {
    const std::string* v = label(s, name);
    if (v == nullptr) return std::numeric_limits<double>::quiet_NaN();
    return parse_float(*v).value_or(std::numeric_limits<double>::quiet_NaN());
  }
  // Per-sample rules of the family's type.
  bool rules(std::size_t line_no, const Family& f, const Sample& s) {
    const bool counts =
        f.type == "counter" ||
        (f.type == "histogram" && (s.name.ends_with("_bucket") || s.name.ends_with("_count"))) ||
        (f.type == "summary" && s.name.ends_with("_count"));
    if (counts && (std::isnan(s.value) || s.value < 0)) {
      fail(line_no, s.name + " must be a count >= 0");
      return false;
    }
    const std::string* le = label(s, "le");
    const std::string* quantile = label(s, "quantile");
    if (f.type == "histogram") {
      const bool bucket = s.name.ends_with("_bucket");
      if (bucket != (le != nullptr)) {
        fail(line_no, "histogram " + f.name + ": le on a bucket, and only there");
        return false;
      }
      if (bucket && !parse_float(*le)) {
        fail(line_no, "bad le '" + *le + "'");
        return false;
      }
    }
    if (f.type == "summary") {
      const bool q = s.name == f.name;
      if (q != (quantile != nullptr)) {
        fail(line_no, "summary " + f.name + ": quantile on a quantile sample, and only there");
        return false;
      }
      std::optional<double> qv = q ? parse_float(*quantile) : std::optional<double>(0);
      if (!qv || *qv < 0 || *qv > 1) {
        fail(line_no, "bad quantile");
        return false;
      }
    }
    return true;
  }

  // Per label set: buckets in increasing le, cumulative, +Inf last and equal
  // to _count; _sum present.
  void check_histogram(const Family& f) {
    struct Group {
      std::vector<std::pair<double, double>> buckets;  // (le, value) in page order
      std::optional<double> sum, count;
    };
    std::map<std::string, Group> groups;
    for (const Sample& s : f.samples) {
      Group& g = groups[key_of(s.labels, "le")];
      if (s.name.ends_with("_bucket")) {
        g.buckets.emplace_back(label_number(s, "le"), s.value);
      } else if (s.name.ends_with("_sum")) {
        g.sum = s.value;
      } else {
        g.count = s.value;
      }
    }
    for (const auto& [key, g] : groups) {
      const std::string where = "histogram " + f.name + "{" + key + "}: ";
      for (std::size_t i = 1; i < g.buckets.size(); ++i) {
        if (!(g.buckets[i].first > g.buckets[i - 1].first)) {
          fail(0, where + "buckets not in increasing le order");
          return;
        }
        if (g.buckets[i].second < g.buckets[i - 1].second) {
          fail(0, where + "buckets not cumulative");
          return;
        }
      }
      if (g.buckets.empty() || !std::isinf(g.buckets.back().first)) {
        fail(0, where + "no le=\"+Inf\" bucket");
        return;
      }
      if (!g.count || *g.count != g.buckets.back().second) {
        fail(0, where + "_count missing or not equal to the +Inf bucket");
        return;
      }
      if (!g.sum) {
        fail(0, where + "no _sum");
        return;
      }
    }
  }

  // Per label set: quantiles in increasing order; _count present. (_sum is
  // described by the format, but unlike a histogram's +Inf bucket not
  // required of a summary.)
  void check_summary(const Family& f) {
    std::map<std::string, std::vector<double>> quantiles;
    std::map<std::string, bool> has_count;
    for (const Sample& s : f.samples) {
      const std::string key = key_of(s.labels, "quantile");
      if (s.name == f.name) quantiles[key].push_back(label_number(s, "quantile"));
      if (s.name.ends_with("_count")) has_count[key] = true;
    }
    for (const auto& [key, q] : quantiles) {
      if (!std::is_sorted(q.begin(), q.end()) ||
          std::adjacent_find(q.begin(), q.end()) != q.end()) {
        fail(0, "summary " + f.name + ": quantiles not in increasing order");
        return;
      }
      if (!has_count[key]) {
        fail(0, "summary " + f.name + ": no _count");
        return;
      }
    }
  }

  Parsed out_;
  std::set<std::string> series_;
};

Parsed parse(std::string_view text) { return Parser().run(text); }

}  // namespace
}  // namespace prom

namespace hotq {
namespace {

using prom::Labels;
using prom::parse;

// ================================================================ the parser itself

constexpr std::string_view kValidPage =
    "# A page that uses most of the grammar.\n"
    "\n"
    "# HELP up_total Things \\\\ counted,\\none per line.\n"
    "# TYPE up_total counter\n"
    "up_total{a=\"x\\\"y\\\\z\\nw\",b=\"\"} 3 1700000000000\n"
    "up_total{a=\"2\",} 1e3\n"
    "  # TYPE temp gauge\n"
    "temp -Inf\n"
    "# TYPE lat histogram\n"
    "lat_bucket{le=\"0.5\"} 1\n"
    "lat_bucket{le=\"1\"} 1\n"
    "lat_bucket{le=\"+Inf\"} 2\n"
    "lat_sum 7.5\n"
    "lat_count 2\n"
    "# TYPE rpc summary\n"
    "rpc{quantile=\"0.5\"} NaN\n"
    "rpc{quantile=\"0.99\"} +Inf\n"
    "rpc_count 0\n"
    "untyped_one\t{ x = \"1\" }\t42\n";

TEST(PrometheusParser, AcceptsAValidPage) {
  prom::Parsed p = parse(kValidPage);
  ASSERT_TRUE(p.ok()) << p.error;
  const prom::Exposition& e = p.exposition;
  ASSERT_EQ(e.families.size(), 5u);
  EXPECT_EQ(e.help_of("up_total"), "Things \\ counted,\none per line.");
  EXPECT_EQ(e.type_of("up_total"), "counter");
  EXPECT_EQ(e.value("up_total", {{"a", "x\"y\\z\nw"}, {"b", ""}}), 3.0);
  EXPECT_EQ(e.value("up_total", {{"a", "2"}}), 1000.0);
  EXPECT_EQ(e.value("temp", {}), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(*e.value("rpc", {{"quantile", "0.5"}})));
  EXPECT_EQ(e.value("lat_sum", {}), 7.5);
  EXPECT_EQ(e.type_of("untyped_one"), "untyped");
  EXPECT_EQ(e.value("untyped_one", {{"x", "1"}}), 42.0);
  EXPECT_TRUE(parse("").ok()) << "an empty page has no families";
}

// Each page breaks one rule; the parser must say so.
TEST(PrometheusParser, RefusesMalformedPages) {
  const std::string hist = "# TYPE h histogram\n";
  const std::pair<std::string, std::string> bad[] = {
      {"no final newline", "a 1"},
      {"non-cumulative buckets",
       hist + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 4\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\n"
              "h_count 5\n"},
      {"no +Inf bucket", hist + "h_bucket{le=\"1\"} 5\nh_sum 1\nh_count 5\n"},
      {"+Inf not equal to _count",
       hist + "h_bucket{le=\"1\"} 5\nh_bucket{le=\"+Inf\"} 5\nh_sum 1\nh_count 6\n"},
      {"buckets out of le order",
       hist + "h_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\n"
              "h_count 1\n"},
      {"no _sum", hist + "h_bucket{le=\"+Inf\"} 1\nh_count 1\n"},
      {"bucket without le", hist + "h_bucket 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
      {"le not a number",
       hist + "h_bucket{le=\"x\"} 1\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"},
      {"duplicate family", "# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\n# TYPE a gauge\n"},
      {"family not contiguous", "a{x=\"1\"} 1\nb 1\na{x=\"2\"} 1\n"},
      {"histogram samples not contiguous",
       hist + "h_bucket{le=\"+Inf\"} 1\nother 1\nh_sum 1\nh_count 1\n"},
      {"TYPE after samples", "a 1\n# TYPE a gauge\n"},
      {"two TYPE lines", "# TYPE a gauge\n# TYPE a counter\na 1\n"},
      {"two HELP lines", "# HELP a x\n# HELP a y\na 1\n"},
      {"unknown type", "# TYPE a countr\na 1\n"},
      {"metric name starts with a digit", "1a 1\n"},
      {"metric name with a dash", "a-b 1\n"},
      {"bad name in TYPE", "# TYPE a.b gauge\n"},
      {"label name with a colon", "a{b:c=\"1\"} 1\n"},
      {"reserved label name", "a{__name__=\"1\"} 1\n"},
      {"bad escape in label value", "a{b=\"\\t\"} 1\n"},
      {"bad escape in HELP", "# HELP a x\\ty\na 1\n"},
      {"unterminated label value", "a{b=\"1} 1\n"},
      {"unquoted label value", "a{b=1} 1\n"},
      {"label twice", "a{b=\"1\",b=\"2\"} 1\n"},
      {"same series twice", "a{b=\"1\"} 1\na{b=\"1\"} 2\n"},
      {"bad value", "a 1,5\n"},
      {"no value", "a{b=\"1\"}\n"},
      {"hex value", "a 0x10\n"},
      {"bad timestamp", "a 1 12.5\n"},
      {"negative counter", "# TYPE c_total counter\nc_total -1\n"},
      {"NaN counter", "# TYPE c_total counter\nc_total NaN\n"},
      {"name clash with histogram part", hist + "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n"
                                                "# TYPE h_count gauge\n"},
      {"summary without _count", "# TYPE s summary\ns{quantile=\"0.5\"} 1\n"},
      {"quantile out of range", "# TYPE s summary\ns{quantile=\"2\"} 1\ns_count 1\n"},
  };
  for (const auto& [why, page] : bad) {
    prom::Parsed p = parse(page);
    EXPECT_FALSE(p.ok()) << why << ": accepted\n" << page;
  }
}

// ================================================================ escaping

TEST(PrometheusEscape, EscapesBackslashQuoteAndNewlineOnly) {
  EXPECT_EQ(prometheus_escape_label_value("plain-name.1:x_y"), "plain-name.1:x_y");
  EXPECT_EQ(prometheus_escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(prometheus_escape_label_value("\\\\"), "\\\\\\\\");
  EXPECT_EQ(prometheus_escape_label_value("tab\there é"), "tab\there é");
  EXPECT_EQ(prometheus_escape_label_value(""), "");
  // Round trip through the parser: what is escaped reads back as it was.
  for (std::string_view v : {"a\"b\\c\nd", "\\n", "\"\"", "x\\", "\n\n"}) {
    const std::string page = "m{l=\"" + prometheus_escape_label_value(v) + "\"} 1\n";
    prom::Parsed p = parse(page);
    ASSERT_TRUE(p.ok()) << p.error << "\n" << page;
    EXPECT_EQ(p.exposition.families[0].samples[0].labels[0].second, v);
  }
}

// ================================================================ re-bucketing

// One value in a histogram, rendered as the page renders a queue's.
prom::Parsed OneValue(std::uint64_t value_ns, std::string_view queue = "q") {
  engine::LatencyHistogram h;
  h.record(value_ns);
  engine::LatencyHistogram::Snapshot s;
  h.add_to(s);
  return parse("# HELP lat_seconds x\n# TYPE lat_seconds histogram\n" +
               engine::prometheus_histogram_samples("lat_seconds", queue, s));
}

// The le of the first bucket that counts the single value (+Inf if only it).
double FirstLe(const prom::Parsed& p) {
  for (const prom::Sample& s : p.exposition.families[0].samples) {
    if (s.name == "lat_seconds_bucket" && s.value == 1) {
      return *prom::parse_float(s.labels[1].second);
    }
  }
  ADD_FAILURE() << "no bucket holds the value";
  return 0;
}

std::uint64_t ToNs(double seconds) {
  return static_cast<std::uint64_t>(std::llround(seconds * 1e9));
}

TEST(PrometheusHistogram, KnownValuesLandUnderTheirBound) {
  // 3 ms: internal bucket [2883584, 3014655] ns, wholly under 5 ms.
  prom::Parsed p = OneValue(3'000'000);
  ASSERT_TRUE(p.ok()) << p.error;
  const prom::Exposition& e = p.exposition;
  EXPECT_EQ(e.value("lat_seconds_bucket", {{"queue", "q"}, {"le", "0.002"}}), 0.0);
  EXPECT_EQ(e.value("lat_seconds_bucket", {{"queue", "q"}, {"le", "0.005"}}), 1.0);
  EXPECT_EQ(e.value("lat_seconds_bucket", {{"queue", "q"}, {"le", "+Inf"}}), 1.0);
  EXPECT_EQ(e.value("lat_seconds_count", {{"queue", "q"}}), 1.0);
  EXPECT_EQ(e.value("lat_seconds_sum", {{"queue", "q"}}), 0.003);
  // 0 ns: the first bucket, 1 us.
  EXPECT_EQ(FirstLe(OneValue(0)), 1e-6);
  // Exactly 5 ms shares an internal bucket with values up to 5242879 ns: it
  // is counted under 10 ms, never under a bound below a value it may hold.
  EXPECT_EQ(FirstLe(OneValue(5'000'000)), 0.01);
  // At and beyond the internal overflow (2^48 ns), and beyond the top bound
  // (1000 s): +Inf only.
  EXPECT_TRUE(std::isinf(FirstLe(OneValue(1'000'000'000'001))));
  EXPECT_TRUE(std::isinf(FirstLe(OneValue(engine::histogram_overflow_ns))));
  EXPECT_TRUE(std::isinf(FirstLe(OneValue(UINT64_MAX / 2))));
  // The bucket bounds are the documented 1-2-5 steps, 1 us to 1000 s.
  std::vector<std::string> les;
  for (const prom::Sample& s : p.exposition.families[0].samples) {
    if (s.name == "lat_seconds_bucket") les.push_back(s.labels[1].second);
  }
  const std::vector<std::string> want = {
      "1e-06", "2e-06", "5e-06", "1e-05", "2e-05", "5e-05", "0.0001", "0.0002", "0.0005", "0.001",
      "0.002", "0.005", "0.01",  "0.02",  "0.05",  "0.1",   "0.2",    "0.5",    "1",      "2",
      "5",     "10",    "20",    "50",    "100",   "200",   "500",    "1000",   "+Inf"};
  EXPECT_EQ(les, want);
}

// For every value: the bound that first counts it is >= the value (never
// understated), and the bound below it is < the value's internal bucket's
// upper edge, so it is counted late only when its internal bucket straddles
// that bound, by less than 1/16 of the bound.
TEST(PrometheusHistogram, BoundsAreNeverUnderstated) {
  std::vector<std::uint64_t> values = {0, 1, 31, 32, 33, 999, 1'000, 1'001, 1'023, 1'024};
  for (std::uint64_t b = 1'000; b <= 1'000'000'000'000; b *= 10) {
    for (const std::uint64_t bound : {b, 2 * b, 5 * b}) {
      values.insert(values.end(), {bound - 1, bound, bound + 1});
    }
  }
  for (double v = 1; v < 1e15; v *= 1.07) values.push_back(static_cast<std::uint64_t>(v));
  for (const std::uint64_t v : values) {
    prom::Parsed p = OneValue(v);
    ASSERT_TRUE(p.ok()) << p.error;
    const double le = FirstLe(p);
    const std::uint64_t upper =
        engine::LatencyHistogram::bucket_upper_ns(engine::LatencyHistogram::bucket_of(v));
    // The largest bound that does not count v (0: none).
    std::uint64_t below = 0;
    for (const prom::Sample& s : p.exposition.families[0].samples) {
      if (s.name == "lat_seconds_bucket" && s.value == 0) {
        below = ToNs(*prom::parse_float(s.labels[1].second));
      }
    }
    if (std::isinf(le)) {
      EXPECT_GT(upper, 1'000'000'000'000u) << "value " << v << " only in +Inf";
    } else {
      EXPECT_LE(v, ToNs(le)) << "value " << v << " counted under le=" << le;
    }
    if (below != 0) {
      EXPECT_LT(below, upper) << "value " << v << " counted later than its bucket needs";
    }
    if (below != 0 && v <= below) {
      EXPECT_GT(v, below - below / 16) << "value " << v << " counted late by more than 1/16";
    }
  }
}

TEST(PrometheusHistogram, ManyValuesSumAndCountAndEscapedQueue) {
  engine::LatencyHistogram h;
  std::uint64_t sum = 0;
  for (std::uint64_t v = 0; v < 2'000'000'000; v = v * 3 + 7) {
    h.record(v);
    sum += v;
  }
  engine::LatencyHistogram::Snapshot s;
  h.add_to(s);
  const std::string queue = "we\"ird\\name\n";
  prom::Parsed p = parse("# TYPE lat_seconds histogram\n" +
                         engine::prometheus_histogram_samples("lat_seconds", queue, s));
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.exposition.value("lat_seconds_count", {{"queue", queue}}),
            static_cast<double>(s.count));
  EXPECT_EQ(p.exposition.value("lat_seconds_sum", {{"queue", queue}}),
            static_cast<double>(sum) / 1e9);
}

// ================================================================ engine pages

class PrometheusEngineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(Engine::open({.clock = &clock_, .shards = 2}, &engine_).ok());
  }
  prom::Parsed Page() {
    page_ = prometheus_text(*engine_);
    prom::Parsed p = parse(page_);
    EXPECT_TRUE(p.ok()) << p.error << "\n" << page_;
    return p;
  }
  static double Get(const prom::Exposition& e, std::string_view name, const Labels& labels) {
    std::optional<double> v = e.value(name, labels);
    EXPECT_TRUE(v.has_value()) << name << " missing";
    return v.value_or(-1);
  }
  static double D(std::uint64_t v) { return static_cast<double>(v); }

  ManualClock clock_;
  std::unique_ptr<Engine> engine_;
  std::string page_;
};

// The page's names, types and layout follow the conventions: a prefix, one
// HELP and TYPE per family, counters end in _total, ends with a newline.
TEST_F(PrometheusEngineTest, EmptyEngineFollowsTheConventions) {
  prom::Parsed p = Page();
  ASSERT_TRUE(p.ok());
  ASSERT_FALSE(page_.empty());
  EXPECT_EQ(page_.back(), '\n');
  const prom::Exposition& e = p.exposition;
  EXPECT_EQ(Get(e, "hotq_queues", {}), 0.0);
  EXPECT_EQ(Get(e, "hotq_build_info", {{"version", version()}}), 1.0);
  for (const prom::Family& f : e.families) {
    EXPECT_TRUE(f.name.starts_with("hotq_")) << f.name;
    EXPECT_TRUE(f.help.has_value() && !f.help->empty()) << f.name;
    EXPECT_TRUE(f.has_type) << f.name;
    EXPECT_EQ(f.type == "counter", f.name.ends_with("_total")) << f.name;
    if (f.type == "histogram" || f.type == "summary") {
      EXPECT_TRUE(f.name.ends_with("_seconds")) << f.name;
    }
  }
  for (std::string_view name : {"hotq_jobs", "hotq_jobs_enqueued_total", "hotq_job_wait_seconds",
                                "hotq_job_run_seconds", "hotq_oldest_ready_age_seconds"}) {
    EXPECT_NE(e.find(name), nullptr) << name << ": families are there even with no queue";
  }
  EXPECT_EQ(e.type_of("hotq_job_wait_seconds"), "histogram");
  EXPECT_EQ(e.type_of("hotq_job_run_seconds"), "histogram");
  for (const prom::Family& f : e.families) {
    EXPECT_FALSE(f.name.starts_with("hotq_wal_")) << f.name << ": an in-memory engine has no log";
  }
}

// A durable engine's page adds the log's families, equal to wal_stats().
TEST(PrometheusWal, DurableEnginePageHasTheLog) {
  wal::MemFs mem;
  wal::FaultyFs faulty(mem);
  ManualClock clock;
  EngineOptions o;
  o.clock = &clock;
  o.wall_clock = &clock;
  o.shards = 2;
  o.wal_segment_bytes = 64 << 10;
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(EngineOpener::open(o, std::make_unique<wal::BorrowedFs>(faulty), "mem", &engine).ok());
  const QueueId q = engine->create_queue("q").value();
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(engine->enqueue(q, {.payload = "p"}).ok());
  ASSERT_TRUE(engine->snapshot().ok());
  // Sync calls: nothing is in flight now, so the page and the stats agree.
  const WalStats w = engine->wal_stats();
  std::string page = prometheus_text(*engine);
  prom::Parsed p = parse(page);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << page;
  const prom::Exposition& e = p.exposition;
  auto get = [&](std::string_view name) {
    std::optional<double> v = e.value(name, {});
    EXPECT_TRUE(v.has_value()) << name << " missing\n" << page;
    return v.value_or(-1);
  };
  auto d = [](std::uint64_t v) { return static_cast<double>(v); };
  EXPECT_EQ(get("hotq_wal_failed"), 0.0);
  EXPECT_EQ(get("hotq_wal_durable_lsn"), d(w.durable_lsn));
  EXPECT_EQ(get("hotq_wal_last_lsn"), d(w.last_lsn));
  EXPECT_EQ(get("hotq_wal_groups_total"), d(w.groups));
  EXPECT_EQ(get("hotq_wal_records_total"), d(w.records));
  EXPECT_EQ(get("hotq_wal_bytes_total"), d(w.bytes));
  EXPECT_EQ(get("hotq_wal_segments"), d(w.segments));
  EXPECT_EQ(get("hotq_wal_snapshots_total"), 1.0);
  EXPECT_EQ(get("hotq_wal_snapshot_lsn"), d(w.durable_lsn));
  EXPECT_EQ(get("hotq_wal_snapshot_failures_total"), 0.0);
  EXPECT_GE(w.groups, 1u);
  EXPECT_EQ(e.type_of("hotq_wal_commit_seconds"), "histogram");
  EXPECT_EQ(get("hotq_wal_commit_seconds_count"), d(w.groups)) << "one timed commit per group";
  EXPECT_EQ(e.value("hotq_wal_commit_seconds_bucket", {{"le", "+Inf"}}), d(w.groups));

  // A failed fdatasync: the log is failed, and says so.
  faulty.arm(wal::Fault::eio_sync, 0, "wal-");
  EXPECT_EQ(engine->enqueue(q, {.payload = "lost"}).code(), Code::wal_failed);
  page = prometheus_text(*engine);
  p = parse(page);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << page;
  EXPECT_EQ(p.exposition.value("hotq_wal_failed", {}), 1.0);
  EXPECT_EQ(p.exposition.value("hotq_wal_durable_lsn", {}), d(w.durable_lsn));
}

// Known work on two queues; the page says exactly what was done.
TEST_F(PrometheusEngineTest, PageMatchesTheWorkDone) {
  QueueOptions ao;
  ao.attempts_max = 3;
  ao.lease_ms_default = 1000;
  const QueueId alpha = engine_->create_queue("alpha", ao).value();
  QueueOptions bo;
  bo.capacity_jobs_max = 2;
  bo.rate_limit = {.tokens_per_interval = 1, .interval_ms = 1000};
  const QueueId beta = engine_->create_queue("beta.q-1:x", bo).value();

  // beta, at t0: two jobs, a third refused (full); one reserve (wait 0),
  // the next refused by the rate limit; a nack, a purge of both, one more
  // enqueue, cancelled.
  ASSERT_TRUE(engine_->enqueue(beta, {.payload = "x"}).ok());
  ASSERT_TRUE(engine_->enqueue(beta, {.payload = "y"}).ok());
  ASSERT_EQ(engine_->enqueue(beta, {.payload = "z"}).code(), Code::full);
  Result<ReservedJob> bx = engine_->reserve(beta);
  ASSERT_TRUE(bx.ok());
  ASSERT_EQ(engine_->reserve(beta).code(), Code::rate_limited);
  ASSERT_EQ(engine_->nack(beta, bx->lease(), 0), Code::ok);
  ASSERT_EQ(engine_->purge(beta).value(), 2u);
  const JobId w = engine_->enqueue(beta, {.payload = "w"}).value();
  ASSERT_EQ(engine_->cancel(beta, w), Code::ok);

  // alpha, at t0: four jobs, one delayed a minute, one with a dedup key
  // given three times (two duplicates).
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(engine_->enqueue(alpha, {.payload = "a"}).ok());
  ASSERT_TRUE(engine_->enqueue(alpha, {.payload = "d", .delay_ms = 60'000}).ok());
  for (int i = 0; i < 3; ++i) {
    Result<JobId> r = engine_->enqueue(alpha, {.payload = "k", .dedup_key = "k"});
    ASSERT_EQ(r.code(), i == 0 ? Code::ok : Code::duplicate);
  }
  // 3 ms later, four reserves (wait 3 ms each); 7 ms after that one ack
  // (run 7 ms), two fails, one of them redriven; the fourth lease (1 s)
  // is left to expire, which makes it ready again (attempts left).
  clock_.advance_ms(3);
  std::vector<ReservedJob> r;
  for (int i = 0; i < 4; ++i) r.push_back(engine_->reserve(alpha).value());
  clock_.advance_ms(7);
  ASSERT_EQ(engine_->ack(alpha, r[0].lease()), Code::ok);
  ASSERT_EQ(engine_->fail(alpha, r[1].lease(), "boom"), Code::ok);
  ASSERT_EQ(engine_->fail(alpha, r[2].lease(), "boom"), Code::ok);
  const JobId redrive[] = {r[2].id};
  ASSERT_EQ(engine_->redrive_ids(alpha, redrive).value(), 1u);
  clock_.advance_ms(1001);  // t0 + 1011 ms: r[3]'s lease (deadline t0 + 1003 ms) is over

  prom::Parsed p = Page();
  ASSERT_TRUE(p.ok());
  const prom::Exposition& e = p.exposition;
  const Labels a = {{"queue", "alpha"}};
  const Labels b = {{"queue", "beta.q-1:x"}};
  auto with = [](Labels l, std::string k, std::string v) {
    l.emplace_back(std::move(k), std::move(v));
    return l;
  };

  EXPECT_EQ(Get(e, "hotq_queues", {}), 2.0);
  EXPECT_EQ(Get(e, "hotq_queue_capacity_jobs", a), D(QueueOptions{}.capacity_jobs_max));
  EXPECT_EQ(Get(e, "hotq_queue_capacity_jobs", b), 2.0);

  // alpha: ready = the untouched fifth job, the redriven one, the expired
  // one; delayed = the minute-delayed one; dead = the other failed one.
  EXPECT_EQ(Get(e, "hotq_jobs", with(a, "state", "ready")), 3.0);
  EXPECT_EQ(Get(e, "hotq_jobs", with(a, "state", "delayed")), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs", with(a, "state", "leased")), 0.0);
  EXPECT_EQ(Get(e, "hotq_jobs", with(a, "state", "dead")), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs_enqueued_total", a), 6.0);
  EXPECT_EQ(Get(e, "hotq_jobs_completed_total", a), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs_failed_total", a), 2.0);
  EXPECT_EQ(Get(e, "hotq_jobs_dead_lettered_total", a), 2.0);
  EXPECT_EQ(Get(e, "hotq_jobs_redriven_total", a), 1.0);
  EXPECT_EQ(Get(e, "hotq_leases_expired_total", a), 1.0);
  EXPECT_EQ(Get(e, "hotq_enqueues_deduplicated_total", a), 2.0);
  EXPECT_EQ(Get(e, "hotq_jobs_retried_total", a), 0.0);
  // The oldest ready job was enqueued at t0, 1011 ms ago.
  EXPECT_EQ(Get(e, "hotq_oldest_ready_age_seconds", a), 1.011);

  // beta: everything gone; each counter as done above.
  for (std::string_view state : {"ready", "delayed", "leased", "dead"}) {
    EXPECT_EQ(Get(e, "hotq_jobs", with(b, "state", std::string(state))), 0.0) << state;
  }
  EXPECT_EQ(Get(e, "hotq_jobs_enqueued_total", b), 3.0);
  EXPECT_EQ(Get(e, "hotq_enqueues_rejected_full_total", b), 1.0);
  EXPECT_EQ(Get(e, "hotq_reserves_rate_limited_total", b), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs_retried_total", b), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs_purged_total", b), 2.0);
  EXPECT_EQ(Get(e, "hotq_jobs_cancelled_total", b), 1.0);
  EXPECT_EQ(Get(e, "hotq_jobs_completed_total", b), 0.0);
  EXPECT_EQ(Get(e, "hotq_oldest_ready_age_seconds", b), 0.0);

  // Every counter equals the engine's own count (a name mapped to the
  // wrong field would show here).
  for (QueueId q : {alpha, beta}) {
    const QueueCounts c = engine_->counts(q).value();
    const Labels l = q == alpha ? a : b;
    const std::pair<std::string_view, std::uint64_t> counters[] = {
        {"enqueued", c.enqueued},          {"completed", c.completed},
        {"retried", c.retried},            {"failed", c.failed},
        {"dead_lettered", c.dead_lettered}, {"redriven", c.redriven},
        {"cancelled", c.cancelled},        {"purged", c.purged}};
    for (const auto& [name, v] : counters) {
      EXPECT_EQ(Get(e, "hotq_jobs_" + std::string(name) + "_total", l), D(v)) << name;
    }
    EXPECT_EQ(Get(e, "hotq_leases_expired_total", l), D(c.expired));
    EXPECT_EQ(Get(e, "hotq_enqueues_rejected_full_total", l), D(c.rejected_full));
    EXPECT_EQ(Get(e, "hotq_reserves_rate_limited_total", l), D(c.rate_limited));
    EXPECT_EQ(Get(e, "hotq_enqueues_deduplicated_total", l), D(c.dedup_hits));
    EXPECT_EQ(Get(e, "hotq_jobs", with(l, "state", "ready")), D(c.ready));
    EXPECT_EQ(Get(e, "hotq_jobs", with(l, "state", "delayed")), D(c.delayed));
    EXPECT_EQ(Get(e, "hotq_jobs", with(l, "state", "leased")), D(c.leased));
    EXPECT_EQ(Get(e, "hotq_jobs", with(l, "state", "dead")), D(c.dead));
  }

  // Latencies: alpha waited 3 ms four times and ran 7 ms once; beta's one
  // reserve waited 0 and nothing was acked.
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_count", a), 4.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_count", a), 1.0);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_count", b), 1.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_count", b), 0.0);
  // 3 ms lies in the engine bucket [2883584, 3014655] ns: under 5 ms, not
  // under 2 ms; 7 ms in [6815744, 7077887]: under 10 ms, not under 5 ms.
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_sum", a), 0.012);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_sum", a), 0.007);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_bucket", with(a, "le", "0.002")), 0.0);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_bucket", with(a, "le", "0.005")), 4.0);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_bucket", with(a, "le", "+Inf")), 4.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_bucket", with(a, "le", "0.005")), 0.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_bucket", with(a, "le", "0.01")), 1.0);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_bucket", with(b, "le", "1e-06")), 1.0);
  EXPECT_EQ(Get(e, "hotq_job_wait_seconds_sum", b), 0.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_bucket", with(b, "le", "+Inf")), 0.0);
  EXPECT_EQ(Get(e, "hotq_job_run_seconds_sum", b), 0.0);

  // A dropped queue leaves the page.
  ASSERT_EQ(engine_->drop_queue(beta), Code::ok);
  prom::Parsed after = Page();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(Get(after.exposition, "hotq_queues", {}), 1.0);
  EXPECT_FALSE(after.exposition.value("hotq_jobs_enqueued_total", b).has_value());
}

TEST_F(PrometheusEngineTest, PrefixOptionAndAppending) {
  ASSERT_TRUE(engine_->create_queue("q").ok());
  std::string out = "# HELP broker_connections Open connections.\n"
                    "# TYPE broker_connections gauge\nbroker_connections 3\n";
  ASSERT_TRUE(prometheus_text(*engine_, {.prefix = "broker_hotq_"}, &out).ok());
  prom::Parsed p = parse(out);
  ASSERT_TRUE(p.ok()) << p.error << "\n" << out;
  EXPECT_EQ(p.exposition.value("broker_connections", {}), 3.0);
  EXPECT_EQ(p.exposition.value("broker_hotq_queues", {}), 1.0);
  for (const prom::Family& f : p.exposition.families) {
    EXPECT_TRUE(f.name.starts_with("broker_")) << f.name;
  }
  // An empty prefix is allowed: the names are still valid.
  std::string bare;
  ASSERT_TRUE(prometheus_text(*engine_, {.prefix = ""}, &bare).ok());
  prom::Parsed pb = parse(bare);
  ASSERT_TRUE(pb.ok()) << pb.error;
  EXPECT_EQ(pb.exposition.value("queues", {}), 1.0);
  // Invalid prefixes are refused, naming the option, and change nothing.
  for (const std::string& prefix :
       {std::string("9lives_"), std::string("a-b_"), std::string("a b"), std::string("é_"),
        std::string(prometheus_prefix_bytes_max + 1, 'a')}) {
    std::string untouched = "keep\n";
    Status s = prometheus_text(*engine_, {.prefix = prefix}, &untouched);
    EXPECT_EQ(s.code(), Code::invalid_argument) << prefix;
    EXPECT_NE(s.message().find("PrometheusOptions::prefix"), std::string_view::npos);
    EXPECT_EQ(untouched, "keep\n");
  }
  std::string longest;
  EXPECT_TRUE(
      prometheus_text(*engine_, {.prefix = std::string(prometheus_prefix_bytes_max, 'a')}, &longest)
          .ok());
}

TEST_F(PrometheusEngineTest, ClosedEngineStillGivesAValidPage) {
  ASSERT_TRUE(engine_->create_queue("q").ok());
  engine_->close();
  prom::Parsed p = Page();
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(Get(p.exposition, "hotq_build_info", {{"version", version()}}), 1.0);
}

// Scrapes from one thread while others enqueue, reserve and ack: every page
// is valid (histogram invariants included) and counters never go down.
TEST(PrometheusConcurrency, ScrapesWhileTheEngineWorks) {
  std::unique_ptr<Engine> engine;
  ASSERT_TRUE(Engine::open({.shards = 2}, &engine).ok());
  QueueOptions o;
  o.capacity_jobs_max = 1024;
  const QueueId q = engine->create_queue("busy", o).value();
  const int jobs = testing_util::kSanitized ? 2'000 : 20'000;
  std::atomic<bool> done{false};
  std::thread producer([&] {
    for (int i = 0; i < jobs;) {
      if (engine->enqueue(q, {.payload = "p"}).ok()) {
        ++i;
      } else {
        std::this_thread::yield();  // full: the consumer makes room
      }
    }
  });
  std::thread consumer([&] {
    for (int i = 0; i < jobs;) {
      Result<ReservedJob> r = engine->reserve_wait(q, 1000);
      if (!r.ok()) continue;
      EXPECT_EQ(engine->ack(q, r->lease()), Code::ok);
      ++i;
    }
    done.store(true);
  });
  double last_completed = 0;
  int scrapes = 0;
  while (!done.load() || scrapes < 3) {
    const std::string page = prometheus_text(*engine);
    prom::Parsed p = parse(page);
    ASSERT_TRUE(p.ok()) << p.error;
    const double completed = p.exposition.value("hotq_jobs_completed_total", {{"queue", "busy"}})
                                 .value_or(-1);
    EXPECT_GE(completed, last_completed);
    last_completed = completed;
    ++scrapes;
  }
  producer.join();
  consumer.join();
  prom::Parsed p = parse(prometheus_text(*engine));
  ASSERT_TRUE(p.ok()) << p.error;
  EXPECT_EQ(p.exposition.value("hotq_jobs_completed_total", {{"queue", "busy"}}),
            static_cast<double>(jobs));
  EXPECT_EQ(p.exposition.value("hotq_job_run_seconds_count", {{"queue", "busy"}}),
            static_cast<double>(jobs));
}

}  // namespace
}  // namespace hotq
