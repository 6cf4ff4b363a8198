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

TEST(DecodeJobRequest, DiarizeRoundTripsAndIsChecked) {
  JobRequest r{.id = "j", .input = "/u/a.upload", .result = "/r/j.json"};
  EXPECT_FALSE(decode_job_request(encode(r))->diarize) << "no diarize: none decoded";
  r.diarize = pipeline::SpeakerRequest{.speakers = 2, .min_speakers = 1, .max_speakers = 3,
                             .known = {{"Anna", "/u/a.upload.speaker0"}, {"Борис", "/u/a.upload.speaker1"}}};
  // The wire format the service and older workers speak: a known voice's file is "clip".
  EXPECT_NE(encode(r).find(R"("known":[{"clip":"/u/a.upload.speaker0","name":"Anna"})"), std::string::npos)
      << encode(r);
  auto back = decode_job_request(encode(r));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->diarize);
  EXPECT_EQ(*back->diarize, *r.diarize);
  const std::string head = R"({"job":"j","input":"i","result":"r","diarize":)";
  for (const char* bad : {R"([])", R"({"speakers":-1})", R"({"speakers":1.5})", R"({"max_speakers":"3"})",
                          R"({"speakers":1001})", R"({"known":[{"name":"A"}]})", R"({"known":{"name":"A"}})",
                          R"({"known":[{"name":"A","clip":3}]})"}) {
    auto d = decode_job_request(head + bad + "}");
    ASSERT_FALSE(d) << bad;
    EXPECT_EQ(d.error().code, EPROTO) << bad;
  }
  std::string many = head + R"({"known":[)";
  for (int i = 0; i < 17; ++i) many += std::string(i ? "," : "") + R"({"name":"n","clip":"c"})";
  EXPECT_FALSE(decode_job_request(many + "]}}")) << "more than 16 known speakers";
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
  auto user = decode_worker_message(R"({"job":"j","error":"no audio","kind":"invalid_input"})");
  ASSERT_TRUE(user);
  EXPECT_EQ(user->error.value_or(""), "no audio");
  EXPECT_TRUE(is_user_error(user->kind) && user->has_job);
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
  auto e = decode_worker_message(R"({"job":"j","error":"e","kind":7})");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->kind, FailureKind::worker_failed);
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

// Each end encodes with the same file the other decodes with: what one writes, the other reads.
TEST(WorkerProtocol, EncodedLinesDecodeToWhatWasSent) {
  JobRequest req{.id = "j1", .input = "/s/in.ogg", .result = "/s/j1.run2.json", .language = "ru",
                 .degrade = 2, .heartbeat = std::chrono::milliseconds(250), .duration_s = 12.5};
  auto back = decode_job_request(encode(req));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, "j1");
  EXPECT_EQ(back->result, "/s/j1.run2.json");
  EXPECT_EQ(back->language, "ru");
  EXPECT_EQ(back->degrade, 2);
  EXPECT_EQ(back->heartbeat.count(), 250);
  EXPECT_DOUBLE_EQ(back->duration_s, 12.5);

  auto ready = decode_worker_message(encode_ready(123, R"({"applied":true})"));
  ASSERT_TRUE(ready);
  EXPECT_TRUE(ready->ready);
  EXPECT_EQ(ready->rss_bytes, 123u);
  auto prog = decode_worker_message(encode_progress("j1", 0.5));
  ASSERT_TRUE(prog && prog->progress && prog->has_job);
  EXPECT_DOUBLE_EQ(*prog->progress, 0.5);
  auto done = decode_worker_message(encode_done("j1", 77));
  ASSERT_TRUE(done);
  EXPECT_TRUE(done->done);
  EXPECT_EQ(done->peak_bytes, 77u);
  auto err = decode_worker_message(encode_job_error("j1", "not \xff media", FailureKind::unsupported_media));
  ASSERT_TRUE(err && err->error);
  EXPECT_EQ(err->kind, FailureKind::unsupported_media);
  auto load = decode_worker_message(encode_load_error("no model", FailureKind::invalid_request));
  ASSERT_TRUE(load && load->error);
  EXPECT_FALSE(load->has_job);
  EXPECT_EQ(load->kind, FailureKind::invalid_request);
}


TEST(EngineLine, EverySettingRoundTrips) {
  RemoteEngineSettings e;
  e.name = "gpu";
  e.type = RemoteProtocol::whisper_cpp;
  e.urls = {"http://gpu1:8080", "http://gpu2:8080"};
  e.api_key = "sk-secret";
  e.api_key_file = "/run/credentials/gpu";
  e.model = "large-v3";
  e.languages = {"en", "ru"};
  e.max_concurrency = 7;
  e.timeout = std::chrono::milliseconds(61000);
  e.max_request_bytes = 1u << 20;
  e.chunk_seconds = 45;
  e.max_tries = 9;
  e.unreachable_wait = std::chrono::milliseconds(1234);
  e.audio_format = "wav";
  e.fallback = "pocketsphinx";
  auto back = decode_engine(encode_engine(e));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->name, e.name);
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->urls, e.urls);
  EXPECT_EQ(back->api_key, e.api_key);
  EXPECT_EQ(back->api_key_file, e.api_key_file);
  EXPECT_EQ(back->model, e.model);
  EXPECT_EQ(back->languages, e.languages);
  EXPECT_EQ(back->max_concurrency, e.max_concurrency);
  EXPECT_EQ(back->timeout, e.timeout);
  EXPECT_EQ(back->max_request_bytes, e.max_request_bytes);
  EXPECT_EQ(back->chunk_seconds, e.chunk_seconds);
  EXPECT_EQ(back->max_tries, e.max_tries);
  EXPECT_EQ(back->unreachable_wait, e.unreachable_wait);
  EXPECT_EQ(back->audio_format, e.audio_format);
  EXPECT_EQ(back->fallback, e.fallback);
}

TEST(EngineLine, MalformedIsEprotoAndNeverQuotesTheKey) {
  for (const char* line : {"", "shed", "[]", R"({"job":"x"})", R"({"engine":[]})", R"({"engine":{}})",
                           R"({"engine":{"name":"g","urls":"http://x"}})", R"({"engine":{"name":"g","type":"grpc"}})",
                           R"({"engine":{"name":"g","max_tries":-1,"api_key":"sk-secret"}})",
                           R"({"engine":{"name":"g","chunk_seconds":"long","api_key":"sk-secret"}})"}) {
    auto r = decode_engine(line);
    ASSERT_FALSE(r) << line;
    EXPECT_EQ(r.error().code, EPROTO) << line;
    EXPECT_EQ(r.error().message.find("sk-secret"), std::string::npos) << r.error().message;
  }
}

}  // namespace
}  // namespace soroka::worker
