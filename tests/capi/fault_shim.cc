// tests/capi/fault_shim.cc — see fault_shim.h. C++ so that it can reach the
// engine's internals (EngineOpener, the file layers); the test itself stays
// plain C.
#include "tests/capi/fault_shim.h"

#include <memory>
#include <new>
#include <stdexcept>

#include "capi/hotq_c_internal.h"
#include "engine/engine_impl.h"
#include "wal/borrowed_fs.h"
#include "wal/faulty_fs.h"
#include "wal/mem_fs.h"

struct fault_disk {
  hotq::wal::MemFs mem{"capi-fault"};
  hotq::wal::FaultyFs faulty{mem};
};

extern "C" {

fault_disk* fault_disk_new(void) { return new fault_disk; }

hotq_code fault_disk_open(fault_disk* disk, hotq_engine** engine) {
  hotq::EngineOptions o;
  o.shards = 1;
  o.wal_segment_bytes = 64 << 10;
  std::unique_ptr<hotq::Engine> e;
  hotq::Status s = hotq::EngineOpener::open(
      o, std::make_unique<hotq::wal::BorrowedFs>(disk->faulty), "mem", &e);
  if (!s.ok()) return HOTQ_IO_ERROR;
  *engine = hotq::capi::adopt_engine(std::move(e));
  return HOTQ_OK;
}

void fault_disk_fill(fault_disk* disk) {
  disk->faulty.arm(hotq::wal::Fault::enospc_create, 0, "", /*sticky=*/true);
}

void fault_disk_fail_next_fsync(fault_disk* disk) {
  disk->faulty.arm(hotq::wal::Fault::eio_sync, 0, "wal-");
}

unsigned long long fault_disk_fired(const fault_disk* disk) {
  return disk->faulty.fired(hotq::wal::Fault::enospc_create) +
         disk->faulty.fired(hotq::wal::Fault::eio_sync);
}

void fault_disk_free(fault_disk* disk) { delete disk; }

hotq_code fault_guard_throw(int kind) {
  return hotq::capi::run_guarded([kind]() -> hotq_code {
    if (kind == 0) throw std::bad_alloc();
    if (kind == 1) throw std::runtime_error("a bug");
    if (kind == 2) throw 42;
    return HOTQ_OK;
  });
}

}  // extern "C"
