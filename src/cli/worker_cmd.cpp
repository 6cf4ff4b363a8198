// soroka worker (hidden): runs one job for `soroka serve` and reports on stdout, one JSON a line.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "config/settings.h"
#include "engine/pocketsphinx_engine.h"
#include "media/decoder.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/sampler.h"
#include "pipeline/formats.h"
#include "pipeline/pipeline.h"
#include "service/sim_model.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

namespace fs = std::filesystem;

// Exit codes the scheduler reads (service/scheduler.cpp): 3 = this input cannot be
// transcribed (do not retry); 1 = the worker itself failed (retry).
constexpr int kUserError = 3;

struct WorkerArgs {
  std::string job_id, input, result, language = "en", model = "pocketsphinx";
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  int degrade = 0;
};

std::mutex out_mu;
void emit(const nlohmann::json& j) {
  std::lock_guard lk(out_mu);
  std::string line = j.dump();
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

// The result, whole or not at all: written beside its final name, synced, renamed.
Result<void> write_result(const std::string& path, const pipeline::Transcript& t) {
  std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return sys_fail("cannot create " + tmp);
    pipeline::write_json(out, t);
    out.flush();
    if (!out) return sys_fail("writing " + tmp);
  }
  if (FILE* f = std::fopen(tmp.c_str(), "r+")) {
    ::fsync(::fileno(f));
    std::fclose(f);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail("renaming " + tmp);
  return {};
}

// The service writes "shed" on our stdin when its memory is critical: give back what the
// allocator holds. Models in use stay (the registry never unloads under a caller).
void listen_for_shed(oomguard::ModelRegistry* registry) {
  std::thread([registry] {
    std::string line;
    while (std::getline(std::cin, line)) {
      if (line != "shed") continue;
      std::uint64_t freed = registry ? registry->unload_idle() : 0;
      ::malloc_trim(0);
      spdlog::info("event=worker_shed freed_mib={}", freed >> 20);
    }
  }).detach();
}

int run_worker(const WorkerArgs& a) {
  // The service's log level reaches us through the inherited environment.
  if (const char* lvl = std::getenv("SOROKA_LOG_LEVEL"); lvl && *lvl)
    spdlog::set_level(spdlog::level::from_str(lvl));
  spdlog::info("event=worker_begin job={} model={} degrade={} pid={}", a.job_id, a.model, a.degrade, ::getpid());
  auto progress_cb = [last = -1.0](double frac) mutable {
    if (frac - last < 0.02 && frac < 1.0) return;  // ~50 lines a job at most
    last = frac;
    emit({{"progress", frac}});
  };
  auto user_error = [&](const std::string& msg) {
    emit({{"error", msg}});
    spdlog::warn("event=worker_refused job={} reason=\"{}\"", a.job_id, msg);
    return kUserError;
  };

  if (auto sim = service::sim_profile(a.model)) {
    if (!service::sim_enabled())
      return user_error("simulation engines need SOROKA_ENABLE_SIM_ENGINE=1");
    listen_for_shed(nullptr);
    auto info = media::probe_media(a.input);
    auto t = service::run_simulation(*sim, fs::path(a.input).filename().string(),
                                     info ? info->duration_s : 0.0, a.degrade, progress_cb);
    if (!t) {
      emit({{"error", t.error().message}});
      return kFailure;
    }
    if (auto w = write_result(a.result, *t); !w) {
      emit({{"error", w.error().message}});
      return kFailure;
    }
    return kOk;
  }

  auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
  std::uint64_t available = std::numeric_limits<std::uint64_t>::max();
  if (sampler)
    if (auto s = sampler->sample()) available = s->available_bytes;
  oomguard::MemoryBudget budget(available);
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  engine::PocketsphinxParams ps = engine::pocketsphinx_default_params(a.model_dir);
  ps.max_sessions = 1;
  engine::PocketsphinxEngine engine(registry, ps);
  listen_for_shed(&registry);

  pipeline::TranscribeOptions opts;
  opts.language = a.language;
  // The service admitted the file already; here admission only guards against a file that
  // changed since. Its memory check is the cgroup's job now.
  opts.admission.max_file_bytes = std::numeric_limits<std::uint64_t>::max();
  // Cheaper settings after an OOM kill: shorter segments hold less audio and give the
  // decoder a smaller search (20 s -> 10 s -> 5 s).
  for (int i = 0; i < std::min(a.degrade, 2); ++i) opts.segmenter.max_segment_s /= 2;
  auto t = pipeline::transcribe_file(engine, a.input, opts, [&](double done, double total) {
    if (total > 0) progress_cb(std::min(1.0, done / total));
  });
  if (!t) {
    // ENOMEM and I/O are ours; everything else is about the input.
    if (t.error().code == ENOMEM || t.error().code == EIO) {
      emit({{"error", t.error().message}});
      return kFailure;
    }
    return user_error(t.error().message);
  }
  t->file = fs::path(a.input).filename().string();
  if (auto w = write_result(a.result, *t); !w) {
    emit({{"error", w.error().message}});
    return kFailure;
  }
  emit({{"progress", 1.0}});
  spdlog::info("event=worker_done job={} duration_s={:.1f} segments={}", a.job_id, t->duration_s,
               t->segments.size());
  return kOk;
}

}  // namespace

Runner add_worker_command(CLI::App& app, const Global&) {
  auto a = std::make_shared<WorkerArgs>();
  CLI::App* sub = app.add_subcommand("worker", "Run one job for `soroka serve` (internal)");
  sub->group("");  // hidden: only the service starts it
  sub->add_option("--job-id", a->job_id, "job id, for the log");
  sub->add_option("--input", a->input, "media file")->required();
  sub->add_option("--result", a->result, "where the result JSON goes (atomically)")->required();
  sub->add_option("--language", a->language, "language code");
  sub->add_option("--model", a->model, "pocketsphinx, or sim-* (simulation, tests only)");
  sub->add_option("--model-dir", a->model_dir, "pocketsphinx model directory");
  sub->add_option("--degrade", a->degrade, "0 = normal; higher = cheaper settings after OOM kills");
  return [a] { return run_worker(*a); };
}

}  // namespace soroka::cli
