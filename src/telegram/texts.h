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
};
// The text with fmt-style {} placeholders; the caller formats it.
std::string_view text(Lang l, Text t);

// The commands for setMyCommands, as a JSON array text, per language.
std::string commands_json(Lang l);

}  // namespace soroka::telegram
