// Settings keyboard: the /settings message's inline keyboard, one row per chat preference, and
// the button data that comes back; pure.
#include "telegram/settings_keyboard.h"

#include <vector>

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

// One entry per row of the keyboard. A new preference is one more row here, a Pref, a
// ChatPrefs field and its column in BotStore.
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

}  // namespace

std::string choice_data(Pref p, std::string_view value) {
  const Row* r = row_of(p);
  return std::string("p:") + (r ? r->key : "?") + ":" + std::string(value);
}

std::optional<PrefChoice> parse_choice(std::string_view data) {
  if (!data.starts_with("p:")) return std::nullopt;
  data.remove_prefix(2);
  const auto colon = data.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view key = data.substr(0, colon), value = data.substr(colon + 1);
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
  }
  return {};
}

std::string settings_text(const ChatPrefs& p, Lang lang) {
  std::string out(text(lang, Text::settings_head));
  for (const auto& r : rows()) {
    const std::string now = pref_value(p, r.pref, lang);
    std::string shown = now;
    for (const auto& o : r.options)
      if (now == o.value) shown = label(o, lang);
    out += "\n" + std::string(lang == Lang::ru ? r.title_ru : r.title_en) + ": " + shown;
  }
  return out;
}

nlohmann::json settings_keyboard(const ChatPrefs& p, Lang lang) {
  auto keyboard = nlohmann::json::array();
  for (const auto& r : rows()) {
    const std::string now = pref_value(p, r.pref, lang);
    auto buttons = nlohmann::json::array();
    for (const auto& o : r.options)
      buttons.push_back({{"text", (now == o.value ? "✓ " : "") + std::string(label(o, lang))},
                         {"callback_data", choice_data(r.pref, o.value)}});
    keyboard.push_back(std::move(buttons));
  }
  return {{"inline_keyboard", std::move(keyboard)}};
}

}  // namespace soroka::telegram
