// Engine choice: which engines the bot's /settings offers (from the running settings), the one
// a chat's stored choice puts in force, and the language its jobs are sent with; pure.
#include "telegram/engine_choice.h"

#include <algorithm>
#include <cstdint>

#include <fmt/format.h>

#include "engine/factory.h"

namespace soroka::telegram {

namespace {

// The name an option goes by and what it transcribes; a name the factory does not know (a
// telegram.model set wrong) is kept as it is, so its jobs fail with the factory's reason.
EngineOption option_of(const EngineSettings& e, const std::string& name) {
  auto info = engine::describe_model(e, name);
  if (!info) return {name, {"en"}};
  return {info->name, info->languages.empty() ? std::vector<std::string>{"en"} : info->languages};
}

// FNV-1a, 64 bits: stable across builds and restarts (an old keyboard's button still parses).
std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

}  // namespace

const EngineOption* EngineMenu::find(std::string_view name) const {
  for (const auto& o : options)
    if (o.name == name) return &o;
  return nullptr;
}

EngineMenu engine_menu(const Settings& s) {
  EngineMenu m;
  m.options.push_back(option_of(s.engine, s.telegram.model));
  for (const auto& name : engine::model_names(s.engine)) {
    auto o = option_of(s.engine, name);
    if (o.name != name || m.find(o.name)) continue;  // an alias, or the default already listed
    m.options.push_back(std::move(o));
  }
  return m;
}

EngineInForce engine_in_force(const EngineMenu& menu, std::string_view stored) {
  if (stored.empty()) return {&menu.fallback(), false};
  if (const auto* o = menu.find(stored)) return {o, false};
  return {&menu.fallback(), true};
}

std::string speech_language(std::string_view chat_lang, const EngineOption& engine) {
  const auto& l = engine.languages;
  if (std::find(l.begin(), l.end(), chat_lang) != l.end()) return std::string(chat_lang);
  return l.empty() ? "en" : l.front();
}

std::string engine_token(std::string_view name, std::size_t room) {
  if (name.size() <= room) return std::string(name);
  return fmt::format("#{:016x}", fnv1a(name));
}

const EngineOption* engine_of_token(const EngineMenu& menu, std::string_view token) {
  if (token.empty()) return nullptr;
  for (const auto& o : menu.options)
    if (token == o.name || (token.starts_with('#') && token == fmt::format("#{:016x}", fnv1a(o.name)))) return &o;
  return nullptr;
}

}  // namespace soroka::telegram
