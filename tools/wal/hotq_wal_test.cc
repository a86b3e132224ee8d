// hotq-wal on directories a durable engine made: clean, with a torn tail, and
// with damage in the middle; missing, not a WAL directory, locked by a
// running engine; bad usage. The built tool runs as a child process
// (HOTQ_WAL_TOOL, compiled in); every command on a torn and a corrupt
// directory is checked to leave every file's name, size, bytes and mtime as
// they were. Where the engine's own recovery has an answer (the state it
// rebuilds, the torn offset it cuts, the corruption it refuses), the tool's
// answer is compared with it on a copy of the directory.
#include <gtest/gtest.h>

#include <hotq/clock.h>
#include <hotq/engine.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tools/wal/render.h"
#include "wal/format.h"

namespace hotq {
namespace {

namespace fs = std::filesystem;

// ------------------------------------------------------------------ a small JSON reader
// Enough of RFC 8259 to check that each output line is one valid object and
// to read its members (numbers are kept as text).
struct Json {
  enum class Type { null, boolean, number, string, array, object };
  Type type = Type::null;
  bool b = false;
  std::string text;  // number (as written) or string (decoded; \u00NN as byte NN)
  std::vector<Json> items;
  // Members as two parallel vectors (a pair would need Json complete here).
  std::vector<std::string> keys;
  std::vector<Json> values;

  const Json* get(const std::string& key) const {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (keys[i] == key) return &values[i];
    }
    return nullptr;
  }
  std::string str(const std::string& key) const {
    const Json* v = get(key);
    return v != nullptr ? v->text : std::string("<missing ") + key + ">";
  }
  std::uint64_t num(const std::string& key) const {
    const Json* v = get(key);
    return v != nullptr && v->type == Type::number ? std::stoull(v->text) : ~0ull;
  }
};

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}
  // The whole input is exactly one value.
  bool parse(Json* out) {
    if (!value(out, 0)) return false;
    ws();
    return i_ == s_.size();
  }

 private:
  void ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool lit(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    i_ += w.size();
    return true;
  }
  bool value(Json* v, int depth) {
    if (depth > 32) return false;
    ws();
    if (i_ >= s_.size()) return false;
    const char c = s_[i_];
    if (c == '{') return object(v, depth);
    if (c == '[') return array(v, depth);
    if (c == '"') {
      v->type = Json::Type::string;
      return string(&v->text);
    }
    if (lit("true")) return v->type = Json::Type::boolean, v->b = true, true;
    if (lit("false")) return v->type = Json::Type::boolean, true;
    if (lit("null")) return true;
    return number(v);
  }
  bool number(Json* v) {
    const std::size_t start = i_;
    if (i_ < s_.size() && s_[i_] == '-') ++i_;
    const std::size_t digits = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    if (i_ == digits || (s_[digits] == '0' && i_ - digits > 1)) return false;
    if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) return false;  // not used here
    v->type = Json::Type::number;
    v->text = std::string(s_.substr(start, i_ - start));
    return true;
  }
  bool string(std::string* out) {
    ++i_;  // the quote
    while (i_ < s_.size()) {
      const auto c = static_cast<unsigned char>(s_[i_++]);
      if (c == '"') return true;
      if (c < 0x20) return false;  // control characters must be escaped
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        continue;
      }
      if (i_ >= s_.size()) return false;
      const char e = s_[i_++];
      switch (e) {
        case '"': out->push_back('"'); break;
        case '\\': out->push_back('\\'); break;
        case '/': out->push_back('/'); break;
        case 'b': out->push_back('\b'); break;
        case 'f': out->push_back('\f'); break;
        case 'n': out->push_back('\n'); break;
        case 'r': out->push_back('\r'); break;
        case 't': out->push_back('\t'); break;
        case 'u': {
          if (i_ + 4 > s_.size()) return false;
          unsigned cp = 0;
          for (int k = 0; k < 4; ++k) {
            const char h = s_[i_++];
            cp <<= 4;
            if (h >= '0' && h <= '9') cp |= static_cast<unsigned>(h - '0');
            else if (h >= 'a' && h <= 'f') cp |= static_cast<unsigned>(h - 'a' + 10);
            else if (h >= 'A' && h <= 'F') cp |= static_cast<unsigned>(h - 'A' + 10);
            else return false;
          }
          out->push_back(static_cast<char>(cp & 0xff));
          break;
        }
        default:
          return false;
      }
    }
    return false;
  }
  bool array(Json* v, int depth) {
    v->type = Json::Type::array;
    ++i_;
    ws();
    if (lit("]")) return true;
    for (;;) {
      Json item;
      if (!value(&item, depth + 1)) return false;
      v->items.push_back(std::move(item));
      ws();
      if (lit("]")) return true;
      if (!lit(",")) return false;
    }
  }
  bool object(Json* v, int depth) {
    v->type = Json::Type::object;
    ++i_;
    ws();
    if (lit("}")) return true;
    for (;;) {
      ws();
      if (i_ >= s_.size() || s_[i_] != '"') return false;
      std::string key;
      if (!string(&key)) return false;
      ws();
      if (!lit(":")) return false;
      Json item;
      if (!value(&item, depth + 1)) return false;
      v->keys.push_back(std::move(key));
      v->values.push_back(std::move(item));
      ws();
      if (lit("}")) return true;
      if (!lit(",")) return false;
    }
  }
  std::string_view s_;
  std::size_t i_ = 0;
};

// Every line of `text` as a JSON object; a failure names the line.
std::vector<Json> JsonLines(const std::string& text) {
  std::vector<Json> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    Json j;
    EXPECT_TRUE(JsonParser(l).parse(&j)) << "not JSON: " << l;
    EXPECT_EQ(j.type, Json::Type::object) << "not an object: " << l;
    out.push_back(std::move(j));
  }
  return out;
}

// ------------------------------------------------------------------ running the tool

