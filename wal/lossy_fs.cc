// wal/lossy_fs.cc — LossyFs: see wal/lossy_fs.h for the model.
//
// Layout. All state lives in one State shared (shared_ptr) by the LossyFs and
// every File it opened, so a File never points into freed memory. A Node is
// one file (an inode): the one inner File every LossyFile on it uses, and the
// file's undo list. `names` maps the live names opened so far to their Nodes
// (a name never opened through the layer has no Node: nothing of it can be
// unsynced); the journal holds the Nodes of removed and replaced files until
// sync_dir, so a cut can still roll their data back.
//
// Locks, always taken in this order:
//   gate_mu  the gate: `down`, the generation and the count of calls in
//            flight. Every call passes the gate (Admission) for its whole
//            length; power_cut closes it, waits for the count to reach zero,
//            and keeps holding gate_mu while it rolls back, so a call that
//            comes during the cut waits and is then refused.
//   ns_mu    the namespace: `names`, the journal, every Node's `name` and
//            `open_files`. Held across opens and directory operations (the
//            wrapped Fs's system calls included), so a rename that moves a
//            replaced file aside first is one step for every other caller.
//   Node::mu one file: its inner File and undo list. Held across the I/O, so
//            that saving the old bytes and writing the new ones are one step.
// A call releases its locks before it leaves the gate. A LossyFile's
// destructor does not pass the gate: it takes ns_mu (then Node::mu) only.
//
// Rolling a file back (roll_back_locked). The undo list, newest last, is a
// chain of states S_0 (durable) .. S_k (current); each entry takes S_{i+1}
// back to S_i: zero every byte at or past the old length, then put the saved
// bytes back. Only the sectors some entry touched can differ between S_0 and
// S_k, and only those below the durable length have durable bytes other than
// zeros; LossyFs rebuilds those (reading the current ones, then undoing the
// list over them in memory) — at most about the saved bytes, so the budget
// bounds the memory too — and then writes, per touched sector, the durable
// version or leaves the current one.
#include "wal/lossy_fs.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <utility>

#include "engine/mutex.h"
#include "util/check.h"
#include "wal/split_mix64.h"

namespace hotq::wal {
namespace {

using engine::CondVar;
using engine::Mutex;
using engine::MutexLock;

constexpr std::uint64_t sector_bytes = lossy_sector_bytes;
constexpr char zero_sector[lossy_sector_bytes] = {};
// iovecs per write while rolling back (the wrapped layer splits them further
// as its system calls require; this only bounds our vector).
constexpr std::size_t rollback_iov_max = 1024;
// Admission for a call on the Fs itself, not on a File of one generation.
constexpr std::uint64_t any_generation = ~std::uint64_t{0};

static_assert(lossy_file_bytes_max % sector_bytes == 0);

bool reserved(std::string_view name) { return name.starts_with(lossy_hidden_prefix); }

void keep_first(int* first, int err) {
  if (*first == 0) *first = err;
}

// The undo bytes held by all the files of one LossyFs, against its limit.
class Budget {
 public:
  explicit Budget(std::uint64_t max_bytes) : max_bytes_(max_bytes) {}

  // False (nothing taken) when `bytes` more would pass the limit.
  bool take(std::uint64_t bytes) {
    // relaxed: a counter against a limit; no other data is published by it.
    std::uint64_t held = held_.load(std::memory_order_relaxed);
    do {
      if (bytes > max_bytes_ - held) return false;
    } while (!held_.compare_exchange_weak(held, held + bytes, std::memory_order_relaxed));
    return true;
  }
  void give(std::uint64_t bytes) {
    // relaxed: as take().
    const std::uint64_t before = held_.fetch_sub(bytes, std::memory_order_relaxed);
    HOTQ_CHECK(before >= bytes);
  }
  std::uint64_t held() const { return held_.load(std::memory_order_relaxed); }  // relaxed: a statistic

