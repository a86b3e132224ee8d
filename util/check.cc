#include "util/check.h"

#include <cstdio>
#include <cstdlib>

namespace hotq::detail {

void check_failed(const char* what, const char* file, int line) noexcept {
  std::fprintf(stderr, "hotq: check failed: %s at %s:%d\n", what, file, line);
  std::fflush(stderr);
  std::abort();
}

}  // namespace hotq::detail