struct ToolRun {
  int status = -1;
  std::string out;
  std::string err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q.push_back(c);
    }
  }
  return q + "'";
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The directory's files: name -> size, mtime and bytes.
std::map<std::string, std::string> Fingerprint(const fs::path& dir) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    struct stat st {};
    EXPECT_EQ(::lstat(e.path().c_str(), &st), 0);
    std::string v = std::to_string(st.st_size) + "|" + std::to_string(st.st_mtim.tv_sec) + "." +
                    std::to_string(st.st_mtim.tv_nsec) + "|" + std::to_string(st.st_mode) + "|";
    if (S_ISREG(st.st_mode)) v += ReadAll(e.path());
    out[e.path().filename().string()] = std::move(v);
  }
  return out;
}

// Segments of `dir`, oldest first.
std::vector<fs::path> Segments(const fs::path& dir) {
  std::vector<fs::path> segs;
  for (const auto& e : fs::directory_iterator(dir)) {
    std::uint64_t lsn = 0;
    if (wal::parse_segment_name(e.path().filename().string(), &lsn)) segs.push_back(e.path());
  }
  std::sort(segs.begin(), segs.end());
  return segs;
}

// The valid groups of a segment: offset and header, in order.
std::vector<std::pair<std::uint64_t, wal::GroupHeader>> Groups(const std::string& seg) {
  std::vector<std::pair<std::uint64_t, wal::GroupHeader>> out;
  std::uint64_t off = wal::segment_header_bytes;
  wal::GroupHeader gh;
  while (off + wal::group_header_bytes <= seg.size() && wal::decode_group_header(seg.data() + off, &gh)) {
    out.emplace_back(off, gh);
    off += gh.group_bytes;
  }
  return out;
}

void WriteAt(const fs::path& file, std::uint64_t offset, const std::string& bytes) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(f.good());
}