 private:
  const std::uint64_t max_bytes_;
  std::atomic<std::uint64_t> held_{0};
};

// One change to a file since its last sync, and what takes it back.
struct Undo {
  std::uint64_t old_size = 0;  // the file's length before the change
  std::uint64_t offset = 0;    // where old_bytes were
  std::string old_bytes;       // what the change overwrote or cut off (all below old_size)
  std::uint64_t lo = 0;        // the change touched at most [lo, hi)
  std::uint64_t hi = 0;
};

// One file (an inode) opened through the layer.
struct Node {
  Node(std::uint64_t id_in, std::string name_in, std::unique_ptr<File> inner_in)
      : id(id_in), name(std::move(name_in)), inner(std::move(inner_in)) {}

  const std::uint64_t id;  // creation order: power_cut visits files in it
  // Guarded by State::ns_mu: the live name ("" once removed or replaced), and
  // the LossyFiles of it not yet destroyed.
  std::string name;
  std::uint32_t open_files = 0;

  Mutex mu;
  std::unique_ptr<File> inner HOTQ_GUARDED_BY(mu);  // null once its generation ended
  std::vector<Undo> undo HOTQ_GUARDED_BY(mu);       // since the last sync, oldest first
  std::uint64_t undo_bytes HOTQ_GUARDED_BY(mu) = 0;  // of old_bytes, in the Budget
  // Its removal is durable (sync_dir): no cut can bring it back, so nothing
  // is saved for it any more.
  bool unlinked HOTQ_GUARDED_BY(mu) = false;
};

// One directory operation since the last sync_dir.
struct DirOp {
  enum class Kind : std::uint8_t { created, renamed, removed };
  Kind kind = Kind::created;
  std::string name;    // created, removed: the name; renamed: `to`
  std::string from;    // renamed: the old name
  std::string hidden;  // renamed: where the file it replaced went ("": none);
                       // removed: where the file went
  std::shared_ptr<Node> node;  // the replaced or removed file's Node, if it has one
};

// Durable bytes of the sectors [begin, begin + bytes.size()) of a file.
struct Stretch {
  std::uint64_t begin = 0;
  std::string bytes;
};

// Takes one stretch from S_{i+1} back to S_i (see the top of the file).
void undo_into(const Undo& u, Stretch& st) {
  const std::uint64_t end = st.begin + st.bytes.size();
  if (u.old_size < end) {  // bytes at or past the old length did not exist: zeros
    const std::uint64_t from = std::max(u.old_size, st.begin);
    std::memset(st.bytes.data() + (from - st.begin), 0, end - from);
  }
  const std::uint64_t lo = std::max(u.offset, st.begin);
  const std::uint64_t hi = std::min(u.offset + u.old_bytes.size(), end);
  if (lo < hi) {
    std::memcpy(st.bytes.data() + (lo - st.begin), u.old_bytes.data() + (lo - u.offset), hi - lo);
  }
}

// Reads exactly [offset, offset + out->size()) of `f`, zeros past its end.
int read_padded(File& f, std::uint64_t offset, std::string* out) {
  std::size_t got = 0;
  if (const int err = f.read(offset, out->data(), out->size(), &got); err != 0) return err;
  std::memset(out->data() + got, 0, out->size() - got);
  return 0;
}

// Writes runs of sectors, joining neighbours into one call.
class RunWriter {
 public:
  explicit RunWriter(File& f) : f_(f) {}

  int add(std::uint64_t offset, const char* bytes, std::size_t n) {
    if (!iov_.empty() && (offset != next_ || iov_.size() == rollback_iov_max)) {
      if (const int err = flush(); err != 0) return err;
    }
    if (iov_.empty()) start_ = offset;
    iov_.push_back(iovec{const_cast<char*>(bytes), n});  // write() only reads it
    next_ = offset + n;
    return 0;
  }

  int flush() {
    if (iov_.empty()) return 0;
    const int err = f_.write(start_, iov_);
    iov_.clear();
    return err;
  }

