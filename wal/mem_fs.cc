// wal/mem_fs.cc — MemFs: see wal/mem_fs.h for the model.
//
// Layout. All state lives in one State, under one Mutex, shared (shared_ptr)
// by the MemFs and every File it opened, so a File never points into freed
// memory. Files are inodes identified by a number; a namespace maps names to
// inode numbers. An inode is freed when neither namespace names it and no
// File of the current generation holds it (collect_garbage).
//
// Generations. power_loss and ~MemFs end a generation: every File remembers
// the generation it was opened in and answers EIO once it has ended, and the
// open-file counts of the ended generation are dropped at once (a dead File's
// destructor then touches nothing).
#include "wal/mem_fs.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "engine/mutex.h"
#include "util/check.h"
#include "wal/split_mix64.h"

namespace hotq::wal {
namespace {

using engine::Mutex;
using engine::MutexLock;

// name -> inode number. Ordered, so power_loss visits files in one fixed
// order and the same seed tears the same way.
using Namespace = std::map<std::string, std::uint64_t, std::less<>>;

struct Inode {
  std::string current;           // what reads see
  std::string durable;           // what survives a power cut
  std::uint32_t open_files = 0;  // Files of the current generation holding it
};

// 0, or why `name` cannot name a file in a flat directory.
int check_name(std::string_view name) {
  if (name.empty() || name == "." || name == "..") return EINVAL;
  if (name.find('/') != std::string_view::npos) return EINVAL;
  if (name.find('\0') != std::string_view::npos) return EINVAL;
  if (name.size() > mem_name_bytes_max) return ENAMETOOLONG;
  return 0;
}

// Copies bytes [offset, offset + n) of `s` to `out`; bytes past the end of `s`
// are zeros (what a hole or an extension reads as).
void copy_range(const std::string& s, std::size_t offset, std::size_t n, char* out) {
  const std::size_t have = offset < s.size() ? s.copy(out, n, offset) : 0;
  std::memset(out + have, 0, n - have);
}

// What PowerLoss::torn leaves of a file (see wal/mem_fs.h).
std::string torn_bytes(const std::string& current, const std::string& durable, SplitMix64& rng) {
  if (current == durable) return current;
  std::size_t bytes = durable.size();
  if (current.size() != durable.size() && rng.coin()) bytes = current.size();
  std::string out(bytes, '\0');
  char cur[mem_sector_bytes];
  char dur[mem_sector_bytes];
  for (std::size_t at = 0; at < bytes; at += mem_sector_bytes) {
    const std::size_t n = std::min(mem_sector_bytes, bytes - at);
    copy_range(current, at, n, cur);
    copy_range(durable, at, n, dur);
    const bool differ = std::memcmp(cur, dur, n) != 0;
    std::memcpy(out.data() + at, differ && rng.coin() ? cur : dur, n);
  }
  return out;
}

}  // namespace

struct MemFs::State {
  Mutex mu;
  std::uint64_t generation HOTQ_GUARDED_BY(mu) = 0;
  std::uint64_t next_inode HOTQ_GUARDED_BY(mu) = 1;
  std::unordered_map<std::uint64_t, Inode> inodes HOTQ_GUARDED_BY(mu);
  Namespace live HOTQ_GUARDED_BY(mu);
  Namespace durable HOTQ_GUARDED_BY(mu);
  std::uint64_t sync_count HOTQ_GUARDED_BY(mu) = 0;
  std::uint64_t bytes_written HOTQ_GUARDED_BY(mu) = 0;

  // Invariant: every number in `live` and `durable`, and every number held by
  // a File of the current generation, is a key of `inodes`.
  Inode& inode(std::uint64_t id) HOTQ_REQUIRES(mu) {
    const auto it = inodes.find(id);
    HOTQ_CHECK(it != inodes.end());
    return it->second;
  }

  // Frees the inodes no namespace names and no current File holds. O(files):
  // called after the operations that can orphan one, which are rare.
  void collect_garbage() HOTQ_REQUIRES(mu) {
    std::unordered_set<std::uint64_t> named;
    for (const auto& [name, id] : live) named.insert(id);
    for (const auto& [name, id] : durable) named.insert(id);
    std::erase_if(inodes, [&named](const auto& entry) {
      return entry.second.open_files == 0 && !named.contains(entry.first);
    });
  }