class HotqWal : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/hotq_wal_test.XXXXXX";
    ASSERT_NE(::mkdtemp(pattern.data()), nullptr);
    root_ = pattern;
    dir_ = root_ / "wal";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }

  ToolRun Tool(const std::string& args) {
    ToolRun r;
    const fs::path err = root_ / "stderr.txt";
    const std::string cmd = Quote(HOTQ_WAL_TOOL) + " " + args + " 2>" + Quote(err.string());
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) {
      ADD_FAILURE() << "popen failed: " << cmd;
      return r;
    }
    char buf[4096];
    std::size_t n = 0;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    const int w = ::pclose(p);
    r.status = WIFEXITED(w) ? WEXITSTATUS(w) : -1;
    r.err = ReadAll(err);
    // A sanitizer's report in the child would otherwise hide behind an
    // expected non-zero status.
    EXPECT_EQ(r.err.find("Sanitizer"), std::string::npos) << args << ": " << r.err;
    EXPECT_EQ(r.err.find("runtime error"), std::string::npos) << args << ": " << r.err;
    return r;
  }

  EngineOptions Options(const fs::path& dir) {
    EngineOptions o;
    o.clock = &clock_;
    o.wall_clock = &wall_;
    o.shards = 1;
    o.wal_dir = dir.string();
    o.wal_segment_bytes = wal::segment_bytes_min;
    return o;
  }
  std::unique_ptr<Engine> Open(const fs::path& dir) {
    std::unique_ptr<Engine> e;
    Status st = Engine::open(Options(dir), &e);
    EXPECT_TRUE(st.ok()) << st.message();
    return e;
  }

  // The workload of the clean directory (see the expectations in its test).
  struct Ids {
    JobId e1, e2, e3, e4, e5, e6, r1, r2;
  };
  Ids MakeWorkload(Engine& e) {
    QueueOptions emails;
    emails.attempts_max = 3;
    emails.lease_ms_default = 600'000;
    QueueOptions reports;
    reports.attempts_max = 1;
    const QueueId qe = e.create_queue("emails", emails).value();
    const QueueId qr = e.create_queue("reports", reports).value();
    Ids ids{};
    ids.e1 = e.enqueue(qe, {.payload = "p1"}).value();
    ids.e2 = e.enqueue(qe, {.payload = "p2"}).value();
    ids.e3 = e.enqueue(qe, {.payload = "p3"}).value();
    ids.e4 = e.enqueue(qe, {.payload = "p4\n\x01\xff"}).value();
    ids.e5 = e.enqueue(qe, {.payload = std::string(100, 'x')}).value();
    ids.e6 = e.enqueue(qe, {.payload = "later", .delay_ms = 60'000}).value();
    ReservedJob j1 = e.reserve(qe).value();
    EXPECT_EQ(j1.id, ids.e1);
    EXPECT_EQ(e.ack(qe, j1.lease()), Code::ok);
    ReservedJob j2 = e.reserve(qe).value();
    EXPECT_EQ(j2.id, ids.e2);
    EXPECT_EQ(e.fail(qe, j2.lease(), "boom: invalid \"address\""), Code::ok);
    ReservedJob j3 = e.reserve(qe).value();
    EXPECT_EQ(j3.id, ids.e3);  // stays leased
    ReservedJob j4 = e.reserve(qe).value();
    EXPECT_EQ(j4.id, ids.e4);
    EXPECT_EQ(e.nack(qe, j4.lease(), 0, "try later"), Code::ok);  // ready again
    ids.r1 = e.enqueue(qr, {.payload = "r1"}).value();
    ReservedJob k1 = e.reserve(qr).value();
    EXPECT_EQ(e.nack(qr, k1.lease(), 0, "disk full"), Code::ok);  // its only attempt: dead
    ids.r2 = e.enqueue(qr, {.payload = "r2"}).value();
    return ids;
  }

  // Three enqueues into one queue, each its own group: the directory the
  // torn and corrupt cases damage.
  std::vector<JobId> MakeSmall() {
    auto e = Open(dir_);
    const QueueId q = e->create_queue("jobs").value();
    std::vector<JobId> ids;
    for (const char* p : {"first", "second", "third", "fourth"}) ids.push_back(e->enqueue(q, {.payload = p}).value());
    return ids;
  }

  // Every reading command leaves the directory exactly as it was.
  void ExpectReadOnly(const fs::path& dir, const std::string& queue) {
    const auto before = Fingerprint(dir);
    const std::string d = Quote(dir.string());
    int n = 0;
    for (const std::string& args :
         {"dump " + d, "dump --json --snapshot " + d, "verify " + d, "verify --json " + d, "stats " + d,
          "stats --json " + d, "jobs " + d + " " + queue, "jobs --json --state ready " + d + " " + queue,
          "salvage " + d + " " + Quote((root_ / ("ro-salvage-" + std::to_string(n))).string())}) {
      ++n;
      ToolRun r = Tool(args);
      EXPECT_NE(r.status, -1) << args;
      EXPECT_EQ(Fingerprint(dir), before) << "hotq-wal " << args << " changed " << dir;
    }
  }

  ManualClock clock_{5'000'000'000};
  ManualClock wall_{1'700'000'000'000'000'000};  // 2023-11-14T22:13:20Z
  fs::path root_, dir_;
};

// ------------------------------------------------------------------ a clean directory

TEST_F(HotqWal, CleanDirectoryVerifiesStatsJobsAndDump) {
  Ids ids{};
  {
    auto e = Open(dir_);
    ids = MakeWorkload(*e);
  }
  const std::string d = Quote(dir_.string());

  ToolRun v = Tool("verify " + d);
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  EXPECT_NE(v.out.find("clean: last LSN 19"), std::string::npos) << v.out;

  // stats: records per type as the workload logged them, jobs by state.
  ToolRun s = Tool("stats --json " + d);
  ASSERT_EQ(s.status, 0) << s.err;
  std::vector<Json> sj = JsonLines(s.out);
  ASSERT_EQ(sj.size(), 1u);
  const Json& st = sj[0];
  EXPECT_EQ(st.str("condition"), "clean");
  EXPECT_EQ(st.num("records"), 19u);
  EXPECT_EQ(st.num("last_lsn"), 19u);
  const Json* types = st.get("types");
  ASSERT_NE(types, nullptr);
  const std::map<std::string, std::uint64_t> want_types = {
      {"queue_create", 2}, {"enqueue", 8}, {"reserve", 5}, {"ack", 1}, {"nack", 1}, {"dead", 2}};
  EXPECT_EQ(types->keys.size(), want_types.size());
  std::uint64_t type_bytes = 0;
  for (const auto& [type, count] : want_types) {
    const Json* t = types->get(type);
    ASSERT_NE(t, nullptr) << type;
    EXPECT_EQ(t->num("count"), count) << type;
    type_bytes += t->num("bytes");
  }
  // Records' bytes plus one 32-byte header per group are the log's bytes.
  EXPECT_EQ(type_bytes + st.num("groups") * wal::group_header_bytes, st.num("log_bytes"));
  const Json* queues = st.get("queues");
  ASSERT_NE(queues, nullptr);
  ASSERT_EQ(queues->items.size(), 2u);
  std::map<std::string, const Json*> by_name;
  for (const Json& q : queues->items) by_name[q.str("name")] = &q;
  ASSERT_TRUE(by_name.count("emails") && by_name.count("reports"));
  EXPECT_EQ(by_name["emails"]->num("delayed"), 1u);
  EXPECT_EQ(by_name["emails"]->num("ready"), 2u);
  EXPECT_EQ(by_name["emails"]->num("leased"), 1u);
  EXPECT_EQ(by_name["emails"]->num("dead"), 1u);
  EXPECT_EQ(by_name["reports"]->num("ready"), 1u);
  EXPECT_EQ(by_name["reports"]->num("dead"), 1u);
  EXPECT_EQ(by_name["reports"]->num("leased") + by_name["reports"]->num("delayed"), 0u);

  ToolRun sh = Tool("stats " + d);
  EXPECT_EQ(sh.status, 0);
  EXPECT_NE(sh.out.find("live jobs by queue and state"), std::string::npos) << sh.out;

  // jobs: the right ids in each state.
  ToolRun j = Tool("jobs --json " + d + " emails");
  ASSERT_EQ(j.status, 0) << j.err;
  std::map<std::string, std::set<std::uint64_t>> by_state;
  const Json* dead_job = nullptr;
  std::vector<Json> jl = JsonLines(j.out);
  ASSERT_FALSE(jl.empty());
  EXPECT_EQ(jl[0].str("kind"), "queue");
  for (const Json& x : jl) {
    if (x.str("kind") != "job") continue;
    by_state[x.str("state")].insert(x.num("job"));
    if (x.str("state") == "dead") dead_job = &x;
  }
  EXPECT_EQ(by_state["ready"], (std::set<std::uint64_t>{ids.e4, ids.e5}));
  EXPECT_EQ(by_state["delayed"], (std::set<std::uint64_t>{ids.e6}));
  EXPECT_EQ(by_state["leased"], (std::set<std::uint64_t>{ids.e3}));
  EXPECT_EQ(by_state["dead"], (std::set<std::uint64_t>{ids.e2}));
  ASSERT_NE(dead_job, nullptr);
  EXPECT_EQ(dead_job->str("reason"), "failed");
  EXPECT_EQ(dead_job->str("error"), "boom: invalid \"address\"");
  EXPECT_EQ(dead_job->str("payload_prefix"), "p2");

  // --state, and dead letters in the human form with reason and error.
  ToolRun jd = Tool("jobs --state dead " + d + " reports");
  ASSERT_EQ(jd.status, 0) << jd.err;
  EXPECT_NE(jd.out.find("job=" + std::to_string(ids.r1)), std::string::npos) << jd.out;
  EXPECT_NE(jd.out.find("reason=\"attempts_nacked\""), std::string::npos) << jd.out;
  EXPECT_NE(jd.out.find("error=\"disk full\""), std::string::npos) << jd.out;
  EXPECT_EQ(jd.out.find("job=" + std::to_string(ids.r2)), std::string::npos) << "--state dead lists ready jobs";
  ToolRun jr = Tool("jobs --json --state ready " + d + " emails");
  std::set<std::uint64_t> ready;
  for (const Json& x : JsonLines(jr.out)) {
    if (x.str("kind") == "job") ready.insert(x.num("job"));
  }
  EXPECT_EQ(ready, (std::set<std::uint64_t>{ids.e4, ids.e5}));

  // dump --json: one object per line, records with their keys, LSNs 1..19
  // in order, and the payload escaped so the line stays JSON.
  ToolRun dj = Tool("dump --json --snapshot " + d);
  ASSERT_EQ(dj.status, 0) << dj.err;
  std::vector<Json> lines = JsonLines(dj.out);
  ASSERT_GE(lines.size(), 21u);
  EXPECT_EQ(lines.front().str("kind"), "snapshot");
  EXPECT_EQ(lines.back().str("kind"), "end");
  EXPECT_EQ(lines.back().str("condition"), "clean");
  std::uint64_t next_lsn = 1;
  bool saw_binary_payload = false;
  for (const Json& x : lines) {
    ASSERT_NE(x.get("kind"), nullptr);
    if (x.str("kind") != "record") continue;
    for (const char* key : {"segment", "offset", "group_offset", "lsn", "type", "bytes", "covered"}) {
      EXPECT_NE(x.get(key), nullptr) << key;
    }
    EXPECT_EQ(x.num("lsn"), next_lsn++);
    if (x.str("type") == "enqueue") {
      EXPECT_NE(x.get("payload_bytes"), nullptr);
      EXPECT_NE(x.get("job"), nullptr);
      EXPECT_NE(x.get("enqueued_ns"), nullptr);
      if (x.num("job") == ids.e4) {
        EXPECT_EQ(x.str("payload_prefix"), "p4\n\x01\xff");
        saw_binary_payload = true;
      }
    }
  }
  EXPECT_EQ(next_lsn, 20u);
  EXPECT_TRUE(saw_binary_payload);

  ToolRun dh = Tool("dump " + d);
  ASSERT_EQ(dh.status, 0) << dh.err;
  EXPECT_NE(dh.out.find("lsn=1 queue_create"), std::string::npos) << dh.out;
  EXPECT_NE(dh.out.find("payload=5:\"p4\\n\\x01\\xff\""), std::string::npos) << dh.out;
  EXPECT_NE(dh.out.find("payload=100:\"xxxxxxxx"), std::string::npos) << dh.out;
  EXPECT_NE(dh.out.find("enqueued=2023-11-14T22:13:20.000Z"), std::string::npos) << dh.out;
  EXPECT_NE(dh.out.find("end: clean, last LSN 19"), std::string::npos) << dh.out;
}

// With a snapshot: the tool's state is the one the engine's own recovery
// rebuilds (compared on a copy), and verify checks the snapshot and the
// segments after it.
TEST_F(HotqWal, StatsAgreeWithEngineRecoveryAcrossASnapshot) {
  {
    auto e = Open(dir_);
    MakeWorkload(*e);
    ASSERT_TRUE(e->snapshot().ok());
    const QueueId q = e->find_queue("emails").value();
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(e->enqueue(q, {.payload = "after"}).ok());
    ReservedJob j = e->reserve(q).value();
    ASSERT_EQ(e->ack(q, j.lease()), Code::ok);
  }
  const std::string d = Quote(dir_.string());
  ToolRun v = Tool("verify --json " + d);
  ASSERT_EQ(v.status, 0) << v.out << v.err;
  std::vector<Json> vj = JsonLines(v.out);
  ASSERT_EQ(vj.size(), 1u);
  EXPECT_EQ(vj[0].str("condition"), "clean");
  EXPECT_NE(vj[0].str("snapshot"), "");
  EXPECT_GE(vj[0].num("covered_lsn"), 19u);

  ToolRun s = Tool("stats --json " + d);
  ASSERT_EQ(s.status, 0) << s.err;
  std::vector<Json> sj = JsonLines(s.out);
  ASSERT_EQ(sj.size(), 1u);

  const fs::path copy = root_ / "copy";
  fs::copy(dir_, copy);
  auto e = Open(copy);
  ASSERT_NE(e, nullptr);
  for (const Json& q : sj[0].get("queues")->items) {
    const QueueId id = e->find_queue(q.str("name")).value();
    EXPECT_EQ(q.num("id"), id);
    const QueueCounts c = e->counts(id).value();
    EXPECT_EQ(q.num("ready"), c.ready) << q.str("name");
    EXPECT_EQ(q.num("delayed"), c.delayed) << q.str("name");
    EXPECT_EQ(q.num("leased"), c.leased) << q.str("name");
    EXPECT_EQ(q.num("dead"), c.dead) << q.str("name");
  }
  EXPECT_EQ(sj[0].get("queues")->items.size(), e->list_queues().size());
}

// A publish's payload in a snapshot: one snap_payload, and a
// snap_job_shared per job naming its ref; the tool renders both and lists
// each job with the payload, as recovery rebuilds it.
TEST_F(HotqWal, SharedSnapshotPayloadIsDumpedOnceAndListedPerJob) {
  {
    auto e = Open(dir_);
    ASSERT_EQ(e->bind("t", e->create_queue("a").value()), Code::ok);
    ASSERT_EQ(e->bind("t", e->create_queue("b").value()), Code::ok);
    ASSERT_EQ(e->publish("t", {.payload = "fan-out bytes"}).value().size(), 2u);
    ASSERT_TRUE(e->snapshot().ok());
  }
  const std::string d = Quote(dir_.string());
  ToolRun dj = Tool("dump --json --snapshot " + d);
  ASSERT_EQ(dj.status, 0) << dj.err;
  int payloads = 0;
  std::vector<std::uint64_t> refs;
  std::uint64_t ref = 0;
  for (const Json& x : JsonLines(dj.out)) {
    if (x.str("type") == "snap_payload") {
      ++payloads;
      ref = x.num("ref");
      EXPECT_EQ(x.str("payload_prefix"), "fan-out bytes");
    } else if (x.str("type") == "snap_job_shared") {
      refs.push_back(x.num("payload_ref"));
    }
  }
  EXPECT_EQ(payloads, 1) << dj.out;
  EXPECT_EQ(refs, (std::vector<std::uint64_t>{ref, ref})) << dj.out;
  for (const char* q : {"a", "b"}) {
    ToolRun j = Tool("jobs " + d + " " + q);
    ASSERT_EQ(j.status, 0) << j.err;
    EXPECT_NE(j.out.find("fan-out bytes"), std::string::npos) << j.out;
  }
}

// ------------------------------------------------------------------ a torn tail

TEST_F(HotqWal, TornTailIsReportedWithFileOffsetAndBytes) {
  const std::vector<JobId> ids = MakeSmall();
  const std::vector<fs::path> segs = Segments(dir_);
  ASSERT_EQ(segs.size(), 1u);
  const std::string seg = ReadAll(segs[0]);
  const auto groups = Groups(seg);
  ASSERT_EQ(groups.size(), 5u);  // the queue and four enqueues
  // The last write stopped half-way: its second half never reached the disk.
  const auto [off, gh] = groups.back();
  WriteAt(segs[0], off + gh.group_bytes / 2, std::string(gh.group_bytes - gh.group_bytes / 2, '\0'));
  const std::string name = segs[0].filename().string();
  const std::uint64_t bytes = seg.size() - off;

  ExpectReadOnly(dir_, "jobs");

  const std::string d = Quote(dir_.string());
  ToolRun v = Tool("verify " + d);
  EXPECT_EQ(v.status, 3) << v.out << v.err;
  EXPECT_NE(v.out.find("TORN TAIL: " + dir_.string() + "/" + name + " at offset " + std::to_string(off) +
                       ": torn tail: "),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("zeroing " + std::to_string(bytes) + " bytes"), std::string::npos) << v.out;
  ToolRun vj = Tool("verify --json " + d);
  EXPECT_EQ(vj.status, 3);
  std::vector<Json> j = JsonLines(vj.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].str("condition"), "torn");
  EXPECT_EQ(j[0].str("file"), name);
  EXPECT_EQ(j[0].num("offset"), off);
  EXPECT_EQ(j[0].num("bytes"), bytes);

  // The other commands show the state without the torn group, and exit 0.
  ToolRun jobs = Tool("jobs --json " + d + " jobs");
  EXPECT_EQ(jobs.status, 0) << jobs.err;
  std::set<std::uint64_t> live;
  for (const Json& x : JsonLines(jobs.out)) {
    if (x.str("kind") == "job") live.insert(x.num("job"));
  }
  EXPECT_EQ(live, (std::set<std::uint64_t>{ids[0], ids[1], ids[2]}));

  // The engine's own recovery (on a copy) cuts the same group.
  const fs::path copy = root_ / "copy";
  fs::copy(dir_, copy);
  auto e = Open(copy);
  ASSERT_NE(e, nullptr);
  EXPECT_NE(e->open_report().find("torn tail in " + copy.string() + "/" + name + " at offset " +
                                  std::to_string(off)),
            std::string::npos)
      << e->open_report();
  e.reset();

  // salvage: the engine opens the copy with the three whole enqueues.
  const fs::path out = root_ / "salvaged";
  ToolRun sv = Tool("salvage " + d + " " + Quote(out.string()));
  ASSERT_EQ(sv.status, 0) << sv.out << sv.err;
  EXPECT_EQ(Tool("verify " + Quote(out.string())).status, 0);
  auto se = Open(out);
  ASSERT_NE(se, nullptr);
  const QueueId q = se->find_queue("jobs").value();
  EXPECT_EQ(se->counts(q).value().ready, 3u);
  EXPECT_EQ(se->inspect(q, ids[3]).code(), Code::no_such_job);
}

// ------------------------------------------------------------------ damage in the middle

TEST_F(HotqWal, CorruptionInTheMiddleIsNamedAndSalvageKeepsWhatCameBefore) {
  const std::vector<JobId> ids = MakeSmall();
  const std::vector<fs::path> segs = Segments(dir_);
  ASSERT_EQ(segs.size(), 1u);
  const std::string seg = ReadAll(segs[0]);
  const auto groups = Groups(seg);
  ASSERT_EQ(groups.size(), 5u);
  // One bit of the second enqueue's payload flips; valid groups follow it.
  const std::uint64_t off = groups[2].first;
  const std::uint64_t at = off + wal::group_header_bytes + wal::record_header_bytes + 40;
  WriteAt(segs[0], at, std::string(1, static_cast<char>(seg[at] ^ 0x10)));
  const std::string name = segs[0].filename().string();

  ExpectReadOnly(dir_, "jobs");

  const std::string d = Quote(dir_.string());
  ToolRun v = Tool("verify " + d);
  EXPECT_EQ(v.status, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("CORRUPT: " + dir_.string() + "/" + name + " at offset " + std::to_string(off) +
                       ": corrupt group: "),
            std::string::npos)
      << v.out;
  EXPECT_NE(v.out.find("bad checksum"), std::string::npos) << v.out;
  ToolRun vj = Tool("verify --json " + d);
  std::vector<Json> j = JsonLines(vj.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].str("condition"), "corrupt");
  EXPECT_EQ(j[0].str("file"), name);
  EXPECT_EQ(j[0].num("offset"), off);

  // Reading commands print what came before and exit 1, saying why.
  ToolRun dump = Tool("dump " + d);
  EXPECT_EQ(dump.status, 1);
  EXPECT_NE(dump.err.find("CORRUPT"), std::string::npos) << dump.err;
  EXPECT_NE(dump.out.find("lsn=2 enqueue"), std::string::npos) << dump.out;
  EXPECT_EQ(dump.out.find("lsn=3 enqueue"), std::string::npos) << dump.out;
  ToolRun stats = Tool("stats " + d);
  EXPECT_EQ(stats.status, 1);

  // The engine refuses the directory, naming the same place.
  {
    const fs::path copy = root_ / "copy";
    fs::copy(dir_, copy);
    std::unique_ptr<Engine> e;
    Status st = Engine::open(Options(copy), &e);
    EXPECT_EQ(st.code(), Code::corruption) << st.message();
    EXPECT_NE(st.message().find(name + " at offset " + std::to_string(off)), std::string::npos) << st.message();
  }

  // salvage: a new directory the engine opens, holding the job before the damage.
  const fs::path out = root_ / "salvaged";
  ToolRun sv = Tool("salvage " + d + " " + Quote(out.string()));
  ASSERT_EQ(sv.status, 0) << sv.out << sv.err;
  EXPECT_NE(sv.out.find("left out: everything from " + name + " offset " + std::to_string(off)),
            std::string::npos)
      << sv.out;
  EXPECT_EQ(Tool("verify " + Quote(out.string())).status, 0);
  auto e = Open(out);
  ASSERT_NE(e, nullptr);
  const QueueId q = e->find_queue("jobs").value();
  EXPECT_EQ(e->counts(q).value().ready, 1u);
  EXPECT_EQ(e->inspect(q, ids[0]).value().payload.view(), "first");
  EXPECT_EQ(e->inspect(q, ids[1]).code(), Code::no_such_job);
  // The salvaged engine goes on writing after the cut, and reopens.
  ASSERT_TRUE(e->enqueue(q, {.payload = "new"}).ok());
  e.reset();
  EXPECT_EQ(Tool("verify " + Quote(out.string())).status, 0);
  EXPECT_EQ(Open(out)->counts(q).value().ready, 2u);
}