 private:
  File& f_;
  std::vector<iovec> iov_;
  std::uint64_t start_ = 0;
  std::uint64_t next_ = 0;
};

// The sectors the undo list touched, as merged runs [first, last).
std::vector<std::pair<std::uint64_t, std::uint64_t>> touched_sectors(
    const std::vector<Undo>& undo) {
  std::vector<std::pair<std::uint64_t, std::uint64_t>> runs;
  for (const Undo& u : undo) {
    if (u.lo < u.hi) runs.emplace_back(u.lo / sector_bytes, (u.hi + sector_bytes - 1) / sector_bytes);
  }
  std::sort(runs.begin(), runs.end());
  std::vector<std::pair<std::uint64_t, std::uint64_t>> merged;
  for (const auto& run : runs) {
    if (!merged.empty() && run.first <= merged.back().second) {
      merged.back().second = std::max(merged.back().second, run.second);
    } else {
      merged.push_back(run);
    }
  }
  return merged;
}

// Gives the file of `node` what a cut leaves of it (see PowerCut), then
// fsyncs it. Its undo list is left for the caller to drop.
int roll_back_locked(Node& node, PowerCut how, SplitMix64& rng) HOTQ_REQUIRES(node.mu) {
  HOTQ_CHECK(!node.undo.empty() && node.inner != nullptr);
  File& f = *node.inner;
  const std::uint64_t durable_size = node.undo.front().old_size;
  std::uint64_t current_size = 0;
  if (const int err = f.size(&current_size); err != 0) return err;
  const auto runs = touched_sectors(node.undo);

  // The durable bytes of the touched sectors below the durable length: the
  // current ones, taken back through the list, newest first.
  const std::uint64_t durable_sectors = (durable_size + sector_bytes - 1) / sector_bytes;
  std::vector<Stretch> stretches(runs.size());
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const auto [first, last] = runs[i];
    stretches[i].begin = first * sector_bytes;
    if (first >= durable_sectors) continue;
    stretches[i].bytes.resize((std::min(last, durable_sectors) - first) * sector_bytes);
    if (const int err = read_padded(f, stretches[i].begin, &stretches[i].bytes); err != 0) {
      return err;
    }
  }
  for (auto u = node.undo.rbegin(); u != node.undo.rend(); ++u) {
    for (Stretch& st : stretches) undo_into(*u, st);
  }

  std::uint64_t length = durable_size;
  if (how == PowerCut::torn && current_size != durable_size && rng.coin()) length = current_size;
  if (const int err = f.truncate(length); err != 0) return err;
  RunWriter out(f);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Stretch& st = stretches[i];
    for (std::uint64_t s = runs[i].first; s < runs[i].second; ++s) {
      const std::uint64_t at = s * sector_bytes;
      if (at >= length) break;
      if (how == PowerCut::torn && rng.coin()) continue;  // this sector's new bytes made it
      const std::uint64_t within = at - st.begin;
      const char* old = within < st.bytes.size() ? st.bytes.data() + within : zero_sector;
      const std::size_t n = static_cast<std::size_t>(std::min(sector_bytes, length - at));
      if (const int err = out.add(at, old, n); err != 0) return err;
    }
  }
  if (const int err = out.flush(); err != 0) return err;
  return f.sync();
}

// Takes one directory operation back (the newer ones are undone already).
int undo_dir_op(Fs& fs, const DirOp& op) {
  switch (op.kind) {
    case DirOp::Kind::created:
      return fs.remove(op.name);
    case DirOp::Kind::renamed: {
      const int err = fs.rename(op.name, op.from);
      if (err != 0 || op.hidden.empty()) return err;
      return fs.rename(op.hidden, op.name);
    }
    case DirOp::Kind::removed:
      return fs.rename(op.hidden, op.name);
  }
  HOTQ_CHECK(false && "unknown DirOp kind");
  return EIO;
}

}  // namespace

struct LossyFs::State {
  State(Fs& inner_fs, const LossyFsOptions& o)
      : inner(inner_fs), options(o), budget(o.undo_bytes_max) {}

  Fs& inner;  // used only by admitted calls (the LossyFs is alive then)
  const LossyFsOptions options;
  Budget budget;

