// The engine factory and the simulation as an Engine: names, sizes, sessions, and the one probe.
#include <gtest/gtest.h>

#include <fstream>

#include "engine/factory.h"
#include "engine/sim_engine.h"
#include "media/decoder.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/probe/process.h"
#include "pipeline/pipeline.h"
#include "pipeline/samples.h"
#include "util/file_reader.h"
#include "util/units.h"

namespace soroka::engine {
namespace {

using test::TempDir;

Settings with_simulation(bool on) {
  Settings s;
  s.engine.simulation = on;
  return s;
}

TEST(Factory, NamesAliasesAndTheSimulationSwitch) {
  const Settings off = with_simulation(false), on = with_simulation(true);
  for (std::string_view alias : {"", "pocketsphinx", "whisper-1"}) {
    auto m = describe_model(off, alias);
    ASSERT_TRUE(m) << alias;
    EXPECT_EQ(m->name, "pocketsphinx");
    EXPECT_FALSE(m->simulated);
    EXPECT_EQ(m->worker_bytes, off.service.worker_memory) << "pocketsphinx's size is worker.memory_per_job";
  }
  auto sim_off = describe_model(off, "sim-tiny");
  ASSERT_FALSE(sim_off);
  EXPECT_EQ(sim_off.error().kind, FailureKind::invalid_request);
  EXPECT_NE(sim_off.error().message.find("engine.simulation"), std::string::npos);
  auto unknown = describe_model(on, "whisper-large");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, FailureKind::invalid_request);
  EXPECT_NE(unknown.error().message.find("sim-tiny"), std::string::npos) << unknown.error().message;

