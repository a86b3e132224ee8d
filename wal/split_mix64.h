// wal/split_mix64.h — the small seeded generator the test file layers
// (wal/mem_fs.cc, wal/lossy_fs.cc) use to choose what a torn power cut
// keeps, so a seed replays the same cut.
//
// splitmix64 (Steele, Lea and Flood, 2014): tiny, seedable, and its
// consecutive outputs are well mixed even for seeds 0, 1, 2, ...
//
// Thread safety: none; one generator per power cut.
#ifndef HOTQ_WAL_SPLIT_MIX64_H_
#define HOTQ_WAL_SPLIT_MIX64_H_

#include <cstdint>

namespace hotq::wal {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  bool coin() { return (next() >> 63) != 0; }

 private:
  std::uint64_t state_;
};

}  // namespace hotq::wal

#endif  // HOTQ_WAL_SPLIT_MIX64_H_