  Mutex gate_mu;
  CondVar drained;  // in_flight reached 0 while down
  bool down HOTQ_GUARDED_BY(gate_mu) = false;
  // Ended by power_cut and ~LossyFs: a File answers EIO once its has.
  std::uint64_t generation HOTQ_GUARDED_BY(gate_mu) = 0;
  std::uint64_t in_flight HOTQ_GUARDED_BY(gate_mu) = 0;

  Mutex ns_mu;
  std::map<std::string, std::shared_ptr<Node>, std::less<>> names HOTQ_GUARDED_BY(ns_mu);
  std::vector<DirOp> journal HOTQ_GUARDED_BY(ns_mu);  // oldest first
  std::uint64_t next_node_id HOTQ_GUARDED_BY(ns_mu) = 1;
  std::uint64_t next_hidden HOTQ_GUARDED_BY(ns_mu) = 0;

  class Admission;

  std::string hidden_name() HOTQ_REQUIRES(ns_mu) {
    return std::string(lossy_hidden_prefix) + std::to_string(next_hidden++);
  }

  // The Node `name` maps to, unmapped (null when it has none).
  std::shared_ptr<Node> take_name(std::string_view name) HOTQ_REQUIRES(ns_mu) {
    const auto it = names.find(name);
    if (it == names.end()) return nullptr;
    std::shared_ptr<Node> node = std::move(it->second);
    names.erase(it);
    node->name.clear();
    return node;
  }

  // Closes the gate for good (this generation) and waits for the calls in
  // flight to leave. Returns false if it was closed already.
  bool close_gate() HOTQ_REQUIRES(gate_mu) {
    if (down) return false;
    down = true;
    ++generation;
    while (in_flight > 0) drained.wait(gate_mu);
    return true;
  }
};

// One call let through the gate, or refused (EIO): the layer is down, or the
// File's generation has ended. Held for the whole call.
class LossyFs::State::Admission {
 public:
  Admission(State& s, std::uint64_t file_generation) HOTQ_EXCLUDES(s.gate_mu) : s_(s) {
    MutexLock lock(s_.gate_mu);
    admitted_ = !s_.down && (file_generation == any_generation || file_generation == s_.generation);
    generation_ = s_.generation;
    if (admitted_) ++s_.in_flight;
  }
  Admission(const Admission&) = delete;
  Admission& operator=(const Admission&) = delete;

  ~Admission() {
    if (!admitted_) return;
    MutexLock lock(s_.gate_mu);
    // Notified under the lock: the waiter may destroy the State as soon as
    // it sees zero.
    if (--s_.in_flight == 0 && s_.down) s_.drained.notify_all();
  }

  explicit operator bool() const { return admitted_; }
  std::uint64_t generation() const { return generation_; }

 private:
  State& s_;
  bool admitted_ = false;
  std::uint64_t generation_ = 0;
};

class LossyFs::LossyFile final : public File {
 public:
  LossyFile(std::shared_ptr<State> state, std::shared_ptr<Node> node, std::uint64_t generation)
      : state_(std::move(state)), node_(std::move(node)), generation_(generation) {}

  // Forgets the Node when this was its last File and nothing of it is
  // unsynced: the next open opens the inner file again.
  ~LossyFile() override {
    MutexLock lock(state_->ns_mu);
    HOTQ_CHECK(node_->open_files > 0);
    if (--node_->open_files > 0 || node_->name.empty()) return;
    {
      MutexLock file_lock(node_->mu);
      if (!node_->undo.empty()) return;  // a cut still needs it
    }
    const auto it = state_->names.find(node_->name);
    if (it != state_->names.end() && it->second == node_) {
      node_->name.clear();
      state_->names.erase(it);
    }
  }

  LossyFile(const LossyFile&) = delete;
  LossyFile& operator=(const LossyFile&) = delete;