// A segment missing between two others: an LSN gap across files.
TEST_F(HotqWal, MissingSegmentIsAnLsnGapAndSalvageKeepsTheSegmentsBeforeIt) {
  {
    auto e = Open(dir_);
    const QueueId q = e->create_queue("bulk").value();
    const std::string payload(1000, 'p');
    for (int i = 0; i < 200; ++i) ASSERT_TRUE(e->enqueue(q, {.payload = payload}).ok());
  }
  const std::vector<fs::path> segs = Segments(dir_);
  ASSERT_GE(segs.size(), 3u);
  const std::string d = Quote(dir_.string());
  ToolRun clean = Tool("verify " + d);
  ASSERT_EQ(clean.status, 0) << clean.out << clean.err;
  // Records in the first segment: what a salvage can keep.
  std::uint64_t first_records = 0;
  for (const auto& [off, gh] : Groups(ReadAll(segs[0]))) first_records += gh.record_count;
  fs::remove(segs[1]);

  ToolRun v = Tool("verify " + d);
  EXPECT_EQ(v.status, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("LSN gap"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find(segs[0].filename().string()), std::string::npos) << v.out;
  EXPECT_NE(v.out.find(segs[2].filename().string()), std::string::npos) << v.out;

  const fs::path out = root_ / "salvaged";
  ToolRun sv = Tool("salvage " + d + " " + Quote(out.string()));
  ASSERT_EQ(sv.status, 0) << sv.out << sv.err;
  EXPECT_EQ(Segments(out).size(), 1u);
  auto e = Open(out);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->counts(e->find_queue("bulk").value()).value().ready, first_records - 1);
}

