// Bot intake: a media message's size check, placeholder, download and submit, each step
// recorded so that a restart resumes where the last run stopped.
#include <unistd.h>

#include <filesystem>
#include <random>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "telegram/bot.h"
#include "telegram/settings_keyboard.h"
#include "util/text.h"
#include "util/units.h"

namespace soroka::telegram {

namespace {

using nlohmann::json;
// getFile of the cloud Bot API serves files up to 20 MB; a local server (--local) 2000 MB.
constexpr std::uint64_t kCloudFileLimit = 20ull * 1000 * 1000;
constexpr std::uint64_t kLocalFileLimit = 2000ull * 1000 * 1000;

bool transient(frontend::Refusal r) {
  using frontend::Refusal;
  return r == Refusal::shutting_down || r == Refusal::memory_critical || r == Refusal::degraded ||
         r == Refusal::store_unavailable || r == Refusal::probe_failed;
}

std::string extension_of(const Media& m) {
  switch (m.kind) {
    case MediaKind::voice: return ".ogg";
    case MediaKind::video_note: return ".mp4";
    default: break;
  }
  auto dot = m.file_name.rfind('.');
  if (dot == std::string::npos || m.file_name.size() - dot > 6) return "";
  std::string ext = m.file_name.substr(dot);
  for (char c : ext.substr(1))
    if (!std::isalnum(static_cast<unsigned char>(c))) return "";
  return ext;
}

}  // namespace

std::optional<std::string> Bot::size_refusal(const Media& m, Lang lang) const {
  const auto s = cfg();
  const bool local = s->telegram.local_api;
  struct Limit {
    std::uint64_t bytes;
    const char* name;
  };
  const Limit limits[] = {
      {local ? kLocalFileLimit : kCloudFileLimit, local ? "Bot API (local)" : "Telegram Bot API download"},
      {s->admission.max_file_bytes, "memory.max_file_size"},
  };
  for (const auto& l : limits)
    if (m.file_size > l.bytes)
      return fmt::format(fmt::runtime(text(lang, Text::too_big)), format_size(m.file_size), l.name,
                         format_size(l.bytes));
  return std::nullopt;
}

void Bot::intake(TakenUpdate row, const Incoming& in, Lang lang, const ChatPrefs& prefs) {
  auto release = [&] {
    std::lock_guard lock(mu_);
    in_flight_.erase(row.update_id);
  };
  // Submitted before a restart: only watched.
  if (!row.job_id.empty()) return watch(row, lang, pref_value(prefs, Pref::format, lang));
  const Media& m = *in.media;
  if (auto why = size_refusal(m, lang)) {
    spdlog::info("event=telegram_too_big chat={} bytes={}", in.chat_id, m.file_size);
    reply(in, *why);
    finish(row.update_id);
    return release();
  }
  if (!placeholder(row, in, lang)) return release();
  // Nothing is fetched that the service would refuse now (memory, queue, shutting down).
  if (auto no = ctx_.jobs.admit(quotas())) return refused(row, *no, lang);
  std::string error;
  auto path = fetch(in, m, error);
  if (!path) {
    if (stop_) return release();
    edit_or_send(row, in.chat_id, std::string(text(lang, Text::download_failed)));
    finish(row.update_id);
    return release();
  }
  submit(row, in, *path, lang, prefs);
}

// The placeholder reply, once: its id is recorded so a restart edits it instead of sending
// another. false: it could not be sent now (stopping, or Telegram refuses).
bool Bot::placeholder(TakenUpdate& row, const Incoming& in, Lang lang) {
  if (row.reply_id != 0) return true;
  json p = {{"chat_id", in.chat_id}, {"text", std::string(text(lang, Text::queued))},
            {"reply_parameters", {{"message_id", in.message_id}, {"allow_sending_without_reply", true}}}};
  auto r = sender_.send("sendMessage", p, in.chat_id);
  if (r.status == Sent::blocked || r.status == Sent::failed) finish(row.update_id);
  if (r.status != Sent::ok) return false;
  if (!r.result.is_object() || !r.result.contains("message_id") || !r.result["message_id"].is_number_integer())
    return false;
  row.reply_id = r.result["message_id"].get<std::int64_t>();
  (void)store_->set_reply(row.update_id, row.reply_id);
  return true;
}

// getFile, then the download (or, from a local server, a copy) into uploads/.
std::optional<std::string> Bot::fetch(const Incoming& in, const Media& m, std::string& error) {
  auto f = sender_.send("getFile", {{"file_id", m.file_id}}, in.chat_id);
  if (f.status != Sent::ok || !f.result.is_object() || !f.result.contains("file_path") ||
      !f.result["file_path"].is_string()) {
    error = f.status == Sent::ok ? "getFile answered no file_path" : f.error.summary();
    spdlog::warn("event=telegram_get_file_failed chat={} error=\"{}\"", in.chat_id, log_escape(error));
    return std::nullopt;
  }
  const std::string file_path = f.result["file_path"].get<std::string>();
  const auto s = cfg();
  const std::uint64_t max = std::min(s->admission.max_file_bytes, s->telegram.local_api ? kLocalFileLimit : kCloudFileLimit);
  thread_local std::minstd_rand rng{std::random_device{}()};
  const std::string dest = fmt::format("{}/tg-{}-{:08x}{}", uploads_, in.update_id, rng(), extension_of(m));
  if (s->telegram.local_api && file_path.starts_with("/")) {
    auto c = copy_local_file(file_path, dest, max);
    if (!c) error = c.error().message;
    return c ? std::optional(dest) : std::nullopt;
  }
  auto d = download(in, file_path, dest, max);
  if (!d) {
    error = d.error().summary();
    spdlog::warn("event=telegram_download_failed chat={} error=\"{}\"", in.chat_id, log_escape(error));
    return std::nullopt;
  }
  spdlog::info("event=telegram_downloaded chat={} update={} bytes={}", in.chat_id, in.update_id, *d);
  return dest;
}

// The download, tried again under the error policy while the failure is one that passes (a
// dropped connection, a timeout, 5xx), at most kDownloadAttempts times; a file over the bound
// or refused (4xx) is not fetched again.
std::expected<std::uint64_t, ApiError> Bot::download(const Incoming& in, const std::string& file_path,
                                                     const std::string& dest, std::uint64_t max) {
  // 4 attempts: the backoff's 0.5 + 1 + 2 s ride out a restarting Bot API server.
  constexpr int kDownloadAttempts = 4;
  thread_local std::minstd_rand rng{std::random_device{}()};
  for (int attempt = 0;; ++attempt) {
    auto d = api_->download(file_path, dest, max);
    if (d || d.error().malformed || attempt + 1 >= kDownloadAttempts || stop_) return d;
    const Decision why = decide(d.error(), attempt, std::uniform_real_distribution<double>(0, 1)(rng));
    if (why.action != Action::backoff && why.action != Action::retry_after) return d;
    spdlog::warn("event=telegram_download_retry chat={} attempt={} wait_ms={} error=\"{}\"", in.chat_id,
                 attempt + 1, why.wait.count(), log_escape(d.error().summary()));
    if (!sleep_for(why.wait)) return d;
  }
}

// The service's quotas with the bot's per-user limits: a user's jobs running and waiting
// (refused beyond, at submit), and running at once (the scheduler starts another user's job
// meanwhile: jobs.max_running_per_owner for this user's jobs).
frontend::Quotas Bot::quotas() const {
  const auto s = cfg();
  frontend::Quotas q = frontend::quotas_from(*s);
  q.max_jobs = s->telegram.user_max_running + s->telegram.user_max_queued;
  q.max_running = s->telegram.user_max_running;
  return q;
}

void Bot::submit(TakenUpdate row, const Incoming& in, const std::string& path, Lang lang, const ChatPrefs& p) {
  const auto s = cfg();
  const frontend::Quotas q = quotas();
  frontend::Submission sub;
  // The chat's engine (the default if its choice is gone), sent the chat's language when the
  // engine transcribes it, else the engine's own first language.
  const EngineMenu menu = engine_menu(*s);
  const EngineOption engine = engine_for(in.chat_id, p, lang, menu);
  sub.params.model = engine.name;
  sub.params.language = speech_language(pref_value(p, Pref::lang, lang), engine);
  sub.params.response_format = "json";
  // Speakers on: the job diarizes, the number of voices found by itself.
  if (p.speakers == "on") sub.params.diarize = pipeline::SpeakerRequest{};
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  const std::string name = in.media->file_name.empty() ? std::string(to_string(in.media->kind)) : in.media->file_name;
  sub.file = {path, name, ec ? 0 : size};
  sub.dedup_key = fmt::format("tg:{}", in.update_id);
  auto r = ctx_.jobs.submit(caller(in.chat_id), sub, q);
  if (!r) {
    std::filesystem::remove(path, ec);
    return refused(row, r.error(), lang);
  }
  // A re-delivered update (a crash after the job was stored) gets the first job: its file is
  // the job's, ours is a second copy.
  if (auto v = ctx_.jobs.get(r->id, caller(in.chat_id)); v && v->job.spec.input_path != path)
    std::filesystem::remove(path, ec);
  row.job_id = r->id;
  if (auto w = store_->set_job(row.update_id, r->id); !w)
    spdlog::error("event=telegram_store_failed op=set_job error=\"{}\"", log_escape(w.error().message));
  watch(row, lang, pref_value(p, Pref::format, lang));
}

// A refusal the moment explains (memory, shutting down) leaves the update pending: the
// rescan tries again. Others are answered with the reason.
void Bot::refused(const TakenUpdate& row, const frontend::Refused& r, Lang lang) {
  spdlog::info("event=telegram_refused chat={} update={} reason={}", row.chat_id, row.update_id,
               frontend::to_string(r.reason));
  const std::string body =
      fmt::format(fmt::runtime(text(lang, transient(r.reason) ? Text::busy_queued : Text::busy)), r.message);
  edit_or_send(row, row.chat_id, body);
  if (!transient(r.reason)) finish(row.update_id);
  std::lock_guard lock(mu_);
  in_flight_.erase(row.update_id);
}

}  // namespace soroka::telegram