  int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
    return write_impl(offset, iov, /*then_sync=*/true);
  }

  int write(std::uint64_t offset, std::span<const iovec> iov) override {
    return write_impl(offset, iov, /*then_sync=*/false);
  }

  int sync() override {
    const State::Admission pass(*state_, generation_);
    if (!pass) return EIO;
    Node& n = *node_;
    MutexLock lock(n.mu);
    const int err = n.inner->sync();
    if (err == 0) make_durable_locked(n);
    return err;
  }

  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    HOTQ_CHECK(got != nullptr);
    *got = 0;
    const State::Admission pass(*state_, generation_);
    if (!pass) return EIO;
    MutexLock lock(node_->mu);
    return node_->inner->read(offset, buf, n, got);
  }

  int size(std::uint64_t* bytes) override {
    HOTQ_CHECK(bytes != nullptr);
    const State::Admission pass(*state_, generation_);
    if (!pass) return EIO;
    MutexLock lock(node_->mu);
    return node_->inner->size(bytes);
  }

  int truncate(std::uint64_t bytes) override {
    const State::Admission pass(*state_, generation_);
    if (!pass) return EIO;
    if (bytes > lossy_file_bytes_max) return EFBIG;
    Node& n = *node_;
    MutexLock lock(n.mu);
    if (!n.unlinked) {
      std::uint64_t size = 0;
      if (const int err = n.inner->size(&size); err != 0) return err;
      if (bytes != size) {
        // A shrink cuts [bytes, size) off; a growth adds zeros [size, bytes).
        const std::uint64_t lo = std::min(bytes, size);
        const std::uint64_t hi = std::max(bytes, size);
        const std::uint64_t saved = bytes < size ? size - bytes : 0;
        if (const int err = save_locked(n, size, bytes, saved, lo, hi); err != 0) return err;
      }
    }
    return n.inner->truncate(bytes);
  }

 private:
  int write_impl(std::uint64_t offset, std::span<const iovec> iov, bool then_sync) {
    const State::Admission pass(*state_, generation_);
    if (!pass) return EIO;
    std::uint64_t total = 0;
    for (const iovec& v : iov) {
      if (v.iov_len > lossy_file_bytes_max - total) return EFBIG;
      total += v.iov_len;
    }
    if (total > 0 && offset > lossy_file_bytes_max - total) return EFBIG;
    Node& n = *node_;
    MutexLock lock(n.mu);
    // An empty write changes nothing (it never extends the file, as pwritev).
    if (total > 0 && !n.unlinked) {
      std::uint64_t size = 0;
      if (const int err = n.inner->size(&size); err != 0) return err;
      const std::uint64_t end = offset + total;
      // It overwrites [offset, min(end, size)); past the old end (a gap
      // included) it adds bytes.
      const std::uint64_t saved = offset < size ? std::min(end, size) - offset : 0;
      if (const int err = save_locked(n, size, offset, saved, std::min(offset, size), end);
          err != 0) {
        return err;
      }
    }
    if (!then_sync) return n.inner->write(offset, iov);
    const int err = n.inner->write_sync(offset, iov);
    if (err == 0) make_durable_locked(n);
    return err;
  }

  // Appends an undo entry: `saved` bytes read at `offset`, the length
  // `old_size`, the touched range [lo, hi). ENOBUFS beyond the budget.
  int save_locked(Node& n, std::uint64_t old_size, std::uint64_t offset, std::uint64_t saved,
                  std::uint64_t lo, std::uint64_t hi) HOTQ_REQUIRES(n.mu) {
    HOTQ_CHECK(saved == 0 || offset + saved <= old_size);
    if (!state_->budget.take(saved)) return ENOBUFS;
    Undo u;
    u.old_size = old_size;
    u.offset = offset;
    u.lo = lo;
    u.hi = hi;
    u.old_bytes.resize(static_cast<std::size_t>(saved));
    std::size_t got = 0;
    int err = saved == 0 ? 0 : n.inner->read(offset, u.old_bytes.data(), u.old_bytes.size(), &got);
    if (err == 0 && got != saved) err = EIO;  // the file changed under us: not through this layer
    if (err != 0) {
      state_->budget.give(saved);
      return err;
    }
    n.undo.push_back(std::move(u));
    n.undo_bytes += saved;
    return 0;
  }

  void make_durable_locked(Node& n) HOTQ_REQUIRES(n.mu) {
    state_->budget.give(n.undo_bytes);
    n.undo_bytes = 0;
    n.undo.clear();
  }

  const std::shared_ptr<State> state_;
  const std::shared_ptr<Node> node_;
  const std::uint64_t generation_;
};

