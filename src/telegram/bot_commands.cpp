// Bot commands: /start /help /settings (and its buttons) /language /format /engine /status
// /cancel /stats, and the allowlist.
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "telegram/bot.h"
#include "telegram/settings_keyboard.h"
#include "util/parse.h"
#include "util/text.h"

namespace soroka::telegram {

namespace {

bool listed(const std::vector<std::string>& ids, std::int64_t user) {
  for (const auto& id : ids)
    if (parse::i64(id) == user) return true;
  return false;
}

bool valid_format(const std::string& f) { return f == "text" || f == "srt" || f == "vtt" || f == "file"; }

}  // namespace

bool Bot::allowed(const Incoming& in) const {
  const auto s = cfg();
  return s->telegram.allowed_users.empty() || listed(s->telegram.allowed_users, in.user_id) ||
         listed(s->telegram.admins, in.user_id);
}

bool Bot::is_admin(std::int64_t user) const { return listed(cfg()->telegram.admins, user); }

void Bot::reply(const Incoming& in, const std::string& body) {
  nlohmann::json p = {{"chat_id", in.chat_id}, {"text", body}};
  if (in.message_id) p["reply_parameters"] = {{"message_id", in.message_id}, {"allow_sending_without_reply", true}};
  sender_.send("sendMessage", p, in.chat_id);
}

void Bot::handle_command(const Incoming& in, Lang lang) {
  const Command c = parse_command(in.text);
  std::string out;
  if (c.name == "start" || c.name == "help") {
    out = text(lang, Text::help);
  } else if (c.name == "language") {
    if (c.arg == "en" || c.arg == "ru") {
      (void)store_->set_lang(in.chat_id, c.arg);
      out = text(pick_lang(c.arg, ""), Text::language_set);
    } else {
      out = text(lang, Text::language_usage);
    }
  } else if (c.name == "format") {
    if (valid_format(c.arg)) {
      (void)store_->set_format(in.chat_id, c.arg);
      out = fmt::format(fmt::runtime(text(lang, Text::format_set)), c.arg);
    } else {
      out = text(lang, Text::format_usage);
    }
  } else if (c.name == "engine") {
    out = engine_command(in, lang, c.arg);
  } else if (c.name == "settings") {
    return send_settings(in, lang);
  } else if (c.name == "status") {
    out = status_text(in, lang);
  } else if (c.name == "cancel") {
    out = cancel_text(in, lang);
  } else if (c.name == "stats" && ctx_.stats) {
    out = is_admin(in.user_id) ? ctx_.stats() : std::string(text(lang, Text::not_admin));
  } else {
    out = text(lang, Text::unknown_command);
  }
  reply(in, out);
}

std::string Bot::status_text(const Incoming& in, Lang lang) {
  const std::string level = ctx_.level ? oomguard::to_string(ctx_.level()) : "?";
  std::string out = fmt::format(fmt::runtime(text(lang, Text::status_header)), level);
  auto active = store_->active(in.chat_id);
  int shown = 0;
  if (active)
    for (const auto& row : *active)
      if (auto v = ctx_.jobs.get(row.job_id, caller(in.chat_id)); v) {
        out += "\n" + fmt::format(fmt::runtime(text(lang, Text::status_line)), row.job_id, job_state_text(*v, lang));
        ++shown;
      }
  if (shown == 0) out += "\n" + std::string(text(lang, Text::no_jobs));
  if (const auto menu = engine_menu(*cfg()); menu.offered()) {
    auto prefs = store_->prefs(in.chat_id);
    const EngineOption e = engine_for(in.chat_id, prefs ? *prefs : ChatPrefs{}, lang, menu);
    out += "\n" + fmt::format(fmt::runtime(text(lang, Text::status_engine)), e.name);
  }
  return out;
}

// A job as /status shows it: its place in line, its progress, or that the answer is coming.
std::string Bot::job_state_text(const frontend::JobView& v, Lang lang) {
  switch (v.job.state) {
    case jobs::JobState::queued:
      return v.place > 0 ? fmt::format(fmt::runtime(text(lang, Text::status_queued)), place_text(lang, v.place))
                         : std::string(text(lang, Text::queued));
    case jobs::JobState::running:
      return v.waiting_for_memory ? std::string(text(lang, Text::status_waiting))
                                  : fmt::format(fmt::runtime(text(lang, Text::status_running)),
                                                static_cast<int>(v.job.progress * 100));
    default: return std::string(text(lang, Text::status_ended));
  }
}

void Bot::send_settings(const Incoming& in, Lang lang) {
  auto prefs = store_->prefs(in.chat_id);
  const ChatPrefs p = prefs ? *prefs : ChatPrefs{};
  const EngineMenu menu = engine_menu(*cfg());
  (void)engine_for(in.chat_id, p, lang, menu);  // a choice gone: told now, shown as the default
  sender_.send("sendMessage",
               {{"chat_id", in.chat_id},
                {"text", settings_text(p, lang, menu)},
                {"reply_markup", settings_keyboard(p, lang, menu)}},
               in.chat_id);
}

// /engine NAME: the same choice as the /settings row, for any engine offered (the keyboard
// shows the first kMaxEngineButtons). Without a name offered: the names, as many as the row's.
std::string Bot::engine_command(const Incoming& in, Lang lang, const std::string& name) {
  const EngineMenu menu = engine_menu(*cfg());
  if (const EngineOption* e = menu.offered() ? menu.find(name) : nullptr) {
    if (auto r = store_->set_pref(in.chat_id, Pref::engine, e->name); !r)
      spdlog::error("event=telegram_store_failed op=set_engine error=\"{}\"", log_escape(r.error().message));
    std::string out = fmt::format(fmt::runtime(text(lang, Text::engine_set)), e->name);
    auto prefs = store_->prefs(in.chat_id);
    if (auto note = language_note(prefs ? *prefs : ChatPrefs{}, lang, *e); !note.empty()) out += "\n" + note;
    return out;
  }
  std::string names;
  for (std::size_t i = 0; i < menu.options.size() && i < kMaxEngineButtons; ++i)
    names += (i ? ", " : "") + menu.options[i].name;
  if (menu.options.size() > kMaxEngineButtons) names += ", …";
  return fmt::format(fmt::runtime(text(lang, Text::engine_usage)), names);
}

// The engine the chat's jobs go to. A stored choice no longer offered (the settings reloaded
// without it) is cleared and the chat told, once (clear_engine): its jobs get the default
// rather than failing.
EngineOption Bot::engine_for(std::int64_t chat, const ChatPrefs& p, Lang lang, const EngineMenu& menu) {
  const EngineInForce now = engine_in_force(menu, p.engine);
  if (!now.stale) return *now.option;
  auto cleared = store_->clear_engine(chat, p.engine);
  if (cleared && *cleared) {
    spdlog::info("event=telegram_engine_gone chat={} engine=\"{}\" now=\"{}\"", chat, log_escape(p.engine),
                 log_escape(now.option->name));
    sender_.send("sendMessage",
                 {{"chat_id", chat},
                  {"text", fmt::format(fmt::runtime(text(lang, Text::engine_gone)), p.engine, now.option->name)}},
                 chat);
  }
  return *now.option;
}

// A /settings button: the choice stored, the press answered (a toast), the keyboard's message
// edited to show it. A button of an old keyboard or forged data changes nothing.
void Bot::handle_callback(const Incoming& in, bool allowed_user) {
  const EngineMenu menu = engine_menu(*cfg());
  const auto choice = allowed_user ? parse_choice(in.callback_data, menu) : std::nullopt;
  if (choice) {
    if (auto r = store_->set_pref(in.chat_id, choice->pref, choice->value); !r)
      spdlog::error("event=telegram_store_failed op=set_pref error=\"{}\"", log_escape(r.error().message));
  }
  auto prefs = store_->prefs(in.chat_id);
  const ChatPrefs p = prefs ? *prefs : ChatPrefs{};
  const Lang lang = pick_lang(p.lang, in.language_code);
  const Text toast = !allowed_user ? Text::not_allowed : choice ? Text::saved : Text::unknown_command;
  // A press answered late (after a restart) gets 400 "query is too old": nothing to do then.
  sender_.send("answerCallbackQuery", {{"callback_query_id", in.callback_id}, {"text", std::string(text(lang, toast))}},
               in.chat_id);
  if (!choice) return;
  sender_.send("editMessageText",
               {{"chat_id", in.chat_id}, {"message_id", in.message_id}, {"text", settings_text(p, lang, menu)},
                {"reply_markup", settings_keyboard(p, lang, menu)}},
               in.chat_id);
}

// Cancels the chat's queued and running jobs; the watcher edits their messages.
std::string Bot::cancel_text(const Incoming& in, Lang lang) {
  auto active = store_->active(in.chat_id);
  int n = 0;
  if (active)
    for (const auto& row : *active)
      if (auto st = ctx_.jobs.cancel(row.job_id, caller(in.chat_id), "telegram /cancel"); st) ++n;
  if (n == 0) return std::string(text(lang, Text::no_jobs));
  return fmt::format(fmt::runtime(text(lang, Text::cancelled_n)), n);
}

}  // namespace soroka::telegram