// hotq-wal decides what damage is with its own walk over the segments (it
// must not repair; recovery repairs as it reads), so the two are checked
// against each other on random damage. Each trial copies a log of several
// segments and changes it once: a bit flipped anywhere in a segment
// (header, groups, padding, the zeroed space after the log), a segment
// zeroed from a random offset (a cut), or a segment removed. verify's
// status (0 clean, 3 torn, 1 corrupt) must be what Engine::open makes of a
// second copy: opens with no repair note, opens after cutting a torn tail
// at the same file and offset (or recycling a torn roll), refuses with
// corruption. HOTQ_TEST_SEED replays other damage.
TEST_F(HotqWal, VerifyAgreesWithRecoveryOnRandomDamage) {
  {
    auto e = Open(dir_);
    const QueueId q = e->create_queue("bulk").value();
    for (int i = 0; i < 160; ++i) {
      ASSERT_TRUE(e->enqueue(q, {.payload = std::string(600 + (i * 37) % 500, 'p')}).ok());
      if (i % 5 == 4) {
        ReservedJob j = e->reserve(q).value();
        ASSERT_EQ(i % 10 == 9 ? e->ack(q, j.lease()) : e->nack(q, j.lease(), 0, "again"), Code::ok);
      }
    }
  }
  ASSERT_GE(Segments(dir_).size(), 3u);
  const char* env = std::getenv("HOTQ_TEST_SEED");
  const std::uint64_t seed = env != nullptr ? std::strtoull(env, nullptr, 10) : 20261203;
  SCOPED_TRACE("HOTQ_TEST_SEED=" + std::to_string(seed));
  std::mt19937_64 rng(seed);
  int verdicts[4] = {0, 0, 0, 0};
  for (int trial = 0; trial < 48; ++trial) {
    const fs::path t = root_ / ("trial-" + std::to_string(trial));
    fs::copy(dir_, t);
    const std::vector<fs::path> segs = Segments(t);
    // The newest segment half the time: only there is damage a torn tail.
    const fs::path& seg = rng() % 2 == 0 ? segs.back() : segs[rng() % segs.size()];
    const std::uint64_t size = fs::file_size(seg);
    std::string what;
    switch (rng() % 4) {
      case 0:
      case 1: {  // a flipped bit
        const std::uint64_t at = rng() % size;
        const std::string was = ReadAll(seg).substr(at, 1);
        WriteAt(seg, at, std::string(1, static_cast<char>(was[0] ^ (1 << (rng() % 8)))));
        what = "bit flipped at " + seg.filename().string() + ":" + std::to_string(at);
        break;
      }
      case 2: {  // zeroed from a random offset to the end of the groups
        const auto groups = Groups(ReadAll(seg));
        const std::uint64_t end = groups.empty() ? wal::segment_header_bytes
                                                 : groups.back().first + groups.back().second.group_bytes;
        const std::uint64_t at = rng() % end;
        WriteAt(seg, at, std::string(end - at, '\0'));
        what = "zeroed from " + seg.filename().string() + ":" + std::to_string(at);
        break;
      }
      default:
        fs::remove(seg);
        what = "removed " + seg.filename().string();
    }
    const ToolRun v = Tool("verify --json " + Quote(t.string()));
    const fs::path c = root_ / ("copy-" + std::to_string(trial));
    fs::copy(t, c);
    std::unique_ptr<Engine> e;
    const Status st = Engine::open(Options(c), &e);
    const std::string report = st.ok() ? e->open_report() : st.to_string();
    int engine = 0;
    if (!st.ok()) {
      EXPECT_EQ(st.code(), Code::corruption) << what << ": " << report;
      engine = 1;
    } else if (report.find("torn tail in ") != std::string::npos ||
               report.find("was being started when the writer stopped") != std::string::npos) {
      engine = 3;
    }
    e.reset();
    EXPECT_EQ(v.status, engine) << what << "\nverify: " << v.out << v.err << "\nopen: " << report;
    if (v.status == 3 && engine == 3 && report.find("torn tail in ") != std::string::npos) {
      const std::vector<Json> j = JsonLines(v.out);
      ASSERT_EQ(j.size(), 1u) << v.out;
      EXPECT_NE(report.find("torn tail in " + c.string() + "/" + j[0].str("file") + " at offset " +
                            std::to_string(j[0].num("offset"))),
                std::string::npos)
          << what << "\nverify: " << v.out << "\nopen: " << report;
    }
    if (v.status >= 0 && v.status < 4) ++verdicts[v.status];
    fs::remove_all(t);
    fs::remove_all(c);
  }
  // The damage reached every verdict (else the trials tested less than they say).
  EXPECT_GT(verdicts[0], 0);
  EXPECT_GT(verdicts[1], 0);
  EXPECT_GT(verdicts[3], 0);
}

