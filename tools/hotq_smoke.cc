// hotq-smoke: a short run of the library through its public API, printing
// what it did. The README's quick start runs it.
#include <hotq/clock.h>
#include <hotq/status.h>
#include <hotq/version.h>

#include <cstdio>

int main() {
  std::printf("hotq %s smoke run\n", hotq::version());
  hotq::ManualClock clock;
  clock.advance_ms(250);
  hotq::Status status(hotq::Code::no_space, "example");
  std::printf("clock advanced to %llu ns; status: %s\n",
              static_cast<unsigned long long>(clock.now_ns()), status.to_string().c_str());
  return 0;
}
