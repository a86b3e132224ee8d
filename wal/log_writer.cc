// wal/log_writer.cc — see log_writer.h and docs/wal-format.md.
#include "wal/log_writer.h"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <utility>

#include "util/check.h"

namespace hotq::wal {

using engine::MutexLock;

namespace {

constexpr std::uint64_t fill_step_bytes = 1ull << 20;

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string errno_text(int err) { return std::string(std::strerror(err)); }

bool parse_free_name(std::string_view name, std::uint64_t* serial) {
  if (!name.starts_with("free-") || !name.ends_with(".log")) return false;
  std::string_view digits = name.substr(5, name.size() - 9);
  if (digits.empty() || digits.size() > 19) return false;
  std::uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  *serial = v;
  return true;
}

}  // namespace

Log::Log(Fs& fs, const LogOptions& options, const LogTail& tail)
    : fs_(fs), options_(options), next_lsn_(tail.next_lsn), zeros_(fill_step_bytes, '\0') {}

int Log::open(Fs& fs, const LogOptions& options, const LogTail& tail, std::unique_ptr<Log>* out,
              std::string* error) {
  if (options.segment_bytes < segment_bytes_min || options.segment_bytes > segment_bytes_max ||
      options.segment_bytes % segment_align_bytes != 0 || tail.next_lsn == 0) {
    *error = "wal: segment_bytes must be a multiple of 4 KiB within [64 KiB, 1 GiB]";
    return EINVAL;
  }
  std::unique_ptr<Log> log(new Log(fs, options, tail));
  log->durable_lsn_.store(tail.next_lsn - 1, std::memory_order_relaxed);  // before the thread
  {
    MutexLock lock(log->seg_mu_);
    for (const std::string& name : tail.segments) {
      std::uint64_t first = 0;
      if (!parse_segment_name(name, &first)) {
        *error = "wal: not a segment name: " + name;
        return EINVAL;
      }
      log->segments_.push_back(name);
      log->segment_first_lsn_.push_back(first);
    }
    for (const std::string& name : tail.free_segments) {
      std::uint64_t serial = 0;
      if (parse_free_name(name, &serial)) {
        log->free_serial_ = std::max(log->free_serial_, serial + 1);
      }
      log->free_.push_back(name);
    }
  }
  if (!tail.segments.empty() && tail.write_offset != 0) {
    log->current_name_ = tail.segments.back();
    const int rc = fs.open(log->current_name_, OpenMode::existing, &log->current_);
    if (rc != 0) {
      *error = "wal: cannot open " + fs.path() + "/" + log->current_name_ + ": " + errno_text(rc);
      return rc;
    }
    log->offset_ = tail.write_offset;
  }
  // One spare before the first group, so no append ever waits for a fill
  // unless the log outruns the background filling.
  while (log->fill_wanted()) {
    const int rc = log->fill_step();
    if (rc != 0) {
      *error = "wal: cannot prepare a segment in " + fs.path() + ": " + errno_text(rc);
      return rc;
    }
    MutexLock lock(log->seg_mu_);
    if (!log->free_.empty()) break;
  }
  log->writer_ = std::thread([l = log.get()] { l->run(); });
  *out = std::move(log);
  return 0;
}

Log::~Log() { close(); }

void Log::close() {
  if (stopped_.load(std::memory_order_acquire)) return;  // acquire: pairs with the store below
  {
    MutexLock lock(mu_);
    closing_ = true;
  }
  appended_.notify_all();
  drained_.notify_all();
  if (writer_.joinable()) writer_.join();
  {
    MutexLock lock(mu_);
    stopped_.store(true, std::memory_order_release);  // release: the writer's work is done
  }
  durable_cv_.notify_all();
}

std::uint64_t Log::group_bytes_limit() const {
  return std::min<std::uint64_t>(group_bytes_max,
                                 options_.segment_bytes - segment_header_bytes - sentinel_bytes);
}

std::uint64_t Log::last_lsn() const {
  MutexLock lock(mu_);
  return next_lsn_ - 1;
}

void Log::set_on_durable(std::function<void(std::uint64_t, bool)> fn) { on_durable_ = std::move(fn); }

std::string Log::failure() const {
  MutexLock lock(mu_);
  return failure_;
}

LogStats Log::stats() const {
  // relaxed: statistics, each counter on its own.
  return {stat_groups_.load(std::memory_order_relaxed),
          stat_records_.load(std::memory_order_relaxed),
          stat_bytes_.load(std::memory_order_relaxed),
          stat_started_.load(std::memory_order_relaxed),
          stat_filled_.load(std::memory_order_relaxed),
          stat_roll_waits_.load(std::memory_order_relaxed)};
}

std::vector<std::string> Log::segments() const {
  MutexLock lock(seg_mu_);
  return segments_;
}

// ------------------------------------------------------------------ append

AppendResult Log::append(std::span<const Record> records, std::uint64_t* last_lsn) {
  std::uint64_t bytes = 0;
  for (const Record& r : records) {
    const std::uint64_t body = r.head.size() + r.tail.size();
    if (body > record_body_bytes_max) return AppendResult::too_large;
    bytes += record_span_bytes(body);
  }
  if (group_header_bytes + bytes > group_bytes_limit()) return AppendResult::too_large;
  bool wake_writer = false;
  {
    MutexLock lock(mu_);
    for (;;) {
      if (failed()) return AppendResult::failed;
      if (closing_) return AppendResult::closed;
      const bool empty = pending_count_ == 0;
      const std::uint64_t size = empty ? group_header_bytes : pending_.size();
      if (empty || (size + bytes <= group_bytes_limit() && size < options_.pending_bytes_max)) break;
      drained_.wait(mu_);
    }
    if (records.empty()) {
      *last_lsn = next_lsn_ - 1;
      return AppendResult::ok;
    }
    if (pending_count_ == 0) {
      pending_.assign(group_header_bytes, '\0');
      pending_first_lsn_ = next_lsn_;
      wake_writer = options_.interval_ns == 0;
    }
    std::size_t at = pending_.size();
    pending_.resize(at + bytes);
    for (const Record& r : records) {
      encode_record(r.type, next_lsn_++, r.head, r.tail, pending_.data() + at);
      at += record_span_bytes(r.head.size() + r.tail.size());
    }
    pending_count_ += static_cast<std::uint32_t>(records.size());
    *last_lsn = next_lsn_ - 1;
  }
  if (wake_writer) appended_.notify_one();
  return AppendResult::ok;
}

bool Log::wait_durable(std::uint64_t lsn) {
  if (durable_lsn() >= lsn) return true;
  MutexLock lock(mu_);
  while (durable_lsn() < lsn && !failed()) {
    if (stopped_.load(std::memory_order_relaxed)) break;  // relaxed: under mu_ with the store
    durable_cv_.wait(mu_);
  }
  return durable_lsn() >= lsn;
}

// ------------------------------------------------------------------ writer

void Log::run() {
  std::string group;
  std::uint64_t next_write_ns = steady_ns() + options_.interval_ns;
  for (;;) {
    bool have = false;
    std::uint64_t first = 0;
    std::uint32_t count = 0;
    {
      MutexLock lock(mu_);
      for (;;) {
        if (failed()) return;
        if (closing_ && pending_count_ == 0) return;
        const std::uint64_t now = options_.interval_ns == 0 ? 0 : steady_ns();
        const bool due = options_.interval_ns == 0 || closing_ || now >= next_write_ns;
        if (pending_count_ != 0 && due) {
          group.clear();
          std::swap(pending_, group);
          first = pending_first_lsn_;
          count = pending_count_;
          pending_count_ = 0;
          have = true;
          break;
        }
        if (fill_errno_ == 0 && fill_wanted()) break;
        if (options_.interval_ns == 0) {
          appended_.wait(mu_);
        } else {
          appended_.wait_for_ns(mu_, next_write_ns > now ? next_write_ns - now : 0);
          if (steady_ns() >= next_write_ns && pending_count_ == 0) {
            next_write_ns = steady_ns() + options_.interval_ns;
          }
        }
      }
    }
    if (have) {
      drained_.notify_all();
      if (!write_group(group, first, count)) return;
      next_write_ns = steady_ns() + options_.interval_ns;
      continue;
    }
    const int rc = fill_step();
    if (rc != 0) fill_errno_ = rc;  // retried only when a roll needs a spare
  }
}

bool Log::write_group(std::string& group, std::uint64_t first_lsn, std::uint32_t count) {
  GroupHeader gh;
  gh.group_bytes = static_cast<std::uint32_t>(group.size());
  gh.first_lsn = first_lsn;
  gh.record_count = count;
  encode_group_header(gh, group.data());
  if (current_ == nullptr ||
      offset_ + group.size() + sentinel_bytes > options_.segment_bytes) {
    if (!roll(first_lsn)) return false;
  }
  char header[segment_header_bytes];
  static constexpr char sentinel[sentinel_bytes] = {};
  iovec iov[3];
  int n = 0;
  std::uint64_t at = offset_;
  if (header_pending_) {
    SegmentHeader sh;
    sh.first_lsn = first_lsn;
    sh.segment_bytes = options_.segment_bytes;
    sh.wall_minus_clock_ns = options_.wall_minus_clock_ns;
    encode_segment_header(sh, header);
    iov[n++] = {header, segment_header_bytes};
    at = 0;
    HOTQ_DCHECK(offset_ == segment_header_bytes);
  }
  iov[n++] = {group.data(), group.size()};
  iov[n++] = {const_cast<char*>(sentinel), sentinel_bytes};
  const int rc = current_->write_sync(at, {iov, static_cast<std::size_t>(n)});
  if (rc != 0) {
    fail("wal: write+fdatasync of " + std::to_string(group.size()) + " bytes (LSN " +
         std::to_string(first_lsn) + ".." + std::to_string(first_lsn + count - 1) + ") at " +
         fs_.path() + "/" + current_name_ + " offset " + std::to_string(at) + " failed: " +
         errno_text(rc) + "; the log is failed and nothing after LSN " +
         std::to_string(durable_lsn()) + " is durable");
    return false;
  }
  if (header_pending_) {
    // The rename that made this segment current must be durable before its
    // first group is reported durable.
    const int drc = fs_.sync_dir();
    if (drc != 0) {
      fail("wal: fsync of directory " + fs_.path() + " after starting " + current_name_ +
           " failed: " + errno_text(drc));
      return false;
    }
    header_pending_ = false;
  }
  offset_ += group.size();
  // relaxed: statistics.
  stat_groups_.fetch_add(1, std::memory_order_relaxed);
  stat_records_.fetch_add(count, std::memory_order_relaxed);
  stat_bytes_.fetch_add(group.size(), std::memory_order_relaxed);
  const std::uint64_t durable = first_lsn + count - 1;
  {
    MutexLock lock(mu_);  // waiters test durable_lsn_ under mu_: no lost wake-up
    // release: whoever reads this LSN as durable sees everything before it.
    durable_lsn_.store(durable, std::memory_order_release);
  }
  durable_cv_.notify_all();
  if (on_durable_) on_durable_(durable, false);
  return true;
}

bool Log::roll(std::uint64_t first_lsn) {
  std::string spare;
  for (int tries = 0; spare.empty(); ++tries) {
    {
      MutexLock lock(seg_mu_);
      if (!free_.empty()) {
        spare = free_.front();
        free_.erase(free_.begin());
        fill_errno_ = 0;  // background filling may try again
        break;
      }
    }
    if (tries == 0) stat_roll_waits_.fetch_add(1, std::memory_order_relaxed);  // relaxed: stats
    const int rc = fill_step();
    if (rc != 0) {
      fail("wal: no segment to continue the log in " + fs_.path() + ": " + errno_text(rc));
      return false;
    }
  }
  const std::string name = segment_name(first_lsn);
  int rc = fs_.rename(spare, name);
  std::unique_ptr<File> file;
  if (rc == 0) rc = fs_.open(name, OpenMode::existing, &file);
  if (rc != 0) {
    fail("wal: cannot start segment " + fs_.path() + "/" + name + " from " + spare + ": " +
         errno_text(rc));
    return false;
  }
  current_ = std::move(file);
  current_name_ = name;
  offset_ = segment_header_bytes;
  header_pending_ = true;
  {
    MutexLock lock(seg_mu_);
    segments_.push_back(name);
    segment_first_lsn_.push_back(first_lsn);
  }
  stat_started_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  return true;
}

bool Log::fill_wanted() {
  if (filling_ != nullptr) return true;
  MutexLock lock(seg_mu_);
  return free_.size() < options_.spare_segments;
}

int Log::fill_step() {
  if (filling_ == nullptr) {
    std::uint64_t serial = 0;
    {
      MutexLock lock(seg_mu_);
      serial = free_serial_++;
    }
    filling_name_ = "free-" + std::to_string(serial) + ".tmp";
    int rc = fs_.open(filling_name_, OpenMode::create_new, &filling_);
    if (rc == EEXIST) {  // left by a crash: start it again
      fs_.remove(filling_name_);
      rc = fs_.open(filling_name_, OpenMode::create_new, &filling_);
    }
    if (rc != 0) {
      filling_.reset();
      return rc;
    }
    filled_bytes_ = 0;
  }
  const std::uint64_t n = std::min(fill_step_bytes, options_.segment_bytes - filled_bytes_);
  iovec iov{zeros_.data(), n};
  int rc = filling_->write(filled_bytes_, {&iov, 1});
  if (rc == 0) {
    filled_bytes_ += n;
    if (filled_bytes_ < options_.segment_bytes) return 0;
    rc = filling_->sync();
  }
  if (rc == 0) {
    const std::string ready = filling_name_.substr(0, filling_name_.size() - 4) + ".log";
    rc = fs_.rename(filling_name_, ready);
    if (rc == 0) rc = fs_.sync_dir();
    if (rc == 0) {
      filling_.reset();
      stat_filled_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
      MutexLock lock(seg_mu_);
      free_.push_back(ready);
      return 0;
    }
  }
  // ENOSPC and friends: give the space back and report; the log goes on in
  // its current segment.
  filling_.reset();
  fs_.remove(filling_name_);
  return rc;
}

void Log::fail(std::string message) {
  {
    MutexLock lock(mu_);
    if (failed()) return;
    failure_ = std::move(message);
    failed_.store(true, std::memory_order_release);  // release: failure_ is set
  }
  appended_.notify_all();
  drained_.notify_all();
  durable_cv_.notify_all();
  if (on_durable_) on_durable_(durable_lsn(), true);
}

// ------------------------------------------------------------------ recycle

int Log::recycle(std::uint64_t covered_lsn) {
  std::vector<std::pair<std::string, std::string>> renames;
  {
    MutexLock lock(seg_mu_);
    // Segment i holds LSNs [first_i, first_{i+1}); the newest is never freed.
    std::size_t k = 0;
    while (k + 1 < segments_.size() && segment_first_lsn_[k + 1] - 1 <= covered_lsn) ++k;
    for (std::size_t i = 0; i < k; ++i) {
      renames.emplace_back(segments_[i], "free-" + std::to_string(free_serial_++) + ".log");
    }
    segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(k));
    segment_first_lsn_.erase(segment_first_lsn_.begin(),
                             segment_first_lsn_.begin() + static_cast<std::ptrdiff_t>(k));
  }
  int first_error = 0;
  std::vector<std::string> freed;
  for (auto& [from, to] : renames) {
    bool keep = false;
    {
      MutexLock lock(seg_mu_);
      keep = free_.size() + freed.size() < options_.spare_segments + 1;
    }
    const int rc = keep ? fs_.rename(from, to) : fs_.remove(from);
    if (rc != 0 && first_error == 0) first_error = rc;
    if (rc == 0 && keep) freed.push_back(to);
  }
  if (!renames.empty()) {
    const int rc = fs_.sync_dir();
    if (rc != 0 && first_error == 0) first_error = rc;
  }
  MutexLock lock(seg_mu_);
  for (std::string& name : freed) free_.push_back(std::move(name));
  return first_error;
}

}  // namespace hotq::wal