// Damage in records the snapshot covers: recovery refuses (it checks every
// group of the first segment it reads), and a salvage keeps the snapshot
// alone, which the engine opens as the state at its LSN.
TEST_F(HotqWal, DamageBelowTheSnapshotSalvagesTheSnapshotAlone) {
  QueueCounts at_snapshot{};
  {
    auto e = Open(dir_);
    MakeWorkload(*e);
    ASSERT_TRUE(e->snapshot().ok());
    const QueueId q = e->find_queue("emails").value();
    at_snapshot = e->counts(q).value();
    ASSERT_TRUE(e->enqueue(q, {.payload = "after the snapshot"}).ok());
  }
  const std::vector<fs::path> segs = Segments(dir_);
  ASSERT_EQ(segs.size(), 1u);
  const std::string seg = ReadAll(segs[0]);
  const auto groups = Groups(seg);
  ASSERT_GE(groups.size(), 4u);
  const std::uint64_t off = groups[2].first;  // an enqueue, long covered
  WriteAt(segs[0], off + wal::group_header_bytes + 30, "!");
  const std::string d = Quote(dir_.string());
  ToolRun v = Tool("verify " + d);
  EXPECT_EQ(v.status, 1) << v.out << v.err;
  EXPECT_NE(v.out.find("at offset " + std::to_string(off)), std::string::npos) << v.out;

  const fs::path out = root_ / "salvaged";
  ToolRun sv = Tool("salvage " + d + " " + Quote(out.string()));
  ASSERT_EQ(sv.status, 0) << sv.out << sv.err;
  EXPECT_NE(sv.out.find("the snapshot alone is the state"), std::string::npos) << sv.out;
  EXPECT_TRUE(Segments(out).empty());
  auto e = Open(out);
  ASSERT_NE(e, nullptr);
  const QueueCounts c = e->counts(e->find_queue("emails").value()).value();
  EXPECT_EQ(c.ready, at_snapshot.ready);
  EXPECT_EQ(c.delayed, at_snapshot.delayed);
  EXPECT_EQ(c.leased, at_snapshot.leased);
  EXPECT_EQ(c.dead, at_snapshot.dead);
}

