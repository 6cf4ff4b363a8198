// Settings keyboard: the /settings message's inline keyboard, one row per chat preference, and
// the button data that comes back; pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "telegram/bot_store.h"
#include "telegram/engine_choice.h"
#include "telegram/texts.h"

namespace soroka::telegram {

// A button's choice: a preference and its new value, one of the row's options.
struct PrefChoice {
  Pref pref = Pref::lang;
  std::string value;
};

// The callback_data of a button: "p:<row key>:<value>", at most kCallbackDataMax (64) bytes
// whatever the value: an engine's long name goes as its hash (engine_token).
std::string choice_data(Pref p, std::string_view value);
// Back from callback_data: only a row and an option the keyboard offers now (the engines of
// `menu`); nullopt otherwise (old keyboards, forged data, an engine no longer configured).
std::optional<PrefChoice> parse_choice(std::string_view data, const EngineMenu& menu);

// The value in force of a fixed row (language, format, speakers): the chat's choice, else the
// default (the language in use, text, off). The engine's is engine_in_force (engine_choice.h).
std::string pref_value(const ChatPrefs& p, Pref pref, Lang lang);
// When `e` does not transcribe the chat's language: the note saying what its jobs are sent as
// instead; "" otherwise.
std::string language_note(const ChatPrefs& p, Lang lang, const EngineOption& e);
// The message: one line per row with the value in force, in `lang`; with an engine row, a note
// when the engine does not transcribe the chat's language (what its jobs are sent as instead).
std::string settings_text(const ChatPrefs& p, Lang lang, const EngineMenu& menu);
// {"inline_keyboard": [[buttons of row 1], ...]}: the option in force marked "✓ ". Engines
// (when the menu offers a choice) come last, kEnginesPerRow a row, the first kMaxEngineButtons
// of them (more are picked with /engine NAME).
nlohmann::json settings_keyboard(const ChatPrefs& p, Lang lang, const EngineMenu& menu);

// Telegram keeps an inline keyboard to 100 buttons; the fixed rows use 8, and 24 engines in
// rows of 3 keep the keyboard readable on a phone, far below that limit.
inline constexpr std::size_t kMaxEngineButtons = 24;
inline constexpr std::size_t kEnginesPerRow = 3;

}  // namespace soroka::telegram