LossyFs::LossyFs(Fs& inner, const LossyFsOptions& options)
    : state_(std::make_shared<State>(inner, options)) {
  HOTQ_CHECK(options.journal_entries_max > 0);
}

LossyFs::~LossyFs() {
  State& s = *state_;
  MutexLock gate(s.gate_mu);
  if (!s.close_gate()) return;  // cut already: nothing hidden is left
  MutexLock lock(s.ns_mu);
  // The process ends, the machine runs on: the removals and replacements
  // happened. Best effort: a leftover is a name every reader ignores.
  for (const DirOp& op : s.journal) {
    if (!op.hidden.empty()) s.inner.remove(op.hidden);
  }
  s.journal.clear();
  for (auto& [name, node] : s.names) node->name.clear();
  s.names.clear();
}

int LossyFs::open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) {
  HOTQ_CHECK(out != nullptr);
  HOTQ_CHECK(mode == OpenMode::existing || mode == OpenMode::create_new);
  if (reserved(name)) return EINVAL;
  State& s = *state_;
  const State::Admission pass(s, any_generation);
  if (!pass) return EIO;
  std::unique_ptr<File> file;
  {
    MutexLock lock(s.ns_mu);
    std::shared_ptr<Node> node;
    if (mode == OpenMode::existing) {
      const auto it = s.names.find(name);
      if (it != s.names.end()) node = it->second;  // the same file: one inner File, one undo list
    } else if (s.journal.size() >= s.options.journal_entries_max) {
      return ENOBUFS;
    }
    if (node == nullptr) {
      std::unique_ptr<File> inner;
      if (const int err = s.inner.open(name, mode, &inner); err != 0) return err;
      node = std::make_shared<Node>(s.next_node_id++, std::string(name), std::move(inner));
      s.names.insert_or_assign(std::string(name), node);
      if (mode == OpenMode::create_new) {
        s.journal.push_back(DirOp{DirOp::Kind::created, std::string(name), {}, {}, nullptr});
      }
    }
    ++node->open_files;
    file = std::make_unique<LossyFile>(state_, std::move(node), pass.generation());
  }
  // Outside ns_mu: a File that *out held before is destroyed here, and its
  // destructor takes ns_mu.
  *out = std::move(file);
  return 0;
}

int LossyFs::list(std::vector<std::string>* names) {
  HOTQ_CHECK(names != nullptr);
  State& s = *state_;
  const State::Admission pass(s, any_generation);
  if (!pass) return EIO;
  std::vector<std::string> all;
  {
    MutexLock lock(s.ns_mu);  // never in the middle of a rename's two steps
    if (const int err = s.inner.list(&all); err != 0) return err;
  }
  std::erase_if(all, [](const std::string& n) { return reserved(n); });
  *names = std::move(all);
  return 0;
}

int LossyFs::rename(std::string_view from, std::string_view to) {
  if (reserved(from) || reserved(to)) return EINVAL;
  State& s = *state_;
  const State::Admission pass(s, any_generation);
  if (!pass) return EIO;
  MutexLock lock(s.ns_mu);
  if (from == to) return s.inner.rename(from, to);  // rename(2): nothing to do (or ENOENT)
  if (s.journal.size() >= s.options.journal_entries_max) return ENOBUFS;
  // The file `to` names, if any, goes aside first, so the undo can bring it back.
  const std::string aside = s.hidden_name();
  int err = s.inner.rename(to, aside);
  if (err != 0 && err != ENOENT) return err;
  const bool replaced = err == 0;
  err = s.inner.rename(from, to);
  if (err != 0) {
    if (!replaced) return err;
    if (s.inner.rename(aside, to) != 0) {
      // Cannot put it back: to the layer, `to` was removed (and so a cut
      // brings it back).
      s.journal.push_back(DirOp{DirOp::Kind::removed, std::string(to), {}, aside, s.take_name(to)});
    }
    return err;
  }
  std::shared_ptr<Node> old_to = s.take_name(to);
  if (std::shared_ptr<Node> moved = s.take_name(from)) {
    moved->name = std::string(to);
    s.names.insert_or_assign(std::string(to), std::move(moved));
  }
  s.journal.push_back(DirOp{DirOp::Kind::renamed, std::string(to), std::string(from),
                            replaced ? aside : std::string(), std::move(old_to)});
  return 0;
}