  // Every File opened so far answers EIO from now on.
  void end_generation() HOTQ_REQUIRES(mu) {
    ++generation;
    for (auto& [id, inode] : inodes) inode.open_files = 0;
  }
};

class MemFs::MemFile final : public File {
 public:
  MemFile(std::shared_ptr<State> state, std::uint64_t id, std::uint64_t generation)
      : state_(std::move(state)), id_(id), generation_(generation) {}

  ~MemFile() override {
    MutexLock lock(state_->mu);
    Inode* inode = live_inode();
    if (inode == nullptr) return;  // its generation's counts are gone already
    HOTQ_CHECK(inode->open_files > 0);
    if (--inode->open_files == 0) state_->collect_garbage();
  }

  MemFile(const MemFile&) = delete;
  MemFile& operator=(const MemFile&) = delete;

  int write_sync(std::uint64_t offset, std::span<const iovec> iov) override {
    MutexLock lock(state_->mu);
    Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    if (const int err = write_locked(*inode, offset, iov); err != 0) return err;
    sync_locked(*inode);
    return 0;
  }

  int write(std::uint64_t offset, std::span<const iovec> iov) override {
    MutexLock lock(state_->mu);
    Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    return write_locked(*inode, offset, iov);
  }

  int sync() override {
    MutexLock lock(state_->mu);
    Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    sync_locked(*inode);
    return 0;
  }

  int read(std::uint64_t offset, void* buf, std::size_t n, std::size_t* got) override {
    HOTQ_CHECK(got != nullptr);
    HOTQ_CHECK(buf != nullptr || n == 0);
    *got = 0;
    MutexLock lock(state_->mu);
    const Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    const std::string& bytes = inode->current;
    if (offset >= bytes.size()) return 0;
    const std::size_t at = static_cast<std::size_t>(offset);
    const std::size_t count = std::min(n, bytes.size() - at);
    if (count > 0) std::memcpy(buf, bytes.data() + at, count);  // buf may be null when n == 0
    *got = count;
    return 0;
  }

  int size(std::uint64_t* bytes) override {
    HOTQ_CHECK(bytes != nullptr);
    MutexLock lock(state_->mu);
    const Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    *bytes = inode->current.size();
    return 0;
  }

  int truncate(std::uint64_t bytes) override {
    MutexLock lock(state_->mu);
    Inode* inode = live_inode();
    if (inode == nullptr) return EIO;
    if (bytes > mem_file_bytes_max) return EFBIG;
    inode->current.resize(static_cast<std::size_t>(bytes));  // extends with zeros
    return 0;
  }

 private:
  // This File's inode, or null when its generation has ended.
  Inode* live_inode() HOTQ_REQUIRES(state_->mu) {
    if (state_->generation != generation_) return nullptr;
    return &state_->inode(id_);
  }

  int write_locked(Inode& inode, std::uint64_t offset, std::span<const iovec> iov)
      HOTQ_REQUIRES(state_->mu) {
    std::uint64_t total = 0;
    for (const iovec& v : iov) {
      if (v.iov_len > mem_file_bytes_max - total) return EFBIG;
      total += v.iov_len;
    }
    if (total == 0) return 0;  // as pwritev: an empty write never extends the file
    if (offset > mem_file_bytes_max - total) return EFBIG;
    std::string& bytes = inode.current;
    const std::size_t end = static_cast<std::size_t>(offset + total);
    if (end > bytes.size()) bytes.resize(end);  // a gap before `offset` reads as zeros
    char* at = bytes.data() + static_cast<std::size_t>(offset);
    for (const iovec& v : iov) {
      if (v.iov_len == 0) continue;
      std::memcpy(at, v.iov_base, v.iov_len);
      at += v.iov_len;
    }
    state_->bytes_written += total;
    return 0;
  }

  void sync_locked(Inode& inode) HOTQ_REQUIRES(state_->mu) {
    inode.durable = inode.current;
    ++state_->sync_count;
  }

