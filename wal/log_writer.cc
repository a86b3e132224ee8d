// wal/log_writer.cc — see log_writer.h and docs/wal-format.md.
#include "wal/log_writer.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "util/check.h"
#include "util/thread_name.h"

namespace hotq::wal {

using engine::MutexLock;

namespace {

// The preparer writes a new segment's zeros in steps of this, each step
// fdatasynced on its own, and checks between steps whether the log is
// closing. The syncs are for the writer: its fdatasync shares the disk with
// the fill, and waits behind at most one step's writeback instead of a whole
// segment's (one sync of 64 MiB at the end held commits up for 16-18 ms;
// docs/performance.md, "Segments prepared off the commit path").
constexpr std::uint64_t fill_step_bytes = 256ull << 10;
// spares_short()'s answer when no number of spares within the limit will do.
constexpr std::uint64_t spares_never = std::numeric_limits<std::uint64_t>::max();

std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::string errno_text(int err) { return std::string(std::strerror(err)); }

// Errors that say "no room on this disk (for you)": a reason to refuse an
// admission, not to fail the log.
bool is_space_errno(int err) { return err == ENOSPC || err == EDQUOT; }

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
    : fs_(fs), options_(options), zeros_(fill_step_bytes, '\0'), next_lsn_(tail.next_lsn) {}

int Log::open(Fs& fs, const LogOptions& options, const LogTail& tail, std::unique_ptr<Log>* out,
              std::string* error) {
  if (options.segment_bytes < segment_bytes_min || options.segment_bytes > segment_bytes_max ||
      options.segment_bytes % segment_align_bytes != 0 || tail.next_lsn == 0) {
    *error = "wal: segment_bytes must be a multiple of 4 KiB within [64 KiB, 1 GiB]";
    return EINVAL;
  }
  if (options.spare_segments_max == 0 || options.spare_segments_max > spare_segments_limit ||
      options.spare_segments > options.spare_segments_max) {
    *error = "wal: spare_segments must be <= spare_segments_max, within [1, " +
             std::to_string(spare_segments_limit) + "]";
    return EINVAL;
  }
  std::unique_ptr<Log> log(new Log(fs, options, tail));
  log->durable_lsn_.store(tail.next_lsn - 1, std::memory_order_relaxed);  // before the threads
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
  bool need_spare = false;
  {
    MutexLock lock(log->mu_);
    for (const std::string& name : tail.free_segments) log->spares_.push_back(name);
    log->plan_in_segment_ = log->current_ != nullptr;
    log->plan_end_ = log->offset_;
    need_spare = options.spare_segments > 0 && log->spares_.empty();
  }
  // One spare before the first append, so that no append waits for the
  // preparer unless the log outruns it.
  if (need_spare) {
    std::string name;
    bool cancelled = false;
    const int rc = log->make_spare(&name, &cancelled);
    if (rc != 0) {
      *error = "wal: cannot prepare a segment in " + fs.path() + ": " + errno_text(rc);
      return rc;
    }
    MutexLock lock(log->mu_);
    log->spares_.push_back(std::move(name));
  }
  log->writer_ = std::thread([l = log.get()] {
    name_this_thread("hotq-wal");
    l->run();
  });
  log->preparer_ = std::thread([l = log.get()] {
    name_this_thread("hotq-wal-prep");
    l->run_preparer();
  });
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
  stop_prep_.store(true, std::memory_order_relaxed);  // relaxed: a hint (see the member)
  notify_all_waiters();
  if (preparer_.joinable()) preparer_.join();
  if (writer_.joinable()) writer_.join();
  {
    MutexLock lock(mu_);
    stopped_.store(true, std::memory_order_release);  // release: both threads' work is done
  }
  durable_cv_.notify_all();
}

void Log::notify_all_waiters() {
  appended_.notify_all();
  drained_.notify_all();
  durable_cv_.notify_all();
  room_cv_.notify_all();
  prep_cv_.notify_all();
}

std::uint64_t Log::fresh_segment_room() const {
  return options_.segment_bytes - segment_header_bytes - sentinel_bytes;
}

std::uint64_t Log::group_bytes_limit() const {
  return std::min<std::uint64_t>(group_bytes_max, fresh_segment_room());
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
  LogStats s;
  s.groups = stat_groups_.load(std::memory_order_relaxed);
  s.records = stat_records_.load(std::memory_order_relaxed);
  s.bytes = stat_bytes_.load(std::memory_order_relaxed);
  s.segments_started = stat_started_.load(std::memory_order_relaxed);
  s.segments_filled = stat_filled_.load(std::memory_order_relaxed);
  s.roll_waits = stat_roll_waits_.load(std::memory_order_relaxed);
  s.reserved_bytes = stat_reserved_.load(std::memory_order_relaxed);
  s.no_space = stat_no_space_.load(std::memory_order_relaxed);
  return s;
}

std::vector<std::string> Log::segments() const {
  MutexLock lock(seg_mu_);
  return segments_;
}

std::size_t Log::segment_count() const {
  MutexLock lock(seg_mu_);
  return segments_.size();
}

// ------------------------------------------------------------------ room

std::uint64_t Log::framed_bytes(std::span<const Record> records) {
  if (records.empty()) return 0;
  std::uint64_t bytes = group_header_bytes;
  for (const Record& r : records) bytes += record_span_bytes(r.head.size() + r.tail.size());
  return bytes;
}

std::uint64_t Log::tail_room(std::uint64_t plan_end) const {
  HOTQ_DCHECK(plan_end + sentinel_bytes <= options_.segment_bytes);
  return options_.segment_bytes - sentinel_bytes - plan_end;
}

std::uint64_t Log::current_tail_room_locked() const {
  return plan_in_segment_ ? tail_room(plan_end_) : 0;
}

std::uint64_t Log::spares_free_locked() const {
  HOTQ_DCHECK(spares_promised_ <= spares_.size());
  return spares_.size() - spares_promised_;
}

// Mirrors the writer: a group goes where the previous one ended if it fits
// there with its sentinel, else it starts the next segment. A pending group
// grows only while it still fits, so its place never changes.
Log::Placement Log::place_locked(std::uint64_t framed) const {
  const std::uint64_t tail = current_tail_room_locked();
  if (pending_count_ != 0) {
    const std::uint64_t records = framed - group_header_bytes;
    const std::uint64_t size = pending_.size();
    if (size + records <= group_bytes_limit() && size < options_.pending_bytes_max &&
        records <= tail) {
      return {Placement::Kind::join, plan_end_ + records};
    }
    return {Placement::Kind::wait_writer, 0};
  }
  if (framed <= tail) return {Placement::Kind::fresh_group, plan_end_ + framed};
  return {Placement::Kind::roll, segment_header_bytes + framed};
}

// The inequality of log_writer.h: `claimed` bytes of claims, each append
// consuming them at most `claim_max`, fit in `tail_room` + `spares` fresh
// segments even if every roll wastes all it can.
bool Log::claims_fit(std::uint64_t claimed, std::uint64_t claim_max, std::uint64_t tail_room,
                     std::uint64_t spares) const {
  if (claimed == 0) return true;
  // A roll wastes less than the append that caused it, which is no larger
  // than one group.
  const std::uint64_t append_max =
      std::max<std::uint64_t>(1, std::min(claim_max, group_bytes_limit()));
  const std::uint64_t waste = std::min(claimed, spares * (append_max - 1));
  return claimed + waste <= tail_room + spares * fresh_segment_room();
}

// How many more free spares it takes for `spares_needed` of them to be used
// by a placement and the claims to fit afterwards; spares_never if more than
// spare_segments_max free spares would be needed.
std::uint64_t Log::spares_short(std::uint64_t claimed, std::uint64_t claim_max,
                                std::uint64_t tail_room, std::uint64_t spares,
                                std::uint64_t spares_needed) const {
  for (std::uint64_t more = 0;; ++more) {
    const std::uint64_t have = spares + more;
    if (more > 0 && have > options_.spare_segments_max) return spares_never;
    if (have >= spares_needed && claims_fit(claimed, claim_max, tail_room, have - spares_needed)) {
      return more;
    }
  }
}

// Called when an admission needs `extra_spares` more free spares. Decides
// from the preparer's answer to our previous request, or makes a new one
// and waits for news (a spare, an error, recycle, unreserve, close, failure).
Log::RoomWait Log::wait_for_room_locked(std::uint64_t extra_spares, RoomAsk* ask) {
  if (ask->seq != 0 && prep_errno_ != 0 && prep_failed_seq_ >= ask->seq) {
    // An attempt that began after our request failed.
    if (is_space_errno(prep_errno_)) {
      stat_no_space_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
      return RoomWait::no_space;
    }
    set_failure_locked("wal: no segment to continue the log in " + fs_.path() + ": " +
                       errno_text(prep_errno_));
    notify_all_waiters();
    return RoomWait::failed;
  }
  if (extra_spares == spares_never) {
    stat_no_space_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
    return RoomWait::no_space;
  }
  if (!ask->counted) {
    ask->counted = true;
    stat_roll_waits_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
  }
  spares_wanted_ = std::max(spares_wanted_, spares_free_locked() + extra_spares);
  ask->seq = ++prep_ask_seq_;
  prep_cv_.notify_one();
  room_cv_.wait(mu_);
  return RoomWait::retry;
}

void Log::drop_claims_locked(std::uint64_t bytes) {
  HOTQ_CHECK(bytes <= claimed_);  // a caller gives back only what it holds
  claimed_ -= bytes;
  if (claimed_ == 0) claim_max_ = 0;
  stat_reserved_.store(claimed_, std::memory_order_relaxed);  // relaxed: a statistic
}

ReserveResult Log::reserve(std::uint64_t bytes) {
  if (bytes == 0) return ReserveResult::ok;
  // More than the room of every spare the log may hold: never.
  const std::uint64_t bytes_max =
      (std::uint64_t{options_.spare_segments_max} + 1) * fresh_segment_room();
  MutexLock lock(mu_);
  RoomAsk ask;
  for (;;) {
    if (failed()) return ReserveResult::failed;
    if (closing_) return ReserveResult::closed;
    const std::uint64_t claim_max = std::max(claim_max_, bytes);
    const std::uint64_t extra =
        bytes > bytes_max ? spares_never
                          : spares_short(claimed_ + bytes, claim_max, current_tail_room_locked(),
                                         spares_free_locked(), 0);
    if (extra == 0) {
      claimed_ += bytes;
      claim_max_ = claim_max;
      stat_reserved_.store(claimed_, std::memory_order_relaxed);  // relaxed: a statistic
      return ReserveResult::ok;
    }
    switch (wait_for_room_locked(extra, &ask)) {
      case RoomWait::retry:
        break;
      case RoomWait::no_space:
        return ReserveResult::no_space;
      case RoomWait::failed:
        return ReserveResult::failed;
    }
  }
}

void Log::unreserve(std::uint64_t bytes) {
  if (bytes == 0) return;
  {
    MutexLock lock(mu_);
    drop_claims_locked(bytes);
  }
  room_cv_.notify_all();  // unclaimed room grew
}

// ------------------------------------------------------------------ append

AppendResult Log::append(std::span<const Record> records, std::uint64_t* last_lsn,
                         std::uint64_t reserved_bytes) {
  std::uint64_t bytes = 0;
  for (const Record& r : records) {
    const std::uint64_t body = r.head.size() + r.tail.size();
    if (body > record_body_bytes_max) return AppendResult::too_large;
    bytes += record_span_bytes(body);
  }
  if (group_header_bytes + bytes > group_bytes_limit()) return AppendResult::too_large;
  const std::uint64_t framed = records.empty() ? 0 : group_header_bytes + bytes;
  const std::uint64_t consumed = std::min(reserved_bytes, framed);
  bool wake_writer = false;
  bool wake_preparer = false;
  {
    MutexLock lock(mu_);
    HOTQ_CHECK(reserved_bytes <= claimed_);  // a caller consumes only claims it holds
    RoomAsk ask;
    Placement place{};
    for (;;) {
      if (failed()) return AppendResult::failed;
      if (closing_) return AppendResult::closed;
      if (records.empty()) {
        *last_lsn = next_lsn_ - 1;
        return AppendResult::ok;
      }
      place = place_locked(framed);
      if (place.kind == Placement::Kind::wait_writer) {
        drained_.wait(mu_);
        continue;
      }
      const std::uint64_t rolls = place.kind == Placement::Kind::roll ? 1 : 0;
      const std::uint64_t extra = spares_short(
          claimed_ - consumed, claim_max_, tail_room(place.plan_end), spares_free_locked(), rolls);
      if (extra == 0) break;
      switch (wait_for_room_locked(extra, &ask)) {
        case RoomWait::retry:
          break;
        case RoomWait::no_space:
          return AppendResult::no_space;
        case RoomWait::failed:
          return AppendResult::failed;
      }
    }
    if (place.kind == Placement::Kind::roll) {
      ++spares_promised_;  // the writer takes it at this group
      prep_retry_ = true;  // a spare is used up: the preparer makes the next, even after an error
      wake_preparer = true;
    }
    plan_in_segment_ = true;
    plan_end_ = place.plan_end;
    if (consumed != 0) drop_claims_locked(consumed);
    if (pending_count_ == 0) {
      pending_.assign(group_header_bytes, '\0');
      pending_first_lsn_ = next_lsn_;
      pending_rolls_ = place.kind == Placement::Kind::roll;
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
  if (wake_preparer) prep_cv_.notify_one();
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
  write_loop();
  // The one failure report, from this thread whoever failed the log.
  if (failed() && on_durable_) on_durable_(durable_lsn(), true);
}

void Log::write_loop() {
  std::string group;
  std::uint64_t next_write_ns = steady_ns() + options_.interval_ns;
  for (;;) {
    std::uint64_t first = 0;
    std::uint32_t count = 0;
    bool rolls = false;
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
          rolls = pending_rolls_;
          pending_count_ = 0;
          pending_rolls_ = false;
          break;
        }
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
    drained_.notify_all();
    if (!write_group(group, first, count, rolls)) return;
    next_write_ns = steady_ns() + options_.interval_ns;
  }
}

bool Log::write_group(std::string& group, std::uint64_t first_lsn, std::uint32_t count,
                      bool rolls) {
  GroupHeader gh;
  gh.group_bytes = static_cast<std::uint32_t>(group.size());
  gh.first_lsn = first_lsn;
  gh.record_count = count;
  encode_group_header(gh, group.data());
  if (rolls && !roll(first_lsn)) return false;
  // Where admission placed it: the plan and the writer agree.
  HOTQ_CHECK(current_ != nullptr &&
             offset_ + group.size() + sentinel_bytes <= options_.segment_bytes);
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
  const std::uint64_t started_ns = steady_ns();
  const int rc = current_->write_sync(at, {iov, static_cast<std::size_t>(n)});
  commit_ns_.record(steady_ns() - started_ns);
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

// Starts the next segment in the spare set aside when this group's first
// append was admitted.
bool Log::roll(std::uint64_t first_lsn) {
  std::string spare;
  {
    MutexLock lock(mu_);
    HOTQ_CHECK(spares_promised_ > 0 && !spares_.empty());
    spare = std::move(spares_.front());
    spares_.pop_front();
    --spares_promised_;
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

// ------------------------------------------------------------------ preparer

void Log::run_preparer() {
  for (;;) {
    std::uint64_t attempt = 0;
    {
      MutexLock lock(mu_);
      while (!closing_ && !failed() && !spare_wanted_locked()) prep_cv_.wait(mu_);
      if (closing_ || failed()) return;
      attempt = prep_ask_seq_;
      prep_retry_ = false;
    }
    std::string name;
    bool cancelled = false;
    const int rc = make_spare(&name, &cancelled);
    if (cancelled) return;  // closing or failed: nobody needs it
    {
      MutexLock lock(mu_);
      prep_errno_ = rc;
      if (rc == 0) {
        spares_.push_back(std::move(name));
      } else {
        prep_failed_seq_ = attempt;
      }
    }
    room_cv_.notify_all();
  }
}

// Whether the preparer should make a spare now. After a failed attempt it
// waits for a reason to try again: a request made since, a roll, recycle().
bool Log::spare_wanted_locked() {
  const std::uint64_t free = spares_free_locked();
  const std::uint64_t target = std::max<std::uint64_t>(options_.spare_segments, spares_wanted_);
  if (free >= target) {
    spares_wanted_ = 0;  // every request so far is met
    return false;
  }
  return prep_errno_ == 0 || prep_ask_seq_ != prep_failed_seq_ || prep_retry_;
}

bool Log::stop_requested() const {
  return stop_prep_.load(std::memory_order_relaxed) || failed();  // relaxed: see the member
}

// Makes free-<n>.log: created as .tmp, zero-filled, fdatasynced, renamed,
// directory fsynced. On any error (or when stopped: *cancelled) the file is
// removed, giving its space back.
int Log::make_spare(std::string* ready_name, bool* cancelled) {
  std::uint64_t serial = 0;
  {
    MutexLock lock(seg_mu_);
    serial = free_serial_++;
  }
  const std::string base = "free-" + std::to_string(serial);
  const std::string tmp = base + ".tmp";
  const std::string ready = base + ".log";
  std::unique_ptr<File> file;
  int rc = fs_.open(tmp, OpenMode::create_new, &file);
  if (rc == EEXIST) {  // left by a crash: start it again
    fs_.remove(tmp);
    rc = fs_.open(tmp, OpenMode::create_new, &file);
  }
  if (rc != 0) return rc;
  for (std::uint64_t at = 0; rc == 0 && at < options_.segment_bytes;) {
    if (stop_requested()) {
      *cancelled = true;
      rc = ECANCELED;
      break;
    }
    const std::uint64_t n = std::min(fill_step_bytes, options_.segment_bytes - at);
    iovec iov{const_cast<char*>(zeros_.data()), n};
    rc = file->write(at, {&iov, 1});
    at += n;
    if (rc == 0) rc = file->sync();
  }
  file.reset();
  bool renamed = false;
  if (rc == 0) {
    rc = fs_.rename(tmp, ready);
    renamed = rc == 0;
  }
  if (rc == 0) rc = fs_.sync_dir();
  if (rc == 0) {
    stat_filled_.fetch_add(1, std::memory_order_relaxed);  // relaxed: statistics
    *ready_name = ready;
    return 0;
  }
  fs_.remove(renamed ? ready : tmp);  // ENOSPC and friends: give the space back
  return rc;
}

// ------------------------------------------------------------------ failure

void Log::fail(std::string message) {
  {
    MutexLock lock(mu_);
    set_failure_locked(std::move(message));
  }
  notify_all_waiters();
}

void Log::set_failure_locked(std::string message) {
  if (failed()) return;  // the first failure is the one reported
  failure_ = std::move(message);
  failed_.store(true, std::memory_order_release);  // release: failure_ is set
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
  if (renames.empty()) return 0;
  // Kept as spares: one more than spare_segments, or what requests ask for.
  std::uint64_t keep_max = 0;
  std::uint64_t have = 0;
  {
    MutexLock lock(mu_);
    keep_max = std::max<std::uint64_t>(std::uint64_t{options_.spare_segments} + 1, spares_wanted_);
    have = spares_free_locked();
  }
  int first_error = 0;
  std::vector<std::string> freed;
  for (auto& [from, to] : renames) {
    const bool keep = have + freed.size() < keep_max;
    const int rc = keep ? fs_.rename(from, to) : fs_.remove(from);
    if (rc != 0 && first_error == 0) first_error = rc;
    if (rc == 0 && keep) freed.push_back(to);
  }
  const int rc = fs_.sync_dir();
  if (rc != 0 && first_error == 0) first_error = rc;
  {
    MutexLock lock(mu_);
    for (std::string& name : freed) spares_.push_back(std::move(name));
    prep_retry_ = true;  // files were removed: a disk that was full may have room again
  }
  room_cv_.notify_all();
  prep_cv_.notify_all();
  return first_error;
}

}  // namespace hotq::wal
