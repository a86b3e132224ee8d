// capi/hotq_c_internal.h — what the C API's own tests reach beyond hotq.h.
//
// Not installed, and hidden in a shared library (the library's default
// visibility): only tests/capi/fault_shim.cc uses it, to produce for real the
// codes a C caller cannot provoke through hotq.h alone — a full disk
// (HOTQ_NO_SPACE) and a failed fdatasync (HOTQ_WAL_FAILED) need the engine
// opened on a fault-injecting file layer; HOTQ_NO_MEMORY and HOTQ_INTERNAL
// come from the guard every C function runs its body under.
#ifndef HOTQ_CAPI_HOTQ_C_INTERNAL_H_
#define HOTQ_CAPI_HOTQ_C_INTERNAL_H_

#include <hotq/engine.h>
#include <hotq/hotq.h>

#include <functional>
#include <memory>

namespace hotq::capi {

// A hotq_engine handle that owns an engine opened some other way (e.g. with
// EngineOpener::open on a wal::FaultyFs). Released with hotq_engine_free.
hotq_engine* adopt_engine(std::unique_ptr<Engine> engine);

// Runs body under the guard of every C function: body's code, or the code
// its exception becomes (std::bad_alloc: HOTQ_NO_MEMORY; anything else:
// HOTQ_INTERNAL).
hotq_code run_guarded(const std::function<hotq_code()>& body) noexcept;

}  // namespace hotq::capi

#endif  // HOTQ_CAPI_HOTQ_C_INTERNAL_H_