  const std::shared_ptr<State> state_;
  const std::uint64_t id_;
  const std::uint64_t generation_;
};

MemFs::MemFs(std::string_view label)
    : path_("mem:" + std::string(label)), state_(std::make_shared<State>()) {}

MemFs::~MemFs() {
  // Files still open keep the state alive; they answer EIO from now on, and
  // the file bytes are freed here rather than with the last of them.
  MutexLock lock(state_->mu);
  state_->end_generation();
  state_->live.clear();
  state_->durable.clear();
  state_->inodes.clear();
}

int MemFs::open(std::string_view name, OpenMode mode, std::unique_ptr<File>* out) {
  HOTQ_CHECK(out != nullptr);
  HOTQ_CHECK(mode == OpenMode::existing || mode == OpenMode::create_new);
  if (const int err = check_name(name); err != 0) return err;
  std::unique_ptr<File> file;
  {
    MutexLock lock(state_->mu);
    const auto it = state_->live.find(name);
    std::uint64_t id = 0;
    if (mode == OpenMode::existing) {
      if (it == state_->live.end()) return ENOENT;
      id = it->second;
    } else {
      if (it != state_->live.end()) return EEXIST;
      id = state_->next_inode++;
      state_->inodes.emplace(id, Inode{});
      state_->live.emplace(std::string(name), id);
    }
    ++state_->inode(id).open_files;
    file = std::make_unique<MemFile>(state_, id, state_->generation);
  }
  // Outside the lock: a File that *out held before is destroyed here, and
  // its destructor takes the lock.
  *out = std::move(file);
  return 0;
}

int MemFs::list(std::vector<std::string>* names) {
  HOTQ_CHECK(names != nullptr);
  names->clear();
  MutexLock lock(state_->mu);
  names->reserve(state_->live.size());
  for (const auto& [name, id] : state_->live) names->push_back(name);
  return 0;
}

int MemFs::rename(std::string_view from, std::string_view to) {
  if (const int err = check_name(from); err != 0) return err;
  if (const int err = check_name(to); err != 0) return err;
  MutexLock lock(state_->mu);
  const auto it = state_->live.find(from);
  if (it == state_->live.end()) return ENOENT;
  if (from == to) return 0;  // rename(2): same file, nothing to do
  const std::uint64_t id = it->second;
  state_->live.erase(it);
  state_->live.insert_or_assign(std::string(to), id);
  state_->collect_garbage();  // the file `to` named may be orphaned now
  return 0;
}

int MemFs::remove(std::string_view name) {
  if (const int err = check_name(name); err != 0) return err;
  MutexLock lock(state_->mu);
  const auto it = state_->live.find(name);
  if (it == state_->live.end()) return ENOENT;
  state_->live.erase(it);
  state_->collect_garbage();
  return 0;
}

int MemFs::sync_dir() {
  MutexLock lock(state_->mu);
  state_->durable = state_->live;
  state_->collect_garbage();  // files only the old durable namespace named
  return 0;
}

void MemFs::power_loss(PowerLoss how, std::uint64_t seed) {
  HOTQ_CHECK(how == PowerLoss::lose_unsynced || how == PowerLoss::torn ||
             how == PowerLoss::keep_all);
  MutexLock lock(state_->mu);
  if (how != PowerLoss::keep_all) {
    SplitMix64 rng(seed);
    // Each inode is named at most once (a rename moves its one name), so each
    // is torn once.
    for (const auto& [name, id] : state_->durable) {
      Inode& inode = state_->inode(id);
      if (how == PowerLoss::torn) {
        inode.current = torn_bytes(inode.current, inode.durable, rng);
      } else {
        inode.current = inode.durable;
      }
      inode.durable = inode.current;  // what the crash left is what is on disk
    }
    state_->live = state_->durable;
  }
  state_->end_generation();
  state_->collect_garbage();
}

bool MemFs::exists(std::string_view name) const {
  MutexLock lock(state_->mu);
  return state_->live.find(name) != state_->live.end();
}

std::string MemFs::contents(std::string_view name) const {
  MutexLock lock(state_->mu);
  const auto it = state_->live.find(name);
  if (it == state_->live.end()) return {};
  return state_->inode(it->second).current;
}

std::uint64_t MemFs::sync_count() const {
  MutexLock lock(state_->mu);
  return state_->sync_count;
}

std::uint64_t MemFs::bytes_written() const {
  MutexLock lock(state_->mu);
  return state_->bytes_written;
}

}  // namespace hotq::wal
