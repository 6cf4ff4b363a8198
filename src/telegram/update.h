// Update: what the bot reads from one Telegram update, parsed with type checks (pure).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace soroka::telegram {

enum class MediaKind { voice, audio, video, video_note, document };
const char* to_string(MediaKind k) noexcept;

struct Media {
  MediaKind kind = MediaKind::voice;
  std::string file_id;
  std::uint64_t file_size = 0;  // declared by Telegram; 0: not declared
  std::string mime_type;
  std::string file_name;  // bounded to 128 bytes; empty for voice and video notes
  double duration_s = 0;
};

// What the message is, for the bot's answer.
enum class Content {
  media,        // something to transcribe
  command,      // text starting with '/'
  text,         // other text
  unsupported,  // a photo, a sticker, a document that is not audio or video...
  callback,     // a button of an inline keyboard (/settings) was pressed
  none,         // not a message (an edited message, a callback): no answer
};

struct Incoming {
  std::int64_t update_id = 0;
  std::int64_t chat_id = 0;
  std::int64_t user_id = 0;
  std::int64_t message_id = 0;
  std::string language_code;  // the user's, from Telegram ("ru", "en-GB"), bounded
  Content content = Content::none;
  std::string text;         // commands and text, bounded to 4096 bytes
  std::optional<Media> media;
  // A callback: its id (for answerCallbackQuery) and data (at most 64 bytes by Telegram);
  // message_id is then the message carrying the keyboard.
  std::string callback_id;
  std::string callback_data;
};

// nullopt: not an update at all (no integer update_id). Never throws.
std::optional<Incoming> parse_update(const nlohmann::json& u);

// "/format srt" -> {"format", "srt"}; "/help@SorokaBot" -> {"help", ""}. Lower-cased command.
struct Command {
  std::string name;
  std::string arg;
};
Command parse_command(const std::string& text);

}  // namespace soroka::telegram
