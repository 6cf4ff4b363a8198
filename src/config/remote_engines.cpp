// [engines.NAME]: Whisper-class servers configured as engines, read from TOML and checked at load.
#include "config/remote_engines.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include <fmt/format.h>

#include "config/engines_toml.h"
#include "util/file_reader.h"
#include "util/parse.h"
#include "util/units.h"

namespace soroka {

namespace {

using Setter = std::function<Result<void>(RemoteEngineSettings&, const toml::node&)>;

Result<std::string> text_of(const toml::node& n) {
  if (auto t = n.value_exact<std::string>()) return *t;
  return fail("expected a string", EINVAL);
}

Result<std::vector<std::string>> list_of(const toml::node& n) {
  const toml::array* arr = n.as_array();
  if (!arr) return fail("expected a list of strings", EINVAL);
  std::vector<std::string> out;
  for (const auto& el : *arr) {
    auto t = el.value_exact<std::string>();
    if (!t) return fail("expected a list of strings", EINVAL);
    out.push_back(*t);
  }
  return out;
}

Result<std::uint64_t> count_of(const toml::node& n) {
  auto i = n.value_exact<std::int64_t>();
  if (!i || *i <= 0) return fail("expected a positive integer", EINVAL);
  return static_cast<std::uint64_t>(*i);
}

// Sizes as in the rest of the file: bytes, or "25MB" / "24MiB".
Result<std::uint64_t> size_of(const toml::node& n) {
  if (auto i = n.value_exact<std::int64_t>(); i && *i > 0) return static_cast<std::uint64_t>(*i);
  if (auto t = n.value_exact<std::string>())
    if (auto v = parse_size(*t); v && *v > 0) return *v;
  return fail("expected bytes or a size like \"25MB\"", EINVAL);
}

template <class T, class F>
Setter with(F get, std::function<void(RemoteEngineSettings&, T)> put) {
  return [get, put](RemoteEngineSettings& e, const toml::node& n) -> Result<void> {
    auto v = get(n);
    if (!v) return std::unexpected(v.error());
    put(e, std::move(*v));
    return {};
  };
}

const std::map<std::string, Setter, std::less<>>& setters() {
  using E = RemoteEngineSettings;
  using ms = std::chrono::milliseconds;
  static const std::map<std::string, Setter, std::less<>> m = {
      {"type", [](E& e, const toml::node& n) -> Result<void> {
         auto t = text_of(n);
         if (!t) return std::unexpected(t.error());
         if (*t == "openai") e.type = RemoteProtocol::openai;
         else if (*t == "whisper.cpp") e.type = RemoteProtocol::whisper_cpp;
         else return fail("expected \"openai\" or \"whisper.cpp\"", EINVAL);
         return {};
       }},
      {"url", with<std::string>(text_of, [](E& e, std::string v) { e.urls = {std::move(v)}; })},
      {"urls", with<std::vector<std::string>>(list_of, [](E& e, auto v) { e.urls = std::move(v); })},
      {"api_key", with<std::string>(text_of, [](E& e, std::string v) { e.api_key = std::move(v); })},
      {"api_key_file", with<std::string>(text_of, [](E& e, std::string v) { e.api_key_file = std::move(v); })},
      {"model", with<std::string>(text_of, [](E& e, std::string v) { e.model = std::move(v); })},
      {"languages", with<std::vector<std::string>>(list_of, [](E& e, auto v) { e.languages = std::move(v); })},
      {"max_concurrency", with<std::uint64_t>(count_of, [](E& e, std::uint64_t v) { e.max_concurrency = v; })},
      {"timeout_ms", with<std::uint64_t>(count_of, [](E& e, std::uint64_t v) { e.timeout = ms(v); })},
      {"max_request_bytes", with<std::uint64_t>(size_of, [](E& e, std::uint64_t v) { e.max_request_bytes = v; })},
      {"chunk_seconds", with<std::uint64_t>(count_of, [](E& e, std::uint64_t v) { e.chunk_seconds = static_cast<double>(v); })},
      {"max_tries", with<std::uint64_t>(count_of, [](E& e, std::uint64_t v) { e.max_tries = v; })},
      {"unreachable_wait_ms", with<std::uint64_t>(count_of, [](E& e, std::uint64_t v) { e.unreachable_wait = ms(v); })},
      {"audio_format", [](E& e, const toml::node& n) -> Result<void> {
         auto t = text_of(n);
         if (!t) return std::unexpected(t.error());
         if (*t != "flac" && *t != "wav") return fail("expected \"flac\" or \"wav\"", EINVAL);
         e.audio_format = *t;
         return {};
       }},
      {"fallback", with<std::string>(text_of, [](E& e, std::string v) { e.fallback = std::move(v); })},
  };
  return m;
}

Result<void> apply_one(RemoteEngineSettings& e, const toml::table& t, const std::string& origin) {
  for (const auto& [key, value] : t) {
    const auto it = setters().find(key.str());
    if (it == setters().end())
      return fail(fmt::format("{}: unknown key engines.{}.{}", origin, e.name, key.str()), EINVAL);
    if (auto r = it->second(e, value); !r)
      return fail(fmt::format("{}: invalid engines.{}.{}: {}", origin, e.name, key.str(), r.error().message),
                  EINVAL);
  }
  return {};
}

bool valid_name(std::string_view n) {
  // Names travel in URLs' forms, file names and log lines: a short plain token.
  return !n.empty() && n.size() <= 64 && std::all_of(n.begin(), n.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.';
  });
}

bool valid_url(std::string_view u) {
  const std::size_t scheme = u.starts_with("http://") ? 7 : u.starts_with("https://") ? 8 : 0;
  return scheme > 0 && u.size() > scheme && u[scheme] != '/' && u.size() <= 2048 &&
         std::none_of(u.begin(), u.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; });
}

