// The engine factory: model names to engines, from Settings; the one place that knows them all.
#include "engine/factory.h"

#include <fmt/format.h>

#include "engine/pocketsphinx_engine.h"
#include "engine/remote/remote_engine.h"
#include "engine/sim_engine.h"

namespace soroka::engine {

namespace {

// One entry per engine. `make` builds it; `worker_bytes` is its own figure for a worker (0:
// worker.memory_per_job decides).
struct Entry {
  std::string name;
  bool simulated = false;
  std::uint64_t worker_bytes = 0;
  std::function<std::unique_ptr<Engine>(const Settings&, oomguard::ModelRegistry&)> make;
};

std::unique_ptr<Engine> make_pocketsphinx(const Settings& s, oomguard::ModelRegistry& registry) {
  PocketsphinxParams ps = pocketsphinx_default_params(s.engine.model_dir);
  ps.max_sessions = 1;  // the CLI runs one file at a time, a worker one job
  return std::make_unique<PocketsphinxEngine>(registry, ps);
}

std::optional<Entry> find_entry(std::string_view name) {
  if (name.empty() || name == "pocketsphinx" || name == "whisper-1")
    return Entry{"pocketsphinx", false, 0, make_pocketsphinx};
  if (auto p = sim_profile(name))
    return Entry{p->name, true, sim_worker_bytes(*p), [p = *p](const Settings&, oomguard::ModelRegistry& r) {
                   return std::unique_ptr<Engine>(std::make_unique<SimEngine>(r, p));
                 }};
  return std::nullopt;
}

Result<Entry> checked_entry(const EngineSettings& engine, std::string_view name) {
  auto e = find_entry(name);
  if (e && (!e->simulated || engine.simulation)) return *e;
  if (e)
    return fail(FailureKind::invalid_request,
                fmt::format("model '{}' is a simulation, offered only with engine.simulation = true", name),
                EPERM);
  return fail(FailureKind::invalid_request,
              fmt::format("unknown model '{}' (models: {})", name, fmt::join(model_names(engine), ", ")),
              EINVAL);
}

// A remote engine: its key read now (before a worker's sandbox), its fallback made with it.
Result<std::unique_ptr<Engine>> make_remote(const Settings& settings, const RemoteEngineSettings& r,
                                            oomguard::ModelRegistry& registry) {
  auto key = resolve_api_key(r);
  if (!key) return std::unexpected(key.error());
  std::unique_ptr<Engine> fallback;
  if (!r.fallback.empty()) {
    auto f = make_engine(settings, r.fallback, registry);
    if (!f) return std::unexpected(f.error());
    fallback = std::move(*f);
  }
  return std::unique_ptr<Engine>(std::make_unique<remote::RemoteEngine>(r, std::move(*key), std::move(fallback)));
}

}  // namespace

Result<ModelInfo> describe_model(const EngineSettings& engine, std::string_view name) {
  if (const auto* r = find_remote(engine.remote, name)) {
    // A pocketsphinx fallback may load in the same worker: then worker.memory_per_job rules.
    std::uint64_t bytes = r->fallback.empty() ? kWorkerProcessBytes + remote::session_bytes(*r) : 0;
    return ModelInfo{r->name, false, bytes, r->languages};
  }
  auto e = checked_entry(engine, name);
  if (!e) return std::unexpected(e.error());
  return ModelInfo{e->name, e->simulated, e->worker_bytes, {"en"}};
}

Result<ModelInfo> describe_model(const Settings& settings, std::string_view name) {
  auto info = describe_model(settings.engine, name);
  if (info && info->worker_bytes == 0) info->worker_bytes = settings.service.worker_memory;
  return info;
}

std::uint64_t worker_base_bytes(const EngineSettings& engine, std::string_view model,
                                std::uint64_t worker_memory) {
  auto info = describe_model(engine, model);
  return info && info->worker_bytes > 0 ? info->worker_bytes : worker_memory;
}

Result<std::unique_ptr<Engine>> make_engine(const Settings& settings, std::string_view name,
                                            oomguard::ModelRegistry& registry) {
  if (const auto* r = find_remote(settings.engine.remote, name)) return make_remote(settings, *r, registry);
  auto e = checked_entry(settings.engine, name);
  if (!e) return std::unexpected(e.error());
  return e->make(settings, registry);
}

std::vector<std::string> model_names(const EngineSettings& engine) {
  std::vector<std::string> names = kLocalModelNames;
  if (engine.simulation)
    for (auto& n : sim_model_names()) names.push_back(std::move(n));
  for (const auto& r : engine.remote) names.push_back(r.name);
  return names;
}

}  // namespace soroka::engine
