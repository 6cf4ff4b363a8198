// Texts: every sentence the bot sends, in English and Russian.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace soroka::telegram {

enum class Lang { en, ru };
// The chat's choice when set ("en", "ru"), else from the user's language_code ("ru", "ru-RU",
// also "uk" and "be", who mostly read Russian better than English), else English.
Lang pick_lang(std::string_view chosen, std::string_view language_code);
const char* code(Lang l) noexcept;

enum class Text {
  help,              // /start, /help, and any text that is not a command
  unsupported,       // a photo, a sticker, a document that is not audio or video
  not_allowed,       // not on the allowlist
  queued,            // the placeholder: "Queued"
  waiting_memory,    // running, waiting for memory
  transcribing,      // {} percent
  empty_result,      // no speech recognized
  failed,            // {} reason
  cancelled,
  no_jobs,           // /cancel, /status with nothing in flight
  cancelled_n,       // {} jobs
  language_set,      // /language: shows the one now used
  language_usage,
  format_set,        // {} format
  format_usage,
  status_header,     // {} memory level
  status_line,       // {} job id, {} state
  not_admin,
  busy,              // {} reason: refused, try later
  busy_queued,       // {} reason: not now; kept and tried again
  see_file,          // the placeholder once the transcript went as a file
  too_big,           // {} size, {} limit name, {} limit
  download_failed,
  unknown_command,
  document_caption,  // {} opening lines
  queued_place,      // the placeholder with a place: {} place (place_text)
  settings_head,     // /settings: the first line
  saved,             // a /settings button pressed: the toast
  status_queued,     // /status: {} place
  status_running,    // /status: {} percent
  status_waiting,    // /status: running, waiting for memory
  status_ended,      // /status: finished, the answer on its way
  engine_language_note,  // /settings: {} engine does not transcribe {} chat language; sent as {}
  engine_gone,       // a stored engine no longer offered: {} it, {} the default now used
  engine_set,        // /engine NAME: {} engine
  engine_usage,      // /engine without a known name: {} the names offered
  status_engine,     // /status: {} the engine in force
};
// The text with fmt-style {} placeholders; the caller formats it.
std::string_view text(Lang l, Text t);

// A place in line as the texts say it: "1st", "2nd", "23rd", "11th" in English, "3" in
// Russian (whose texts say "место 3").
std::string place_text(Lang l, std::int64_t place);

// The commands for setMyCommands, as a JSON array text, per language.
std::string commands_json(Lang l);

}  // namespace soroka::telegram
