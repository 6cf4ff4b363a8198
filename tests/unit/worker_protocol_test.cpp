// Unit: the worker line protocol's decoders (worker/protocol.h) and the line framing alone.
#include <gtest/gtest.h>

#include "worker/line_channel.h"
#include "worker/protocol.h"

namespace soroka::worker {
namespace {

TEST(DecodeJobRequest, TheSchedulersLine) {
  auto r = decode_job_request(
      R"({"job":"j1","input":"/s/in.wav","result":"/s/j1.json","language":"ru","degrade":2})");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->id, "j1");
  EXPECT_EQ(r->input, "/s/in.wav");
  EXPECT_EQ(r->result, "/s/j1.json");
  EXPECT_EQ(r->language, "ru");
  EXPECT_EQ(r->degrade, 2);
  auto minimal = decode_job_request(R"({"job":"j","input":"i","result":"r"})");
  ASSERT_TRUE(minimal);
  EXPECT_EQ(minimal->language, "en");
  EXPECT_EQ(minimal->degrade, 0);
}

TEST(DecodeJobRequest, MalformedIsEproto) {
  for (const char* line : {"", "shed", "[]", R"({"job":"j","input":"i"})",
                           R"({"job":1,"input":"i","result":"r"})",
                           R"({"job":"j","input":"i","result":"r","language":null})",
                           // degrade beyond int used to be truncated by get<int>()
                           R"({"job":"j","input":"i","result":"r","degrade":4294967297})",
                           R"({"job":"j","input":"i","result":"r","degrade":-1})"}) {
    auto r = decode_job_request(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error().code, EPROTO) << line;
  }
}

TEST(DecodeWorkerMessage, EachKindOfLine) {
  auto ready = decode_worker_message(R"({"ready":true,"rss_bytes":95813632})");
  ASSERT_TRUE(ready);
  EXPECT_FALSE(ready->has_job);
  EXPECT_FALSE(ready->done);
  auto progress = decode_worker_message(R"({"job":"j","progress":0.42})");
  ASSERT_TRUE(progress && progress->progress);
  EXPECT_DOUBLE_EQ(*progress->progress, 0.42);
  auto done = decode_worker_message(R"({"job":"j","done":true,"peak_bytes":104857600})");
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->done);
  EXPECT_EQ(done->peak_bytes, 104857600u);
  auto user = decode_worker_message(R"({"job":"j","error":"no audio","user_error":true})");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->error.value_or(""), "no audio");
  EXPECT_TRUE(user->user_error && user->has_job);
  auto load = decode_worker_message(R"({"error":"unknown model x"})");
  ASSERT_TRUE(load);
  EXPECT_FALSE(load->has_job);
  EXPECT_FALSE(decode_worker_message("not json"));
  EXPECT_FALSE(decode_worker_message("[1,2]"));
}

// The scheduler read these with value(), which throws type_error on a mismatch: one such line
// from a worker would have ended the service. Now the field is ignored.
TEST(DecodeWorkerMessage, WrongTypesAreIgnoredNotThrown) {
  auto m = decode_worker_message(R"({"job":"j","done":1,"peak_bytes":"x"})");
  ASSERT_TRUE(m);
  EXPECT_FALSE(m->done);
  EXPECT_EQ(m->peak_bytes, 0u);
  auto e = decode_worker_message(R"({"job":"j","error":"e","user_error":"yes"})");
  ASSERT_TRUE(e);
  EXPECT_FALSE(e->user_error);
  auto neg = decode_worker_message(R"({"job":"j","done":true,"peak_bytes":-5})");
  ASSERT_TRUE(neg);
  EXPECT_EQ(neg->peak_bytes, 0u);
  // nlohmann refuses 1e999 as a whole ("number overflow"): no infinite progress gets through.
  auto inf = decode_worker_message(R"({"job":"j","progress":1e999})");
  EXPECT_FALSE(inf && inf->progress);
}

TEST(LineFramer, LinesAcrossChunksAndTheRestHeld) {
  LineFramer f;
  f.append("ab");
  EXPECT_FALSE(f.next_line());
  f.append("c\n\nde");
  EXPECT_EQ(f.next_line().value_or("?"), "abc");
  EXPECT_EQ(f.next_line().value_or("?"), "");
  EXPECT_FALSE(f.next_line());
  EXPECT_EQ(f.pending(), 2u);
  f.append("f\n");
  EXPECT_EQ(f.next_line().value_or("?"), "def");
  EXPECT_EQ(f.pending(), 0u);
}

}  // namespace
}  // namespace soroka::worker
