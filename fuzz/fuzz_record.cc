// fuzz/fuzz_record.cc — libFuzzer target: the record decoder and every body
// decoder (wal/format.h, wal/records.h).
//
// The input is the bytes of one record, as it sits in a group or a snapshot
// (the seeds are real records: fuzz/make_corpus.cc). Per input:
//   1. wal::decode_record over the whole input. It must agree with the
//      document's definition (fuzz/spec.h, own XXH3): accepted exactly when
//      the checksum over bytes 8..24+body_bytes, the length, the padding,
//      the type and the reserved field are right. On ok the body it returns
//      must be the bytes after the header and lie inside the input.
//   2. Every body decoder over the body the header claims (cut to the
//      input), whatever the checksum: the decoders are what a checksum-valid
//      but hostile or buggy body reaches. A decoder that accepts must return
//      strings inside the body and re-encode to exactly the body (so it
//      ignored no byte, e.g. a non-zero reserved one).
//   3. The group and segment header decoders over the first bytes, with the
//      same checksum oracle and round trip; the file-name parsers, with a
//      round trip.
// Crashes, sanitizer reports and oracle failures all stop the fuzzer.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/spec.h"
#include "wal/format.h"
#include "wal/records.h"

namespace hotq::fuzz {
namespace {

// Longer inputs are ignored; libFuzzer gets the same bound as -max_len
// (both from fuzz/CMakeLists.txt, which says why this size).
constexpr std::size_t input_bytes_max = HOTQ_FUZZ_MAX_LEN;

bool inside(std::string_view part, std::string_view whole) {
  if (part.empty()) return true;
  const auto* b = reinterpret_cast<const unsigned char*>(whole.data());
  const auto* p = reinterpret_cast<const unsigned char*>(part.data());
  return p >= b && p + part.size() <= b + whole.size();
}

void decode_bodies(std::string_view body) {
  using wal::RecordType;
  {
    wal::QueueCreateRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.name, body));
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::QueueCreateRec r;
    bool paused = false;
    if (wal::decode_snapshot_queue(body, &r, &paused)) {
      HOTQ_FUZZ_REQUIRE(inside(r.name, body));
      std::string out;
      wal::encode_snapshot_queue(r, paused, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::EnqueueRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.dedup_key, body) && inside(r.payload, body));
      std::string out;
      wal::encode_head(r, &out);
      out.append(r.payload);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  for (RecordType type : {RecordType::publish, RecordType::publish_keyed}) {
    wal::PublishRec r;
    if (wal::decode(type, body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.topic, body) && inside(r.dedup_key, body) && inside(r.payload, body));
      HOTQ_FUZZ_REQUIRE(wal::publish_type(r) == type);
      HOTQ_FUZZ_REQUIRE(!r.targets.empty() && r.targets.size() <= body.size() / 16);
      std::string out;
      wal::encode_head(r, &out);
      out.append(r.payload);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::ReserveRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  for (RecordType type : {RecordType::extend, RecordType::ack, RecordType::expire}) {
    wal::LeaseRec r;
    if (wal::decode(type, body, &r)) {
      std::string out;
      wal::encode(type, r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::NackRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.error, body));
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::DeadRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.error, body));
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::QueueDropRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::JobListRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(!r.jobs.empty() && r.jobs.size() <= wal::job_list_jobs_max);
      std::string out;
      wal::encode_job_list(r.queue_id, r.jobs, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::CancelRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::PauseRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SetPriorityRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SetDelayRec r;
    if (wal::decode(body, &r)) {
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::BindRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.topic, body));
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SnapJobRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.error, body) && inside(r.payload, body));
      std::string out;
      wal::encode_head(r, &out);
      out.append(r.payload);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SnapJobRec r;
    if (wal::decode_shared(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.error, body) && r.payload.empty() && r.payload_ref != 0);
      std::string out;
      wal::encode_shared(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SnapPayloadRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.payload, body) && r.ref != 0);
      std::string out;
      wal::encode_head(r, &out);
      out.append(r.payload);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SnapDedupRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(inside(r.key, body));
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
  {
    wal::SnapGenerationsRec r;
    if (wal::decode(body, &r)) {
      HOTQ_FUZZ_REQUIRE(!r.generations.empty() &&
                        r.generations.size() <= wal::snap_generations_max);
      std::string out;
      wal::encode(r, &out);
      HOTQ_FUZZ_REQUIRE(out == body);  // re-encodes to the same bytes
    }
  }
}

void check_record(std::string_view in) {
  wal::RecordHeader h;
  std::string_view body;
  const wal::RecordCheck c = wal::decode_record(in.data(), in.size(), &h, &body);
  spec::Record want;
  const bool valid = spec::record_valid(in.data(), in.size(), &want);
  // The oracle: accepted if and only if the document says the record is
  // valid — in particular never with a checksum that is wrong.
  HOTQ_FUZZ_REQUIRE((c == wal::RecordCheck::ok) == valid);
  if (c != wal::RecordCheck::ok) return;
  HOTQ_FUZZ_REQUIRE(h.body_bytes == want.body_bytes && h.type == want.type && h.lsn == want.lsn);
  HOTQ_FUZZ_REQUIRE(body.data() == in.data() + spec::record_header_bytes);
  HOTQ_FUZZ_REQUIRE(body.size() == h.body_bytes && inside(body, in));
  HOTQ_FUZZ_REQUIRE(wal::record_span_bytes(h.body_bytes) == want.span && want.span <= in.size());
}

void check_headers(std::string_view in) {
  if (in.size() >= spec::group_header_bytes) {
    wal::GroupHeader g;
    if (wal::decode_group_header(in.data(), &g)) {
      HOTQ_FUZZ_REQUIRE(spec::group_header_checksum_ok(in.data()));
      char out[spec::group_header_bytes];
      wal::encode_group_header(g, out);
      HOTQ_FUZZ_REQUIRE(in.substr(0, spec::group_header_bytes) ==
                        std::string_view(out, sizeof out));
    }
  }
  if (in.size() >= spec::segment_header_bytes) {
    wal::SegmentHeader s;
    if (wal::decode_segment_header(in.data(), &s)) {
      HOTQ_FUZZ_REQUIRE(spec::segment_header_valid(in.data()));
      char out[spec::segment_header_bytes];
      wal::encode_segment_header(s, out);
      HOTQ_FUZZ_REQUIRE(in.substr(0, spec::segment_header_bytes) ==
                        std::string_view(out, sizeof out));
    }
  }
}

void check_names(std::string_view in) {
  if (in.size() > 64) return;
  std::uint64_t n = 0;
  if (wal::parse_segment_name(in, &n)) HOTQ_FUZZ_REQUIRE(wal::segment_name(n) == in);
  if (wal::parse_snapshot_name(in, &n)) HOTQ_FUZZ_REQUIRE(wal::snapshot_name(n) == in);
}

}  // namespace
}  // namespace hotq::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace fz = hotq::fuzz;
  namespace spec = hotq::fuzz::spec;
  if (size > fz::input_bytes_max) return 0;
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  fz::check_record(in);
  // The body the header claims, cut to what the input has.
  std::string_view body = in;
  if (in.size() >= spec::record_header_bytes) {
    body = in.substr(spec::record_header_bytes);
    body = body.substr(0, std::min<std::size_t>(body.size(), spec::le32(in.data() + 8)));
  }
  fz::decode_bodies(body);
  fz::check_headers(in);
  fz::check_names(in);
  return 0;
}