Result<void> validate_one(const RemoteEngineSettings& e, const std::vector<std::string>& names,
                          const std::string& origin) {
  auto bad = [&](std::string_view why) {
    return fail(fmt::format("{}: invalid [engines.{}]: {}", origin, e.name, why), EINVAL);
  };
  if (e.urls.empty()) return bad("set url (or urls) to the server's base, e.g. \"http://gpu1:8000/v1\"");
  for (const auto& u : e.urls)
    if (!valid_url(u)) return bad(fmt::format("url \"{}\" is not an http:// or https:// URL", u));
  if (!e.api_key.empty() && !e.api_key_file.empty()) return bad("set api_key or api_key_file, not both");
  if (e.languages.empty()) return bad("languages is empty");
  // More than 64 requests at once from one job is a misconfiguration, not a GPU fleet.
  if (e.max_concurrency > 64) return bad("max_concurrency must be at most 64");
  // Segments are up to 20 s (cut at pauses): a chunk must hold at least one and a half.
  if (e.chunk_seconds < 30 || e.chunk_seconds > 3600) return bad("chunk_seconds must be within [30, 3600]");
  // 256 KiB holds ~8 s of 16 kHz FLAC: anything smaller cannot carry a segment.
  if (e.max_request_bytes < (256u << 10)) return bad("max_request_bytes must be at least 256KiB");
  if (e.max_tries > 100) return bad("max_tries must be at most 100");
  if (!e.fallback.empty()) {
    if (e.fallback == e.name) return bad("fallback names the engine itself");
    if (std::find(names.begin(), names.end(), e.fallback) == names.end())
      return bad(fmt::format("fallback \"{}\" is not a model ({})", e.fallback, fmt::join(names, ", ")));
    if (std::find(kLocalModelNames.begin(), kLocalModelNames.end(), e.fallback) == kLocalModelNames.end())
      return bad("fallback must be a local model (pocketsphinx)");
  }
  return {};
}

}  // namespace

const char* to_string(RemoteProtocol p) noexcept {
  return p == RemoteProtocol::whisper_cpp ? "whisper.cpp" : "openai";
}

Result<void> apply_engines_toml(std::vector<RemoteEngineSettings>& out, const toml::table& doc,
                                const std::string& origin) {
  const toml::node* engines = doc.get("engines");
  if (!engines) return {};
  const toml::table* all = engines->as_table();
  if (!all) return fail(origin + ": 'engines' must be tables [engines.NAME]", EINVAL);
  for (const auto& [name, node] : *all) {
    const toml::table* t = node.as_table();
    if (!t) return fail(fmt::format("{}: engines.{} must be a table [engines.{}]", origin, name.str(), name.str()), EINVAL);
    RemoteEngineSettings e;
    e.name = std::string(name.str());
    if (!valid_name(e.name))
      return fail(fmt::format("{}: invalid engine name \"{}\": letters, digits, '-', '_', '.' (at most 64)",
                              origin, e.name),
                  EINVAL);
    if (auto r = apply_one(e, *t, origin); !r) return r;
    std::erase_if(out, [&](const RemoteEngineSettings& o) { return o.name == e.name; });
    out.push_back(std::move(e));
  }
  return {};
}

Result<void> validate_remote_engines(const std::vector<RemoteEngineSettings>& engines, const std::string& origin) {
  const auto& local = kLocalModelNames;
  std::vector<std::string> names = local;
  for (const auto& e : engines) {
    if (std::find(local.begin(), local.end(), e.name) != local.end() || e.name.starts_with("sim-"))
      return fail(fmt::format("{}: invalid [engines.{}]: the name is a built-in model's", origin, e.name), EINVAL);
    names.push_back(e.name);
  }
  for (const auto& e : engines)
    if (auto r = validate_one(e, names, origin); !r) return r;
  return {};
}

Result<std::string> resolve_api_key(const RemoteEngineSettings& e) {
  if (!e.api_key.empty() || e.api_key_file.empty()) return e.api_key;
  auto text = read_file(e.api_key_file);
  if (!text) return std::unexpected(std::move(text.error()).with_context(fmt::format("engines.{}.api_key_file", e.name)));
  std::string_view rest = *text;
  const std::string key(parse::trim(parse::next_line(rest)));
  if (key.empty()) return fail(fmt::format("engines.{}.api_key_file {} is empty", e.name, e.api_key_file), EINVAL);
  return key;
}

const RemoteEngineSettings* find_remote(const std::vector<RemoteEngineSettings>& engines,
                                        std::string_view name) {
  for (const auto& e : engines)
    if (e.name == name) return &e;
  return nullptr;
}

}  // namespace soroka
