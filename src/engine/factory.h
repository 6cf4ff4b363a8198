// The engine factory: model names to engines, from Settings; the one place that knows them all.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"
#include "engine/engine.h"
#include "oomguard/model_registry.h"
#include "util/result.h"

namespace soroka::engine {

// The model a job runs when it names none.
inline constexpr std::string_view kDefaultModel = "pocketsphinx";

struct ModelInfo {
  std::string name;        // canonical: "pocketsphinx" (also for "whisper-1"), "sim-tiny", ...
  bool simulated = false;  // SIMULATION ONLY (engine/sim_engine.h)
  // Memory a worker running it needs before any input: model, a session's working memory and
  // the process (a remote engine: the process and its in-flight request buffers). 0 from the
  // EngineSettings overload for an engine whose figure is a setting (pocketsphinx:
  // worker.memory_per_job, also for a remote engine with a pocketsphinx fallback).
  std::uint64_t worker_bytes = 0;
  std::vector<std::string> languages;  // what it transcribes (pocketsphinx: en)
};

// The model a front end, the CLI or a worker names: "" is kDefaultModel, "whisper-1" (what
// OpenAI's clients send) is pocketsphinx, sim-* only with engine.simulation. Anything else is an
// error of kind invalid_request naming the models there are.
Result<ModelInfo> describe_model(const EngineSettings& engine, std::string_view name);
// The same with worker_bytes always filled in (worker.memory_per_job where the engine has no
// figure of its own).
Result<ModelInfo> describe_model(const Settings& settings, std::string_view name);

// The base of the scheduler's estimate for a worker of `model` (a job admitted at submission,
// so no check here): the engine's own figure, else `worker_memory` (worker.memory_per_job).
// A model no longer configured (settings reloaded since) gets `worker_memory`.
std::uint64_t worker_base_bytes(const EngineSettings& engine, std::string_view model,
                                std::uint64_t worker_memory);

// The engine for `name`, loading its model through `registry` on the first start(); the
// registry must outlive it. Errors as describe_model's. Adding an engine: a file for it and a
// line here (factory.cpp's table).
Result<std::unique_ptr<Engine>> make_engine(const Settings& settings, std::string_view name,
                                            oomguard::ModelRegistry& registry);

// The names describe_model accepts with these settings, for help and error texts.
std::vector<std::string> model_names(const EngineSettings& engine);

}  // namespace soroka::engine
