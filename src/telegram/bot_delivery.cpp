// Bot delivery: one thread watches the bot's jobs, edits progress into their placeholders
// (never faster than progress_interval, never the same text twice) and delivers results.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "telegram/bot.h"
#include "util/text.h"

namespace soroka::telegram {

namespace {

using nlohmann::json;
using namespace std::chrono_literals;
// Telegram's limits: a message's text 4096 characters, a caption 1024.
constexpr std::size_t kMessageChars = 4096;
constexpr std::size_t kCaptionChars = 900;  // opening lines, below 1024 with room for "…"
// "typing…" shows for 5 s; renewed this often while a job runs.
constexpr auto kActionEvery = 5s;

// UTF-8 code points: what Telegram counts (close enough: it counts UTF-16 units, which are
// more only for characters beyond the BMP, emoji; a transcript has none).
std::size_t chars(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// The first `max` code points, cut at the last line break or space within them.
std::string opening(const std::string& s, std::size_t max) {
  std::size_t n = 0, at = 0;
  for (; at < s.size(); ++at)
    if ((static_cast<unsigned char>(s[at]) & 0xC0) != 0x80 && ++n > max) break;
  if (at >= s.size()) return s;
  auto cut = s.find_last_of(" \n", at);
  return s.substr(0, cut == std::string::npos || cut == 0 ? at : cut);
}

std::string failure_text(const jobs::Job& job) {
  switch (job.failure_kind) {
    case FailureKind::invalid_input: return "the file is damaged or not audio";
    case FailureKind::unsupported_media: return "this format is not supported";
    case FailureKind::too_big: return "the recording is too long for this server";
    case FailureKind::timed_out: return "it took too long";
    default: return "an internal error";
  }
}

}  // namespace

void Bot::watch(const TakenUpdate& row, Lang lang, const std::string& format) {
  Watched w;
  w.row = row;
  w.lang = lang;
  w.format = format;
  w.shown = text(lang, Text::queued);
  std::lock_guard lock(mu_);
  watched_.emplace(row.update_id, std::move(w));  // stays in in_flight_ until delivered
}

void Bot::watch_loop() {
  while (!stop_) {
    ctx_.jobs.wait_any_finished(500ms);
    std::vector<std::int64_t> ids;
    {
      std::lock_guard lock(mu_);
      for (const auto& [id, w] : watched_) ids.push_back(id);
    }
    for (auto id : ids) {
      if (stop_) return;
      Watched w;
      {
        std::lock_guard lock(mu_);
        auto it = watched_.find(id);
        if (it == watched_.end()) continue;
        w = it->second;
      }
      look_at(w);
      std::lock_guard lock(mu_);
      if (auto it = watched_.find(id); it != watched_.end()) it->second = std::move(w);
    }
  }
}

// One look at a watched job: its result when finished, else progress when due. A chat that
// waits out a 429 or a backoff (Patience::defer) is passed over: the others go on.
void Bot::look_at(Watched& w) {
  if (!sender_.ready(w.row.chat_id)) return;
  auto v = ctx_.jobs.get(w.row.job_id, caller(w.row.chat_id));
  if (!v && v.error().reason != frontend::Refusal::not_found) return;  // the store: next time
  if (!v || jobs::is_terminal(v->job.state)) {
    if (!v) finish(w.row.update_id);  // purged: nothing left to say
    else if (deliver(w, v->job) == Delivery::deferred) return;  // again once the chat's wait is over
    std::lock_guard lock(mu_);
    watched_.erase(w.row.update_id);
    in_flight_.erase(w.row.update_id);
    return;
  }
  const auto now = std::chrono::steady_clock::now();
  const bool running = v->job.state == jobs::JobState::running;
  std::string t = !running ? (v->place > 0 ? fmt::format(fmt::runtime(text(w.lang, Text::queued_place)),
                                                         place_text(w.lang, v->place))
                                           : std::string(text(w.lang, Text::queued)))
                  : v->waiting_for_memory
                      ? std::string(text(w.lang, Text::waiting_memory))
                      : fmt::format(fmt::runtime(text(w.lang, Text::transcribing)),
                                    static_cast<int>(v->job.progress * 100));
  if (t != w.shown && now - w.last_edit >= cfg()->telegram.progress_interval) {
    edit(w, t);
    w.last_edit = now;
  }
  if (running && now - w.last_action >= kActionEvery) {
    w.last_action = now;
    api_->call("sendChatAction", {{"chat_id", w.row.chat_id}, {"action", "typing"}});
  }
}

Sent Bot::edit(Watched& w, const std::string& body) {
  if (w.row.reply_id == 0 || body == w.shown) return Sent::ignored;
  auto r = sender_.send("editMessageText",
                        {{"chat_id", w.row.chat_id}, {"message_id", w.row.reply_id}, {"text", body}},
                        w.row.chat_id, Patience::defer);
  if (r.status == Sent::ok || r.status == Sent::ignored) w.shown = body;
  return r.status;
}

namespace {

Bot::Delivery delivery_of(Sent s) {
  switch (s) {
    case Sent::ok:
    case Sent::ignored:
    case Sent::blocked: return Bot::Delivery::answered;
    case Sent::deferred: return Bot::Delivery::deferred;
    default: return Bot::Delivery::failed;
  }
}

}  // namespace

Bot::Delivery Bot::edit_or_send(const TakenUpdate& row, std::int64_t chat, const std::string& body,
                                Patience patience) {
  SendResult r;
  if (row.reply_id != 0)
    r = sender_.send("editMessageText", {{"chat_id", chat}, {"message_id", row.reply_id}, {"text", body}}, chat,
                     patience);
  if (row.reply_id == 0 || r.status == Sent::failed)  // no placeholder, or it was deleted
    r = sender_.send("sendMessage", {{"chat_id", chat}, {"text", body}}, chat, patience);
  return delivery_of(r.status);
}

// The result, then the update done. Finished only once the API confirmed the answer: a crash
// in between sends it again after the restart (an edit to the same text is "not modified").
Bot::Delivery Bot::deliver(Watched& w, const jobs::Job& job) {
  Delivery d = Delivery::failed;
  const auto say = [&](const std::string& body) { return edit_or_send(w.row, w.row.chat_id, body, Patience::defer); };
  if (job.state == jobs::JobState::succeeded) {
    const bool text_format = w.format == "text";
    const auto fmt_ = w.format == "srt" ? service::ResponseFormat::srt
                      : w.format == "vtt" ? service::ResponseFormat::vtt
                                          : service::ResponseFormat::text;
    auto r = frontend::JobService::render_result(job, fmt_);
    std::string body = r ? r->body : std::string();
    while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back()))) body.pop_back();
    if (!r) d = say(fmt::format(fmt::runtime(text(w.lang, Text::failed)), "the result was lost"));
    else if (body.empty()) d = say(std::string(text(w.lang, Text::empty_result)));
    else if (text_format && chars(body) <= kMessageChars) d = say(body);
    else d = deliver_document(w, body, w.format == "srt" ? ".srt" : w.format == "vtt" ? ".vtt" : ".txt");
  } else if (job.state == jobs::JobState::failed) {
    d = say(fmt::format(fmt::runtime(text(w.lang, Text::failed)), failure_text(job)));
  } else {
    d = say(std::string(text(w.lang, Text::cancelled)));
  }
  if (d == Delivery::deferred) return d;
  spdlog::info("event=telegram_delivered chat={} update={} job={} state={} answered={}", w.row.chat_id,
               w.row.update_id, job.id, jobs::to_string(job.state), d == Delivery::answered);
  if (d == Delivery::answered) finish(w.row.update_id);
  return d;
}

