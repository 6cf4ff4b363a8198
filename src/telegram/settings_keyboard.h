// Settings keyboard: the /settings message's inline keyboard, one row per chat preference, and
// the button data that comes back; pure.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "telegram/bot_store.h"
#include "telegram/texts.h"

namespace soroka::telegram {

// A button's choice: a preference and its new value, one of the row's options.
struct PrefChoice {
  Pref pref = Pref::lang;
  std::string value;
};

// The callback_data of a button: "p:<row key>:<value>" (Telegram allows 64 bytes).
std::string choice_data(Pref p, std::string_view value);
// Back from callback_data: only a row and an option the keyboard offers; nullopt otherwise
// (old keyboards, forged data).
std::optional<PrefChoice> parse_choice(std::string_view data);

// The value in force: the chat's choice, else the default (the language in use, text).
std::string pref_value(const ChatPrefs& p, Pref pref, Lang lang);
// The message: one line per row with the value in force, in `lang`.
std::string settings_text(const ChatPrefs& p, Lang lang);
// {"inline_keyboard": [[buttons of row 1], ...]}: the option in force marked "✓ ".
nlohmann::json settings_keyboard(const ChatPrefs& p, Lang lang);

}  // namespace soroka::telegram
