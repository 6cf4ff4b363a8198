// Update: what the bot reads from one Telegram update, parsed with type checks (pure).
#include "telegram/update.h"

#include <algorithm>
#include <cctype>

namespace soroka::telegram {

namespace {

using nlohmann::json;

std::int64_t int_at(const json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_number_integer()) ? it->get<std::int64_t>() : 0;
}

std::string text_at(const json& o, const char* key, std::size_t max) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return {};
  std::string s = it->get<std::string>();
  if (s.size() > max) s.resize(max);
  return s;
}

const json* object_at(const json& o, const char* key) {
  auto it = o.find(key);
  return (it != o.end() && it->is_object()) ? &*it : nullptr;
}

std::optional<Media> media_of(const json& f, MediaKind kind) {
  Media m;
  m.kind = kind;
  m.file_id = text_at(f, "file_id", 256);
  if (m.file_id.empty()) return std::nullopt;
  if (auto it = f.find("file_size"); it != f.end() && it->is_number_integer() && it->get<std::int64_t>() > 0)
    m.file_size = it->get<std::uint64_t>();
  m.mime_type = text_at(f, "mime_type", 128);
  m.file_name = text_at(f, "file_name", 128);
  if (auto it = f.find("duration"); it != f.end() && it->is_number()) m.duration_s = it->get<double>();
  return m;
}

bool audio_or_video(const std::string& mime) {
  return mime.starts_with("audio/") || mime.starts_with("video/") || mime == "application/ogg";
}

void read_content(const json& msg, Incoming& in) {
  static const std::pair<const char*, MediaKind> kinds[] = {
      {"voice", MediaKind::voice}, {"audio", MediaKind::audio}, {"video", MediaKind::video},
      {"video_note", MediaKind::video_note}};
  for (const auto& [key, kind] : kinds)
    if (const json* f = object_at(msg, key)) {
      in.media = media_of(*f, kind);
      in.content = in.media ? Content::media : Content::unsupported;
      return;
    }
  if (const json* d = object_at(msg, "document")) {
    auto m = media_of(*d, MediaKind::document);
    in.content = (m && audio_or_video(m->mime_type)) ? Content::media : Content::unsupported;
    if (in.content == Content::media) in.media = std::move(m);
    return;
  }
  in.text = text_at(msg, "text", 4096);
  if (in.text.empty()) in.content = Content::unsupported;
  else in.content = in.text.front() == '/' ? Content::command : Content::text;
}

}  // namespace

const char* to_string(MediaKind k) noexcept {
  switch (k) {
    case MediaKind::voice: return "voice";
    case MediaKind::audio: return "audio";
    case MediaKind::video: return "video";
    case MediaKind::video_note: return "video_note";
    case MediaKind::document: return "document";
  }
  return "document";
}

namespace {

void read_from(const json& o, Incoming& in) {
  if (const json* from = object_at(o, "from")) {
    in.user_id = int_at(*from, "id");
    in.language_code = text_at(*from, "language_code", 16);
  }
}

// A button press: the keyboard's message and chat, who pressed, the data. Content::none
// when any of it is missing (an inline-mode message has no chat: nothing to edit).
void read_callback(const json& cb, Incoming& in) {
  const json* msg = object_at(cb, "message");
  const json* chat = msg ? object_at(*msg, "chat") : nullptr;
  in.callback_id = text_at(cb, "id", 64);
  in.callback_data = text_at(cb, "data", 64);
  if (!chat || int_at(*chat, "id") == 0 || in.callback_id.empty()) return;
  in.chat_id = int_at(*chat, "id");
  in.message_id = int_at(*msg, "message_id");
  read_from(cb, in);
  in.content = Content::callback;
}

}  // namespace

std::optional<Incoming> parse_update(const json& u) {
  if (!u.is_object()) return std::nullopt;
  auto id = u.find("update_id");
  if (id == u.end() || !id->is_number_integer()) return std::nullopt;
  Incoming in;
  in.update_id = id->get<std::int64_t>();
  if (const json* cb = object_at(u, "callback_query")) {
    read_callback(*cb, in);
    return in;
  }
  const json* msg = object_at(u, "message");
  if (!msg) return in;  // Content::none
  const json* chat = object_at(*msg, "chat");
  if (!chat || int_at(*chat, "id") == 0) return in;
  in.chat_id = int_at(*chat, "id");
  in.message_id = int_at(*msg, "message_id");
  read_from(*msg, in);
  read_content(*msg, in);
  return in;
}

Command parse_command(const std::string& text) {
  Command c;
  if (text.empty() || text.front() != '/') return c;
  const auto space = text.find_first_of(" \n\t");
  std::string head = text.substr(1, space == std::string::npos ? std::string::npos : space - 1);
  if (auto at = head.find('@'); at != std::string::npos) head.resize(at);
  std::transform(head.begin(), head.end(), head.begin(), [](unsigned char ch) { return std::tolower(ch); });
  c.name = head.substr(0, 32);
  if (space != std::string::npos) {
    auto b = text.find_first_not_of(" \n\t", space);
    if (b != std::string::npos) c.arg = text.substr(b, 64);
    while (!c.arg.empty() && std::isspace(static_cast<unsigned char>(c.arg.back()))) c.arg.pop_back();
  }
  return c;
}

}  // namespace soroka::telegram
