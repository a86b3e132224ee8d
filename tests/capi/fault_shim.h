/* tests/capi/fault_shim.h — C entry points into a small C++ shim
 * (fault_shim.cc) for the outcomes hotq.h alone cannot provoke: an engine on
 * an in-memory, fault-injecting file layer (wal/faulty_fs.h over
 * wal/mem_fs.h), where the test fills the disk or fails an fdatasync, and
 * the guard every C function runs its body under, fed an exception. */
#ifndef HOTQ_TESTS_CAPI_FAULT_SHIM_H_
#define HOTQ_TESTS_CAPI_FAULT_SHIM_H_

#include <hotq/hotq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fault_disk fault_disk; /* an in-memory disk that fails on demand */

fault_disk* fault_disk_new(void);
/* A durable engine (sync mode, 64 KiB segments, one shard) on the disk;
 * free it with hotq_engine_free before fault_disk_free. */
hotq_code fault_disk_open(fault_disk* disk, hotq_engine** engine);
/* From now on no file can be created (ENOSPC): the log cannot grow. */
void fault_disk_fill(fault_disk* disk);
/* The next fdatasync of a log segment fails with EIO. */
void fault_disk_fail_next_fsync(fault_disk* disk);
/* How many faults of either kind have fired. */
unsigned long long fault_disk_fired(const fault_disk* disk);
void fault_disk_free(fault_disk* disk);

/* The C guard's answer to a body that throws: 0 std::bad_alloc, 1 a
 * std::runtime_error, 2 an int; 3 returns HOTQ_OK without throwing. */
hotq_code fault_guard_throw(int kind);

#ifdef __cplusplus
}
#endif

#endif /* HOTQ_TESTS_CAPI_FAULT_SHIM_H_ */
