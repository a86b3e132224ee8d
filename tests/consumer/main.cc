// Built against the installed package only: includes nothing but <hotq/...>.
#include <hotq/clock.h>
#include <hotq/status.h>
#include <hotq/version.h>

#include <cstdio>
#include <cstring>

int main() {
  hotq::ManualClock clock(5);
  clock.advance_ns(7);
  hotq::Status s(hotq::Code::no_space, "wal reservation");
  if (clock.now_ns() != 12 || s.to_string() != "no_space: wal reservation" ||
      std::strcmp(hotq::version(), "0.1.0") != 0) {
    std::fprintf(stderr, "consumer: unexpected results\n");
    return 1;
  }
  std::printf("consumer: linked hotq %s\n", hotq::version());
  return 0;
}