// The transcript as a file, its opening lines as the caption; then the placeholder says so.
//
// Sent twice? Telegram has no idempotency key, so a document whose sendDocument was carried
// out but whose answer we never stored is sent again by the next attempt. That window is kept
// to: Telegram acting on the request -> its answer arriving -> set_document() committing (one
// SQLite write, a few ms). A lost answer (a dropped connection, a timeout, kill -9 in those
// milliseconds) falls in it; everything after the commit (the placeholder's edit, `done`)
// is resumed without sending the document again, because document_id says it went.
Bot::Delivery Bot::deliver_document(Watched& w, const std::string& body, const std::string& ext) {
  if (w.row.document_id == 0) {
    json fields = {{"chat_id", std::to_string(w.row.chat_id)},
                   {"caption", opening(body, kCaptionChars) + (chars(body) > kCaptionChars ? "…" : "")}};
    Upload u{"document", "transcript" + ext, body, "text/plain"};
    auto r = sender_.send_file("sendDocument", fields, u, w.row.chat_id, Patience::defer);
    if (r.status != Sent::ok) return delivery_of(r.status);
    const auto id = r.result.is_object() ? r.result.value("message_id", std::int64_t{0}) : 0;
    w.row.document_id = id > 0 ? id : 1;  // sent, even if the answer lacks the id
    if (auto s = store_->set_document(w.row.update_id, w.row.document_id); !s)
      spdlog::error("event=telegram_store_failed op=set_document error=\"{}\"", log_escape(s.error().message));
  }
  const Sent e = edit(w, std::string(text(w.lang, Text::see_file)));
  return e == Sent::deferred ? Delivery::deferred : Delivery::answered;
}

}  // namespace soroka::telegram
