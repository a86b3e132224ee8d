// fuzz/fuzz_snapshot.cc — libFuzzer target: the snapshot reader,
// wal::load_snapshot (wal/snapshot.h), and behind it the snapshot record
// decoders and engine::LogState::apply_snapshot (engine/log_state.h).
//
// Input: one flag byte (bit 0: fix the checksums first — header, records,
// the end record's count and chain, fuzz/spec.h — so the input gets past
// them to the checks and decoders behind), then the bytes of a snapshot
// file. It goes into a MemFs as snap-<covered_lsn>.snap, named after the
// covered_lsn its header holds so a seed's header matches its name.
//
// The oracles, beside crashes, sanitizer reports, hangs and large allocations:
//   - load_snapshot passed the file's checks (ok with a name, or
//     apply_failed: every record is checked before the first is applied)
//     if and only if the file is valid as docs/wal-format.md defines it,
//     recomputed independently (fuzz/spec.h, xxhash.h directly): so never
//     with a wrong checksum or chain, and never refusing a valid one;
//   - each record handed to `apply` has a right checksum, a header that
//     matches it, and the next number (1, 2, 3, ...);
//   - a state loaded whole can be written as a snapshot (LogState::write,
//     as the engine's snapshotter does) and that snapshot loads again into
//     as many queues, topics and jobs.
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
#include "wal/snapshot.h"

namespace hotq::fuzz {
namespace {

// Longer inputs are ignored; libFuzzer gets the same bound as -max_len
// (both from fuzz/CMakeLists.txt, which says why this size).
constexpr std::size_t input_bytes_max = HOTQ_FUZZ_MAX_LEN;
constexpr std::uint8_t flag_fix = 1;
// The write-back check is skipped for states whose generation tables alone
// hold more than this many entries (chunks of slots the input named: at most
// a few per record, engine/log_state.h): the load itself is still checked,
// the write would only repeat it at length.
constexpr std::size_t write_back_generations_max = 1 << 20;

void put_file(wal::MemFs& fs, const std::string& name, std::string& bytes) {
  std::unique_ptr<wal::File> f;
  HOTQ_FUZZ_REQUIRE(fs.open(name, wal::OpenMode::create_new, &f) == 0);
  iovec iov{bytes.data(), bytes.size()};
  HOTQ_FUZZ_REQUIRE(f->write_sync(0, {&iov, 1}) == 0);
}

// Loads the snapshot in `fs` into *state, checking what is handed over.
wal::RecoveryStatus load(wal::MemFs& fs, engine::LogState* state, wal::SnapshotInfo* info) {
  std::uint64_t handed = 0;
  std::vector<std::string> notes;
  std::string error;
  const wal::RecoveryStatus st = wal::load_snapshot(
      fs,
      [&](const wal::LogRecord& r, std::string* e) {
        HOTQ_FUZZ_REQUIRE(
            spec::handed_record_valid(static_cast<std::uint16_t>(r.type), r.lsn, r.body));
        HOTQ_FUZZ_REQUIRE(r.lsn == ++handed);
        return state->apply_snapshot(r, e);
      },
      info, &notes, &error);
  HOTQ_FUZZ_REQUIRE(st != wal::RecoveryStatus::io_error);  // a MemFs read cannot fail
  if (st == wal::RecoveryStatus::ok && !info->name.empty())
    HOTQ_FUZZ_REQUIRE(info->records == handed);
  return st;
}

std::size_t generation_entries(const engine::LogState& s) {
  std::size_t n = s.queue_generations.size();
  for (const engine::GenerationTable& g : s.slot_generations) {
    n += g.chunk_count() * engine::GenerationTable::chunk_slots;
  }
  return n;
}

// The engine's snapshotter writes what it loaded: that must load again.
void write_back(const engine::LogState& state) {
  if (generation_entries(state) > write_back_generations_max) return;
  wal::MemFs fs("fuzz-write");
  {
    std::unique_ptr<wal::SnapshotWriter> w;
    HOTQ_FUZZ_REQUIRE(wal::SnapshotWriter::create(fs, 1, 0, &w) == 0);
    HOTQ_FUZZ_REQUIRE(state.write(*w, 0) == 0);
    std::string error;
    HOTQ_FUZZ_REQUIRE(w->finish(&error) == 0);
  }
  engine::LogState again;
  wal::SnapshotInfo info;
  HOTQ_FUZZ_REQUIRE(load(fs, &again, &info) == wal::RecoveryStatus::ok);
  HOTQ_FUZZ_REQUIRE(info.name == wal::snapshot_name(1));
  HOTQ_FUZZ_REQUIRE(again.queues.size() == state.queues.size());
  HOTQ_FUZZ_REQUIRE(again.topics.size() == state.topics.size());
  HOTQ_FUZZ_REQUIRE(again.jobs.size() == state.jobs.size());
}

void run(std::string_view in) {
  const std::uint8_t flags = static_cast<std::uint8_t>(in[0]);
  std::string file(in.substr(1));
  if ((flags & flag_fix) != 0) spec::fix_snapshot(&file);
  const std::uint64_t named_lsn = file.size() >= 24 ? spec::le64(file.data() + 16) : 0;
  wal::MemFs fs("fuzz");
  put_file(fs, wal::snapshot_name(named_lsn), file);

  engine::LogState state;
  wal::SnapshotInfo info;
  const wal::RecoveryStatus st = load(fs, &state, &info);
  const bool passed_checks = (st == wal::RecoveryStatus::ok && !info.name.empty()) ||
                             st == wal::RecoveryStatus::apply_failed;
  std::uint64_t covered_lsn = 0;
  const bool valid = spec::snapshot_valid(file, &covered_lsn) && covered_lsn == named_lsn;
  // The oracle: never accepted with a wrong checksum, never refused when right.
  HOTQ_FUZZ_REQUIRE(passed_checks == valid);
  if (st != wal::RecoveryStatus::ok || info.name.empty()) return;
  HOTQ_FUZZ_REQUIRE(info.covered_lsn == named_lsn);
  write_back(state);
}

}  // namespace
}  // namespace hotq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fz = hotq::fuzz;
  if (size < 1 || size > fz::input_bytes_max) return 0;
  fz::run(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