  auto tiny = describe_model(on, "sim-tiny");
  ASSERT_TRUE(tiny);
  EXPECT_TRUE(tiny->simulated);
  // whisper.cpp's tiny (273 MB) + its working set (32 MB) + the worker process (64 MiB).
  EXPECT_EQ(tiny->worker_bytes, 273'000'000u + 32'000'000u + 64 * kMiB);
  EXPECT_EQ(worker_base_bytes(on.engine, "sim-tiny", 1), tiny->worker_bytes);
  EXPECT_EQ(worker_base_bytes(on.engine, "pocketsphinx", 256 * kMiB), 256 * kMiB);
  EXPECT_EQ(worker_base_bytes(on.engine, "sim-medium", 1), 2'100'000'000u + 96'000'000u + 64 * kMiB);
  // A model gone since (simulation switched off by a reload) falls back to the setting.
  EXPECT_EQ(worker_base_bytes(off.engine, "sim-medium", 256 * kMiB), 256 * kMiB);
}

TEST(Factory, MakesTheEngineItNames) {
  oomguard::MemoryBudget budget(8192 * kMiB);
  oomguard::ModelRegistry registry(budget, {});
  Settings s = with_simulation(true);
  auto ps = make_engine(s, "whisper-1", registry);
  ASSERT_TRUE(ps);
  EXPECT_EQ((*ps)->name(), "pocketsphinx");
  auto sim = make_engine(s, "sim-brief", registry);
  ASSERT_TRUE(sim);
  EXPECT_EQ((*sim)->name(), "sim-brief (simulation)");
  EXPECT_FALSE(make_engine(with_simulation(false), "sim-brief", registry));
}

std::uint64_t rss_now() {
  auto text = read_file("/proc/self/status");
  if (!text) return 0;
  auto st = oomguard::parse_proc_status(*text);
  return st ? st->rss_bytes : 0;
}

// A small profile: 64 MiB of model, 32 MiB a session, 0.3 s of "work".
SimProfile small_profile() {
  return SimProfile{"sim-test", 64 * kMiB, 32 * kMiB, 0.3, false};
}

TEST(SimEngine, LoadsItsModelThroughTheRegistryAndHoldsWorkingMemoryPerSession) {
  oomguard::MemoryBudget budget(1024 * kMiB);
  oomguard::ModelRegistry registry(budget, {});
  SimEngine engine(registry, small_profile());
  EXPECT_EQ(engine.memory_cost().to_load_bytes, 64 * kMiB);
  const std::uint64_t before = rss_now();
  {
    auto session = engine.start({});
    ASSERT_TRUE(session) << session.error().message;
    // Resident, not merely reserved: model and working memory were touched.
    EXPECT_GE(rss_now() - before, 90 * kMiB);
    EXPECT_EQ(budget.reserved(), 64 * kMiB);
  }
  EXPECT_EQ(engine.memory_cost().to_load_bytes, 0u) << "the model stays loaded, idle";
  EXPECT_EQ(registry.unload_idle(), 64 * kMiB);
  EXPECT_EQ(engine.memory_cost().to_load_bytes, 64 * kMiB);
  auto fr = engine.start(SessionParams{.language = "fr"});
  ASSERT_FALSE(fr);
  EXPECT_EQ(fr.error().kind, FailureKind::invalid_request);
}

TEST(SimEngine, WorksOnTheFirstSegmentSayingItIsAliveAndSaysItIsSimulated) {
  oomguard::MemoryBudget budget(1024 * kMiB);
  oomguard::ModelRegistry registry(budget, {});
  SimEngine engine(registry, small_profile());
  int beats = 0;
  auto session = engine.start(SessionParams{.degrade = 1, .still_working = [&] { ++beats; }});
  ASSERT_TRUE(session);
  segment::Segment seg;
  seg.samples.assign(16000, 100);
  auto first = (*session)->transcribe(seg);
  ASSERT_TRUE(first);
  EXPECT_NE(first->text.find("simulated transcript from sim-test"), std::string::npos);
  EXPECT_GE(beats, 3) << "0.3 s of work, a sign of life at least every 100 ms";
  auto second = (*session)->transcribe(seg);
  ASSERT_TRUE(second);
  EXPECT_TRUE(second->text.empty()) << "one simulated text per transcription";
}

// The service's probe child found the duration: the worker opens the file once, to decode.
// Without it, opening the decoder is the probe: once as well.
TEST(OneProbe, AKnownDurationIsUsedAndTheFileIsOpenedOnce) {
  TempDir dir;
  const std::string speech = test::speak(dir.path(), "s", "slt", "good morning to you");
  oomguard::MemoryBudget budget(4096 * kMiB);
  oomguard::ModelRegistry registry(budget, {});
  SimEngine sim(registry, small_profile());
  for (double known : {0.0, 42.0}) {
    SCOPED_TRACE(known);
    pipeline::TranscribeOptions o;
    o.known_duration_s = known;
    double last_total = -1;
    const std::uint64_t opens = media::opened_count();
    auto t = pipeline::transcribe_file(sim, speech, o, [&](double, double total) { last_total = total; });
    ASSERT_TRUE(t) << t.error().message;
    EXPECT_EQ(media::opened_count() - opens, 1u);
    EXPECT_NE(t->text().find("simulated"), std::string::npos);
    if (known > 0) EXPECT_DOUBLE_EQ(last_total, known) << "the progress total is the known duration";
    EXPECT_NEAR(t->duration_s, test::wav_seconds(speech), 0.1) << "the transcript's is the decoded one";
  }
}

TEST(PipelineErrors, CarryTheirKind) {
  TempDir dir;
  const std::string speech = test::speak(dir.path(), "s", "slt", "hello");
  oomguard::MemoryBudget budget(1024 * kMiB);
  oomguard::ModelRegistry registry(budget, {});
  SimEngine sim(registry, small_profile());
  pipeline::TranscribeOptions fr;
  fr.language = "fr";
  EXPECT_EQ(pipeline::transcribe_file(sim, speech, fr).error().kind, FailureKind::invalid_request);
  pipeline::TranscribeOptions small;
  small.admission.max_file_bytes = 100;
  EXPECT_EQ(pipeline::transcribe_file(sim, speech, small).error().kind, FailureKind::too_big);
  pipeline::TranscribeOptions tight;
  tight.available_bytes = 1 * kMiB;
  EXPECT_EQ(pipeline::transcribe_file(sim, speech, tight).error().kind, FailureKind::internal);
  EXPECT_EQ(pipeline::transcribe_file(sim, dir / "missing.wav", {}).error().kind, FailureKind::invalid_input);
  std::ofstream(dir / "notes.mp3") << "not audio\n";
  EXPECT_EQ(pipeline::transcribe_file(sim, dir / "notes.mp3", {}).error().kind, FailureKind::unsupported_media);
}

}  // namespace
}  // namespace soroka::engine
