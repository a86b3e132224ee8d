// fuzz/fuzz_segment.cc — libFuzzer target: the segment readers,
// wal::read_log and wal::recover_log (wal/recovery.h), and behind them the
// log replay into engine::LogState (engine/log_state.h).
//
// Input: an 8-byte prefix, then the bytes of one or two segment files.
//   byte 0     flags: bit 0 fix the checksums first (fuzz/spec.h: header,
//              groups, records) so the input gets past them to the checks
//              behind; bit 1 two segments
//   bytes 1-4  where the rest is cut into two segments (u32, modulo its length + 1)
//   bytes 5-6  read_log's through_lsn (u16)
//   byte 7     the snapshot's covered LSN: recover_log's covered_lsn and
//              read_log's after_lsn
// Each segment is named wal-<first_lsn>.log (docs/wal-format.md, "Directory")
// after the first_lsn its header holds, so a seed's header matches its name.
// The files go into a MemFs; read_log runs first (it changes nothing), then
// recover_log, which may cut a torn tail or recycle a torn roll.
//
// Any RecoveryStatus is fine. Not fine, beside crashes, sanitizer reports,
// hangs and large allocations: a record handed to `apply` whose checksum
// (recomputed with xxhash.h over the bytes the document names) is wrong or
// whose header does not match it, records handed over out of LSN order or
// outside the LSN range asked for, or counts that disagree with the calls.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/log_state.h"
#include "fuzz/spec.h"
#include "wal/format.h"
#include "wal/mem_fs.h"
#include "wal/recovery.h"

namespace hotq::fuzz {
namespace {

constexpr std::size_t prefix_bytes = 8;
// Longer inputs are ignored; libFuzzer gets the same bound as -max_len
// (both from fuzz/CMakeLists.txt, which says why this size).
constexpr std::size_t input_bytes_max = HOTQ_FUZZ_MAX_LEN;
constexpr std::uint8_t flag_fix = 1;
constexpr std::uint8_t flag_two_segments = 2;

// Checks what a reader hands to `apply`, in order.
class Handed {
 public:
  Handed(std::uint64_t after_lsn, std::uint64_t through_lsn)
      : after_lsn_(after_lsn), through_lsn_(through_lsn) {}
  void check(const wal::LogRecord& r) {
    HOTQ_FUZZ_REQUIRE(spec::handed_record_valid(static_cast<std::uint16_t>(r.type), r.lsn, r.body));
    HOTQ_FUZZ_REQUIRE(r.lsn > after_lsn_ && r.lsn <= through_lsn_);
    HOTQ_FUZZ_REQUIRE(count_ == 0 || r.lsn == last_lsn_ + 1);  // "A gap is corruption."
    last_lsn_ = r.lsn;
    ++count_;
  }
  std::uint64_t count() const { return count_; }
  std::uint64_t last_lsn() const { return last_lsn_; }

 private:
  const std::uint64_t after_lsn_;
  const std::uint64_t through_lsn_;
  std::uint64_t count_ = 0;
  std::uint64_t last_lsn_ = 0;
};

void put_file(wal::MemFs& fs, const std::string& name, std::string& bytes) {
  std::unique_ptr<wal::File> f;
  HOTQ_FUZZ_REQUIRE(fs.open(name, wal::OpenMode::create_new, &f) == 0);
  iovec iov{bytes.data(), bytes.size()};
  HOTQ_FUZZ_REQUIRE(f->write_sync(0, {&iov, 1}) == 0);
}

void run(std::string_view in) {
  const std::uint8_t flags = static_cast<std::uint8_t>(in[0]);
  const std::uint32_t cut = spec::le32(in.data() + 1);
  const std::uint64_t through_lsn = spec::le16(in.data() + 5);
  const std::uint64_t covered_lsn = static_cast<std::uint8_t>(in[7]);
  const std::string_view rest = in.substr(prefix_bytes);

  std::vector<std::string> parts;
  if ((flags & flag_two_segments) != 0) {
    const std::size_t at = cut % (rest.size() + 1);
    parts = {std::string(rest.substr(0, at)), std::string(rest.substr(at))};
  } else {
    parts = {std::string(rest)};
  }
  wal::MemFs fs("fuzz");
  std::vector<std::string> names;
  std::uint64_t prev_lsn = 0;
  for (std::string& part : parts) {
    if ((flags & flag_fix) != 0) spec::fix_segment(&part);
    std::uint64_t first_lsn = part.size() >= 24 ? spec::le64(part.data() + 16) : 0;
    if (first_lsn == 0) first_lsn = 1;
    if (!names.empty() && first_lsn == prev_lsn) ++first_lsn;  // names must differ
    names.push_back(wal::segment_name(first_lsn));
    prev_lsn = first_lsn;
    put_file(fs, names.back(), part);
  }
  std::sort(names.begin(), names.end());  // oldest first, as a Log lists them

  // The read-only reader, as the snapshotter uses it on a live log.
  {
    Handed handed(covered_lsn, through_lsn);
    std::uint64_t applied = 0;
    std::string error;
    const wal::RecoveryStatus st = wal::read_log(
        fs, names, covered_lsn, through_lsn,
        [&](const wal::LogRecord& r, std::string*) {
          handed.check(r);
          return true;
        },
        &applied, &error);
    HOTQ_FUZZ_REQUIRE(applied == handed.count());
    HOTQ_FUZZ_REQUIRE(st != wal::RecoveryStatus::apply_failed);
    // ok means every record through through_lsn was handed over.
    if (st == wal::RecoveryStatus::ok && covered_lsn < through_lsn) {
      HOTQ_FUZZ_REQUIRE(handed.last_lsn() == through_lsn);
    }
  }

  // Recovery at open, replaying into the state an engine would build.
  engine::LogState state;
  Handed handed(covered_lsn, UINT64_MAX);
  wal::LogTail tail;
  wal::RecoveryReport report;
  std::string error;
  const wal::RecoveryStatus st = wal::recover_log(
      fs, covered_lsn,
      [&](const wal::LogRecord& r, std::string* e) {
        handed.check(r);
        return state.apply(r, e);
      },
      &tail, &report, &error);
  if (st == wal::RecoveryStatus::ok) {
    HOTQ_FUZZ_REQUIRE(report.records_applied == handed.count());
    if (handed.count() != 0) HOTQ_FUZZ_REQUIRE(report.last_lsn == handed.last_lsn());
  }
}

}  // namespace
}  // namespace hotq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fz = hotq::fuzz;
  if (size < fz::prefix_bytes || size > fz::input_bytes_max) return 0;
  fz::run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
