// Engine choice: which engines the bot's /settings offers (from the running settings), the one
// a chat's stored choice puts in force, and the language its jobs are sent with; pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/settings.h"

namespace soroka::telegram {

struct EngineOption {
  std::string name;                    // what the job's `model` names
  std::vector<std::string> languages;  // what it transcribes (ISO 639-1), in its order
};

// The engines a chat may pick: the bot's default (telegram.model) first, then pocketsphinx,
// the simulations when engine.simulation is on, and each [engines.NAME] in the file's order;
// aliases ("whisper-1") left out. One option only: /settings shows no engine row.
struct EngineMenu {
  std::vector<EngineOption> options;

  const EngineOption& fallback() const { return options.front(); }
  bool offered() const { return options.size() > 1; }
  const EngineOption* find(std::string_view name) const;
};

EngineMenu engine_menu(const Settings& s);

// The engine a chat's jobs go to, from its stored choice ("" : none made).
struct EngineInForce {
  const EngineOption* option = nullptr;  // never null: the choice, or the default
  bool stale = false;  // a choice was stored but is no longer offered: the default instead
};
EngineInForce engine_in_force(const EngineMenu& menu, std::string_view stored);

// The language a job is sent with: the chat's language when the engine lists it, else the
// engine's first (pocketsphinx: "en"), so a job is never refused for its language.
std::string speech_language(std::string_view chat_lang, const EngineOption& engine);

// An engine button's value in callback_data: the name when "p:eng:" + name fits Telegram's
// 64 bytes, else "#" and 16 hex digits of the name's FNV-1a hash ('#' is never in a name).
inline constexpr std::size_t kCallbackDataMax = 64;
std::string engine_token(std::string_view name, std::size_t room);
// Back: the offered engine whose name or hash `token` is; nullptr for anything else.
const EngineOption* engine_of_token(const EngineMenu& menu, std::string_view token);

}  // namespace soroka::telegram
