// Settings keyboard: the /settings message's inline keyboard, one row per chat preference, and
// the button data that comes back; pure.
#include "telegram/settings_keyboard.h"

#include <algorithm>
#include <vector>

#include <fmt/format.h>

namespace soroka::telegram {

namespace {

struct Option {
  const char* value;
  const char* en;
  const char* ru;
};
struct Row {
  Pref pref;
  const char* key;  // in callback_data
  const char* title_en;
  const char* title_ru;
  std::vector<Option> options;
};

// One entry per fixed row of the keyboard. A new preference is one more row here, a Pref, a
// ChatPrefs field and its column in BotStore (the engine row is built from the EngineMenu).
const std::vector<Row>& rows() {
  static const std::vector<Row> kRows = {
      {Pref::lang, "lang", "Language", "Язык", {{"en", "English", "English"}, {"ru", "Русский", "Русский"}}},
      {Pref::format, "fmt", "Format", "Формат",
       {{"text", "Text", "Текст"}, {"srt", "SRT", "SRT"}, {"vtt", "VTT", "VTT"}, {"file", "File", "Файл"}}},
      {Pref::speakers, "spk", "Speakers", "Спикеры", {{"off", "Off", "Выкл."}, {"on", "On", "Вкл."}}},
  };
  return kRows;
}

const Row* row_of(Pref p) {
  for (const auto& r : rows())
    if (r.pref == p) return &r;
  return nullptr;
}

const char* label(const Option& o, Lang lang) { return lang == Lang::ru ? o.ru : o.en; }

// The engine row's key and title (its options come from the menu, not from rows()).
constexpr std::string_view kEngineKey = "eng";
constexpr std::size_t kEngineRoom = kCallbackDataMax - 3 - kEngineKey.size();  // "p:" + key + ":"

const char* engine_title(Lang lang) { return lang == Lang::ru ? "Движок" : "Engine"; }

// "pocketsphinx (en)", "whisper (en, ru)".
std::string engine_shown(const EngineOption& o) { return fmt::format("{} ({})", o.name, fmt::join(o.languages, ", ")); }

// The engine line, and the note when the engine does not transcribe the chat's language.
std::string engine_lines(const ChatPrefs& p, Lang lang, const EngineMenu& menu) {
  const EngineOption& e = *engine_in_force(menu, p.engine).option;
  std::string out = "\n" + std::string(engine_title(lang)) + ": " + engine_shown(e);
  if (auto note = language_note(p, lang, e); !note.empty()) out += "\n" + note;
  return out;
}

nlohmann::json engine_rows(const ChatPrefs& p, const EngineMenu& menu) {
  auto rows = nlohmann::json::array();
  const std::string now = engine_in_force(menu, p.engine).option->name;
  const std::size_t n = std::min(menu.options.size(), kMaxEngineButtons);
  for (std::size_t i = 0; i < n; ++i) {
    if (i % kEnginesPerRow == 0) rows.push_back(nlohmann::json::array());
    const std::string& name = menu.options[i].name;
    rows.back().push_back(
        {{"text", (now == name ? "✓ " : "") + name}, {"callback_data", choice_data(Pref::engine, name)}});
  }
  return rows;
}

}  // namespace

std::string choice_data(Pref p, std::string_view value) {
  if (p == Pref::engine) return fmt::format("p:{}:{}", kEngineKey, engine_token(value, kEngineRoom));
  const Row* r = row_of(p);
  return std::string("p:") + (r ? r->key : "?") + ":" + std::string(value);
}

std::optional<PrefChoice> parse_choice(std::string_view data, const EngineMenu& menu) {
  if (!data.starts_with("p:")) return std::nullopt;
  data.remove_prefix(2);
  const auto colon = data.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view key = data.substr(0, colon), value = data.substr(colon + 1);
  if (key == kEngineKey) {
    const EngineOption* e = menu.offered() ? engine_of_token(menu, value) : nullptr;
    return e ? std::optional(PrefChoice{Pref::engine, e->name}) : std::nullopt;
  }
  for (const auto& r : rows())
    if (key == r.key)
      for (const auto& o : r.options)
        if (value == o.value) return PrefChoice{r.pref, o.value};
  return std::nullopt;
}

std::string pref_value(const ChatPrefs& p, Pref pref, Lang lang) {
  switch (pref) {
    case Pref::lang: return p.lang.empty() ? code(lang) : p.lang;
    case Pref::format: return p.format.empty() ? "text" : p.format;
    case Pref::speakers: return p.speakers == "on" ? "on" : "off";
    case Pref::engine: break;  // not a fixed row: its value needs the menu (engine_in_force)
  }
  return {};
}

std::string language_note(const ChatPrefs& p, Lang lang, const EngineOption& e) {
  const std::string chat = pref_value(p, Pref::lang, lang);
  const std::string sent = speech_language(chat, e);
  return sent == chat ? "" : fmt::format(fmt::runtime(text(lang, Text::engine_language_note)), e.name, chat, sent);
}

std::string settings_text(const ChatPrefs& p, Lang lang, const EngineMenu& menu) {
  std::string out(text(lang, Text::settings_head));
  for (const auto& r : rows()) {
    const std::string now = pref_value(p, r.pref, lang);
    std::string shown = now;
    for (const auto& o : r.options)
      if (now == o.value) shown = label(o, lang);
    out += "\n" + std::string(lang == Lang::ru ? r.title_ru : r.title_en) + ": " + shown;
  }
  if (menu.offered()) out += engine_lines(p, lang, menu);
  return out;
}

nlohmann::json settings_keyboard(const ChatPrefs& p, Lang lang, const EngineMenu& menu) {
  auto keyboard = nlohmann::json::array();
  for (const auto& r : rows()) {
    const std::string now = pref_value(p, r.pref, lang);
    auto buttons = nlohmann::json::array();
    for (const auto& o : r.options)
      buttons.push_back({{"text", (now == o.value ? "✓ " : "") + std::string(label(o, lang))},
                         {"callback_data", choice_data(r.pref, o.value)}});
    keyboard.push_back(std::move(buttons));
  }
  if (menu.offered())
    for (auto& row : engine_rows(p, menu)) keyboard.push_back(std::move(row));
  return {{"inline_keyboard", std::move(keyboard)}};
}

}  // namespace soroka::telegram