int LossyFs::remove(std::string_view name) {
  if (reserved(name)) return EINVAL;
  State& s = *state_;
  const State::Admission pass(s, any_generation);
  if (!pass) return EIO;
  MutexLock lock(s.ns_mu);
  if (s.journal.size() >= s.options.journal_entries_max) return ENOBUFS;
  // Moved aside, not removed, until a sync_dir makes the removal durable.
  const std::string hidden = s.hidden_name();
  if (const int err = s.inner.rename(name, hidden); err != 0) return err;
  s.journal.push_back(DirOp{DirOp::Kind::removed, std::string(name), {}, hidden, s.take_name(name)});
  return 0;
}

int LossyFs::sync_dir() {
  State& s = *state_;
  const State::Admission pass(s, any_generation);
  if (!pass) return EIO;
  MutexLock lock(s.ns_mu);
  if (const int err = s.inner.sync_dir(); err != 0) return err;  // nothing durable: keep the journal
  // Durable now: the files moved aside are gone for good. (Their removal is
  // not synced itself; a crash leaves a hidden name every reader ignores.)
  int first = 0;
  for (const DirOp& op : s.journal) {
    if (!op.hidden.empty()) keep_first(&first, s.inner.remove(op.hidden));
    if (op.node != nullptr) {
      Node& n = *op.node;
      MutexLock file_lock(n.mu);
      n.unlinked = true;
      s.budget.give(n.undo_bytes);
      n.undo_bytes = 0;
      n.undo.clear();
    }
  }
  s.journal.clear();
  return first;
}

const std::string& LossyFs::path() const { return state_->inner.path(); }

int LossyFs::power_cut(PowerCut how, std::uint64_t seed) {
  HOTQ_CHECK(how == PowerCut::lose_unsynced || how == PowerCut::torn);
  State& s = *state_;
  MutexLock gate(s.gate_mu);
  if (!s.close_gate()) return 0;
  MutexLock lock(s.ns_mu);
  // Data first, through each file's own descriptor (names do not matter), in
  // creation order so that a seed tears the same way each time. Every file
  // the durable namespace may name is in `names` or in the journal; a file
  // whose removal is durable is not, and needs nothing.
  std::map<std::uint64_t, Node*> nodes;
  for (const auto& [name, node] : s.names) nodes.emplace(node->id, node.get());
  for (const DirOp& op : s.journal) {
    if (op.node != nullptr) nodes.emplace(op.node->id, op.node.get());
  }
  SplitMix64 rng(seed);
  int first = 0;
  for (const auto& [id, node] : nodes) {
    MutexLock file_lock(node->mu);
    if (!node->undo.empty() && !node->unlinked) {
      keep_first(&first, roll_back_locked(*node, how, rng));
    }
    s.budget.give(node->undo_bytes);
    node->undo_bytes = 0;
    node->undo.clear();
    node->inner.reset();  // the machine is off
  }
  // Then the names, newest change first.
  for (auto op = s.journal.rbegin(); op != s.journal.rend(); ++op) {
    keep_first(&first, undo_dir_op(s.inner, *op));
  }
  keep_first(&first, s.inner.sync_dir());
  s.journal.clear();
  for (auto& [name, node] : s.names) node->name.clear();
  s.names.clear();
  return first;
}

void LossyFs::reboot() {
  MutexLock gate(state_->gate_mu);
  state_->down = false;
}

bool LossyFs::is_down() const {
  MutexLock gate(state_->gate_mu);
  return state_->down;
}

std::uint64_t LossyFs::undo_bytes() const { return state_->budget.held(); }

std::size_t LossyFs::journal_entries() const {
  MutexLock lock(state_->ns_mu);
  return state_->journal.size();
}

}  // namespace hotq::wal