// A damaged snapshot: recovery skips it and replays the whole log instead
// (the segments from LSN 1 are all there), so it is a note, not a failure.
TEST_F(HotqWal, DamagedSnapshotIsSkippedAsRecoveryDoes) {
  {
    auto e = Open(dir_);
    MakeWorkload(*e);
    ASSERT_TRUE(e->snapshot().ok());
  }
  fs::path snap;
  for (const auto& x : fs::directory_iterator(dir_)) {
    if (x.path().extension() == ".snap") snap = x.path();
  }
  ASSERT_FALSE(snap.empty());
  WriteAt(snap, fs::file_size(snap) - 20, "?");
  std::ofstream(dir_ / "free-9.tmp") << "unfinished";
  ToolRun v = Tool("verify --json " + Quote(dir_.string()));
  EXPECT_EQ(v.status, 0) << v.out << v.err;
  std::vector<Json> j = JsonLines(v.out);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0].str("snapshot"), "");
  EXPECT_EQ(j[0].num("live_jobs"), 7u);
  EXPECT_NE(v.out.find("skipped"), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("unfinished file free-9.tmp: recovery would remove it"), std::string::npos) << v.out;
  EXPECT_TRUE(fs::exists(dir_ / "free-9.tmp"));
}

TEST_F(HotqWal, SalvageNeverWritesIntoAnExistingOrNestedDirectory) {
  MakeSmall();
  const std::string d = Quote(dir_.string());
  const auto before = Fingerprint(dir_);
  const fs::path full = root_ / "full";
  fs::create_directory(full);
  std::ofstream(full / "keep") << "x";
  ToolRun r = Tool("salvage " + d + " " + Quote(full.string()));
  EXPECT_EQ(r.status, 8) << r.err;
  EXPECT_NE(r.err.find("not empty"), std::string::npos) << r.err;
  EXPECT_EQ(ReadAll(full / "keep"), "x");
  ToolRun nested = Tool("salvage " + d + " " + Quote((dir_ / "out").string()));
  EXPECT_EQ(nested.status, 8) << nested.err;
  EXPECT_FALSE(fs::exists(dir_ / "out"));
  EXPECT_EQ(Fingerprint(dir_), before);
  // An empty directory is fine.
  const fs::path empty = root_ / "empty";
  fs::create_directory(empty);
  EXPECT_EQ(Tool("salvage " + d + " " + Quote(empty.string())).status, 0);
}

