// Texts: every sentence the bot sends, in English and Russian.
#include "telegram/texts.h"

#include <array>
#include <utility>

#include <nlohmann/json.hpp>

namespace soroka::telegram {

namespace {

struct Pair {
  Text t;
  const char* en;
  const char* ru;
};

// clang-format off
constexpr Pair kTexts[] = {
  {Text::help,
   "Send me a voice message, a video note, an audio file or a video, and I will send the text back.\n"
   "/settings - language, format, speakers, engine\n/format - text, srt, vtt or file\n/language - en or ru\n"
   "/engine - the speech engine, when there is a choice\n"
   "/status - your jobs and place in line\n/cancel - stop your jobs",
   "Пришлите голосовое сообщение, кружок, аудиофайл или видео, и я пришлю текст.\n"
   "/settings - язык, формат, спикеры, движок\n/format - text, srt, vtt или file\n/language - en или ru\n"
   "/engine - движок распознавания, если есть выбор\n"
   "/status - ваши задания и место в очереди\n/cancel - остановить задания"},
  {Text::unsupported,
   "I can only transcribe voice messages, video notes, audio and video files. /help",
   "Я расшифровываю только голосовые, кружки, аудио и видео. /help"},
  {Text::not_allowed, "Sorry, this bot is private.", "Извините, это частный бот."},
  {Text::queued, "Queued…", "В очереди…"},
  {Text::waiting_memory, "Waiting for memory…", "Жду свободной памяти…"},
  {Text::transcribing, "Transcribing… {}%", "Расшифровываю… {}%"},
  {Text::empty_result, "(no speech recognized)", "(речь не распознана)"},
  {Text::failed, "Could not transcribe: {}", "Не удалось расшифровать: {}"},
  {Text::cancelled, "Cancelled.", "Отменено."},
  {Text::no_jobs, "You have no jobs in progress.", "У вас нет заданий в работе."},
  {Text::cancelled_n, "Cancelled: {}.", "Отменено: {}."},
  {Text::language_set, "Language: English.", "Язык: русский."},
  {Text::language_usage, "Usage: /language en or /language ru", "Использование: /language en или /language ru"},
  {Text::format_set, "Format: {}.", "Формат: {}."},
  {Text::format_usage, "Usage: /format text, srt, vtt or file", "Использование: /format text, srt, vtt или file"},
  {Text::status_header, "Memory: {}. Your jobs:", "Память: {}. Ваши задания:"},
  {Text::status_line, "{} - {}", "{} - {}"},
  {Text::not_admin, "This command is for administrators.", "Эта команда для администраторов."},
  {Text::busy, "Busy, try again later: {}", "Сервис занят, попробуйте позже: {}"},
  {Text::too_big,
   "The file is {}, over the {} limit of {}. Send a shorter recording (operators: a local Bot API server lifts Telegram's 20 MB limit).",
   "Файл {} больше ограничения «{}» ({}). Пришлите запись покороче (операторам: локальный Bot API сервер снимает ограничение Telegram в 20 МБ)."},
  {Text::busy_queued, "Busy right now ({}); your file is kept in line and will be transcribed.",
   "Сейчас занято ({}); файл сохранён в очереди и будет расшифрован."},
  {Text::see_file, "Done: the transcript is in the file below.", "Готово: текст в файле ниже."},
  {Text::download_failed, "Could not download the file from Telegram; please send it again.",
   "Не удалось скачать файл из Telegram; пришлите его ещё раз."},
  {Text::unknown_command, "Unknown command. /help", "Неизвестная команда. /help"},
  {Text::document_caption, "{}…", "{}…"},
  {Text::queued_place, "Queued, {} in line…", "В очереди, место {}…"},
  {Text::settings_head, "Settings (tap to change):", "Настройки (нажмите, чтобы изменить):"},
  {Text::saved, "Saved", "Сохранено"},
  {Text::status_queued, "queued, {} in line", "в очереди, место {}"},
  {Text::status_running, "transcribing, {}%", "расшифровывается, {}%"},
  {Text::status_waiting, "waiting for memory", "ждёт свободной памяти"},
  {Text::status_ended, "finished, the answer is on its way", "готово, ответ отправляется"},
  {Text::engine_language_note, "Note: {} does not transcribe \"{}\"; your recordings are sent as \"{}\".",
   "Примечание: {} не распознаёт «{}»; записи отправляются как «{}»."},
  {Text::engine_gone, "The engine {} is no longer offered; your recordings now go to {}. /settings",
   "Движок {} больше не доступен; записи теперь расшифровывает {}. /settings"},
  {Text::engine_set, "Engine: {}.", "Движок: {}."},
  {Text::engine_usage, "Usage: /engine NAME, one of: {}", "Использование: /engine ИМЯ, одно из: {}"},
  {Text::status_engine, "Engine: {}.", "Движок: {}."},
};
// clang-format on

// The command menu (setMyCommands), in the order shown; /stats is left out: it is for admins.
struct CommandText {
  const char* command;
  const char* en;
  const char* ru;
};
constexpr CommandText kCommands[] = {
    {"help", "How to use", "Как пользоваться"},
    {"settings", "Settings: language, format, engine", "Настройки: язык, формат, движок"},
    {"format", "Format: text, srt, vtt, file", "Формат: text, srt, vtt, file"},
    {"language", "Language: en, ru", "Язык: en, ru"},
    {"engine", "Speech engine, when there is a choice", "Движок распознавания, если есть выбор"},
    {"status", "My jobs", "Мои задания"},
    {"cancel", "Cancel my jobs", "Отменить мои задания"},
};

}  // namespace

Lang pick_lang(std::string_view chosen, std::string_view language_code) {
  if (chosen == "ru") return Lang::ru;
  if (chosen == "en") return Lang::en;
  for (std::string_view p : {"ru", "uk", "be"})
    if (language_code.starts_with(p)) return Lang::ru;
  return Lang::en;
}

const char* code(Lang l) noexcept { return l == Lang::ru ? "ru" : "en"; }

std::string_view text(Lang l, Text t) {
  for (const auto& p : kTexts)
    if (p.t == t) return l == Lang::ru ? p.ru : p.en;
  return "";
}

std::string place_text(Lang l, std::int64_t place) {
  const std::string n = std::to_string(place);
  if (l == Lang::ru) return n;
  const std::int64_t tens = place % 100, units = place % 10;
  if (tens >= 11 && tens <= 13) return n + "th";
  return n + (units == 1 ? "st" : units == 2 ? "nd" : units == 3 ? "rd" : "th");
}

std::string commands_json(Lang l) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& c : kCommands) out.push_back({{"command", c.command}, {"description", l == Lang::ru ? c.ru : c.en}});
  return out.dump();
}

}  // namespace soroka::telegram