// ------------------------------------------------------------------ what is not a WAL directory

TEST_F(HotqWal, MissingAndForeignDirectoriesHaveTheirOwnExitCodes) {
  const std::string missing = Quote((root_ / "nope").string());
  for (const char* cmd : {"dump ", "verify ", "stats "}) {
    ToolRun r = Tool(std::string(cmd) + missing);
    EXPECT_EQ(r.status, 4) << cmd;
    EXPECT_NE(r.err.find("no such directory"), std::string::npos) << r.err;
  }
  EXPECT_EQ(Tool("jobs " + missing + " q").status, 4);
  EXPECT_EQ(Tool("salvage " + missing + " " + Quote((root_ / "o").string())).status, 4);

  const fs::path empty = root_ / "empty";
  fs::create_directory(empty);
  ToolRun r = Tool("verify " + Quote(empty.string()));
  EXPECT_EQ(r.status, 5);
  EXPECT_NE(r.err.find("not a hotq WAL directory"), std::string::npos) << r.err;
  std::ofstream(empty / "notes.txt") << "hello";
  EXPECT_EQ(Tool("stats " + Quote(empty.string())).status, 5);
  EXPECT_EQ(Tool("dump " + Quote((empty / "notes.txt").string())).status, 5);
}

TEST_F(HotqWal, UnknownQueue) {
  MakeSmall();
  ToolRun r = Tool("jobs " + Quote(dir_.string()) + " nosuch");
  EXPECT_EQ(r.status, 9);
  EXPECT_NE(r.err.find("no queue named nosuch"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("queues: jobs"), std::string::npos) << r.err;
}

// ------------------------------------------------------------------ a running engine

TEST_F(HotqWal, LockedDirectoryIsRefusedWithoutBlockingTheEngine) {
  auto e = Open(dir_);
  const QueueId q = e->create_queue("live").value();
  ASSERT_TRUE(e->enqueue(q, {.payload = "x"}).ok());
  const std::string d = Quote(dir_.string());
  for (const char* cmd : {"dump ", "verify ", "stats "}) {
    ToolRun r = Tool(std::string(cmd) + d);
    EXPECT_EQ(r.status, 6) << cmd << r.err;
    EXPECT_NE(r.err.find("in use by a running engine"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("process " + std::to_string(::getpid())), std::string::npos) << r.err;
  }
  // --force reads it anyway, with a warning.
  ToolRun f = Tool("verify --force " + d);
  EXPECT_EQ(f.status, 0) << f.out << f.err;
  EXPECT_NE(f.err.find("warning"), std::string::npos) << f.err;
  // The engine went on meanwhile, and once it is closed the directory is free.
  ASSERT_TRUE(e->enqueue(q, {.payload = "y"}).ok());
  e.reset();
  ToolRun after = Tool("stats --json " + d);
  EXPECT_EQ(after.status, 0) << after.err;
  EXPECT_NE(after.out.find("\"ready\":2"), std::string::npos) << after.out;
}

// ------------------------------------------------------------------ usage

TEST_F(HotqWal, BadUsageExitsTwoWithUsage) {
  for (const std::string& args : {std::string(""), std::string("frobnicate /tmp"), std::string("verify"),
                                  std::string("verify a b"), std::string("jobs /tmp"),
                                  std::string("jobs --state gone /tmp q"), std::string("verify --bogus /tmp"),
                                  std::string("salvage --json /a /b"), std::string("stats --snapshot /tmp")}) {
    ToolRun r = Tool(args);
    EXPECT_EQ(r.status, 2) << "'" << args << "'";
    EXPECT_NE(r.err.find("usage: hotq-wal"), std::string::npos) << args << ": " << r.err;
  }
  ToolRun h = Tool("--help");
  EXPECT_EQ(h.status, 0);
  EXPECT_NE(h.out.find("usage: hotq-wal"), std::string::npos);
}

// ------------------------------------------------------------------ rendering

TEST(HotqWalRender, JsonStringsAreValidForAnyBytes) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string lit = waltool::json_string(all);
  Json j;
  ASSERT_TRUE(JsonParser(lit).parse(&j)) << lit;
  EXPECT_EQ(j.text, all);  // each byte read back as its code point
  EXPECT_EQ(waltool::escape_human("a\"b\\\n\x7f"), "a\\\"b\\\\\\n\\x7f");
  EXPECT_EQ(waltool::format_time(1'700'000'000'123'456'789ull), "2023-11-14T22:13:20.123Z");
  EXPECT_EQ(waltool::format_time(0), "-");
}

}  // namespace
}  // namespace hotq
