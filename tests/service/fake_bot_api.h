// FakeBotApi: a Telegram Bot API server for tests (loopback, cpp-httplib): updates with offset
// semantics, files, messages and edits as Telegram keeps them, injected failures, a record.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace soroka::test {

class FakeBotApi {
 public:
  struct Call {
    std::string method;
    nlohmann::json params;
  };
  struct Message {
    std::int64_t chat = 0;
    std::int64_t id = 0;
    std::string text;
    int edits = 0;
    nlohmann::json markup;  // reply_markup as last sent (null: none)
  };
  struct Document {
    std::int64_t chat = 0;
    std::string file_name, content, caption;
  };

  explicit FakeBotApi(std::string token = "123456:TEST-token-secret") : token_(std::move(token)) {
    routes();
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~FakeBotApi() {
    {
      std::lock_guard l(mu_);
      closing_ = true;
    }
    cv_.notify_all();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& token() const { return token_; }

  // A file the bot may fetch with getFile; returns its file_id.
  std::string add_file(const std::string& content) {
    std::lock_guard l(mu_);
    const std::string id = "file" + std::to_string(files_.size() + 1);
    files_[id] = content;
    return id;
  }
  // Queues an update {"update_id": N, "message": message}; returns N.
  std::int64_t push(nlohmann::json message) {
    std::lock_guard l(mu_);
    const std::int64_t id = ++last_update_;
    if (!message.contains("message_id")) message["message_id"] = id * 10;
    updates_.push_back({{"update_id", id}, {"message", std::move(message)}});
    cv_.notify_all();
    return id;
  }
  // A press of an inline keyboard's button on message `message_id` in `chat`; returns the
  // update id. The callback query's id is "cb<update id>".
  std::int64_t push_callback(std::int64_t chat, std::int64_t message_id, const std::string& data,
                             const std::string& lang = "en") {
    std::lock_guard l(mu_);
    const std::int64_t id = ++last_update_;
    auto f = from(chat, lang);
    nlohmann::json cb = {{"id", "cb" + std::to_string(id)},
                         {"from", f["from"]},
                         {"message", {{"message_id", message_id}, {"chat", f["chat"]}, {"date", 1700000000}}},
                         {"chat_instance", "1"},
                         {"data", data}};
    updates_.push_back({{"update_id", id}, {"callback_query", std::move(cb)}});
    cv_.notify_all();
    return id;
  }
  static nlohmann::json from(std::int64_t chat, const std::string& lang = "en") {
    return {{"chat", {{"id", chat}, {"type", "private"}}},
            {"from", {{"id", chat}, {"is_bot", false}, {"first_name", "T"}, {"language_code", lang}}},
            {"date", 1700000000}};
  }
  std::int64_t push_text(std::int64_t chat, const std::string& text, const std::string& lang = "en") {
    auto m = from(chat, lang);
    m["text"] = text;
    return push(m);
  }
  // A voice message as an update's "message" (for posting to a webhook), its file added.
  nlohmann::json voice_message(std::int64_t chat, const std::string& content) {
    auto m = from(chat);
    m["voice"] = {{"file_id", add_file(content)}, {"file_unique_id", "v" + std::to_string(chat)},
                  {"file_size", content.size()}, {"duration", 5}, {"mime_type", "audio/ogg"}};
    return m;
  }
  // kind: voice, audio, video, video_note, document; declared_size 0: the content's size.
  std::int64_t push_media(std::int64_t chat, const std::string& kind, const std::string& content,
                          std::uint64_t declared_size = 0, const std::string& mime = "audio/ogg",
                          const std::string& file_name = "clip.ogg") {
    auto m = from(chat);
    m[kind] = {{"file_id", add_file(content)},
               {"file_unique_id", "u" + std::to_string(last_update_)},
               {"file_size", declared_size ? declared_size : content.size()},
               {"duration", 5},
               {"mime_type", mime}};
    if (kind == "document" || kind == "audio" || kind == "video") m[kind]["file_name"] = file_name;
    return push(m);
  }

  // The next `count` calls of `method` answer `status` (429 with retry_after); with `chat`,
  // only calls for that chat (chat_id).
  void fail_next(const std::string& method, int status, int count = 1, int retry_after = 0,
                 std::int64_t chat = 0) {
    std::lock_guard l(mu_);
    failures_[method].push_back({status, count, retry_after, chat});
  }
  void clear_failures() {
    std::lock_guard l(mu_);
    failures_.clear();
  }
  // The next `count` calls of `method` ("download" for file downloads) lose their connection:
  // `after_acting` does what was asked and closes the socket halfway through the answer (the
  // caller cannot tell whether it happened); otherwise the socket closes before anything is
  // done.
  void drop_next(const std::string& method, int count, bool after_acting) {
    std::lock_guard l(mu_);
    drops_[method] = {count, after_acting};
  }
  int dropped() const {
    std::lock_guard l(mu_);
    return dropped_;
  }
  // The callback queries answered (answerCallbackQuery), by id, with their text.
  std::map<std::string, std::string> answered_callbacks() const {
    std::lock_guard l(mu_);
    return answered_;
  }

  std::vector<Call> calls(const std::string& method = "") const {
    std::lock_guard l(mu_);
    std::vector<Call> out;
    for (const auto& c : calls_)
      if (method.empty() || c.method == method) out.push_back(c);
    return out;
  }
  std::vector<Message> messages(std::int64_t chat) const {
    std::lock_guard l(mu_);
    std::vector<Message> out;
    for (const auto& [id, m] : messages_)
      if (m.chat == chat) out.push_back(m);
    return out;
  }
  std::vector<Document> documents(std::int64_t chat) const {
    std::lock_guard l(mu_);
    std::vector<Document> out;
    for (const auto& d : documents_)
      if (d.chat == chat) out.push_back(d);
    return out;
  }
  // The highest offset the bot has confirmed (updates below it are gone).
  std::int64_t confirmed() const {
    std::lock_guard l(mu_);
    return confirmed_;
  }
  int rejected_identical_edits() const {
    std::lock_guard l(mu_);
    return identical_edits_;
  }

 private:
  struct Failure {
    int status, count, retry_after;
    std::int64_t chat;
  };
  struct Drop {
    int count = 0;
    bool after_acting = false;
  };
  using json = nlohmann::json;

  static void answer(httplib::Response& res, int status, const json& body) {
    res.status = status;
    res.set_content(body.dump(), "application/json");
  }
  static void ok(httplib::Response& res, json result) { answer(res, 200, {{"ok", true}, {"result", std::move(result)}}); }
  static void error(httplib::Response& res, int code, const std::string& d, int retry_after = 0) {
    json b = {{"ok", false}, {"error_code", code}, {"description", d}};
    if (retry_after) b["parameters"] = {{"retry_after", retry_after}};
    answer(res, code, b);
  }

  static json params_of(const httplib::Request& req) {
    if (req.is_multipart_form_data()) {
      json p = json::object();
      for (const auto& [name, part] : req.files)
        p[name] = part.filename.empty() ? json(part.content) : json{{"file_name", part.filename}, {"content", part.content}};
      return p;
    }
    json p = json::parse(req.body, nullptr, false);
    return p.is_object() ? p : json::object();
  }

  // An injected failure for `method`, if one is due (the lock held).
  bool inject(const std::string& method, const json& p, httplib::Response& res) {
    auto it = failures_.find(method);
    if (it == failures_.end() || it->second.empty()) return false;
    Failure& f = it->second.front();
    if (f.chat != 0 && f.chat != num(p, "chat_id")) return false;
    if (f.status == 429) error(res, 429, "Too Many Requests: retry after " + std::to_string(f.retry_after), f.retry_after);
    else if (f.status == 409) error(res, 409, "Conflict: terminated by other getUpdates request");
    else error(res, f.status, f.status >= 500 ? "Internal Server Error" : "Forbidden: bot was blocked by the user");
    if (--f.count == 0) it->second.erase(it->second.begin());
    return true;
  }

  // A drop due for `method`: nullopt when none; else whether to act first (the lock held).
  std::optional<bool> drop_due(const std::string& method) {
    auto it = drops_.find(method);
    if (it == drops_.end() || it->second.count <= 0) return std::nullopt;
    --it->second.count;
    ++dropped_;
    return it->second.after_acting;
  }

  // The answer cut off: its headers promise the whole body, half of it is written, then the
  // provider fails and httplib closes the connection.
  static void cut_off(httplib::Response& res) {
    auto body = std::make_shared<std::string>(res.body.empty() ? std::string(64, ' ') : res.body);
    res.body.clear();
    res.set_content_provider(body->size(), "application/json",
                             [body](std::size_t, std::size_t, httplib::DataSink& sink) {
                               sink.write(body->data(), body->size() / 2);
                               return false;
                             });
  }

  void routes() {
    server_.Post(R"(/bot([^/]+)/(\w+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::optional<bool> drop;
      {
        std::lock_guard l(mu_);
        drop = drop_due(req.matches[2]);
      }
      if (drop && !*drop) return cut_off(res);  // nothing done
      handle(req.matches[1], req.matches[2], params_of(req), res);
      if (drop) cut_off(res);
    });
    server_.Get(R"(/file/bot([^/]+)/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard l(mu_);
      if (req.matches[1] != token_) return error(res, 401, "Unauthorized");
      auto it = paths_.find(req.matches[2]);
      if (it == paths_.end()) return error(res, 404, "Not Found");
      res.set_content(files_[it->second], "application/octet-stream");
      if (drop_due("download")) cut_off(res);
    });
  }

  void handle(const std::string& token, const std::string& method, const json& p, httplib::Response& res) {
    std::unique_lock l(mu_);
    if (token != token_) return error(res, 401, "Unauthorized");
    calls_.push_back({method, p});
    if (inject(method, p, res)) return;
    if (method == "getUpdates") return get_updates(l, p, res);
    if (method == "getMe") return ok(res, {{"id", 42}, {"is_bot", true}, {"username", "SorokaTestBot"}});
    if (method == "deleteWebhook" || method == "setWebhook" || method == "setMyCommands" ||
        method == "sendChatAction")
      return ok(res, true);
    if (method == "getFile") return get_file(p, res);
    if (method == "sendMessage") return send_message(p, res);
    if (method == "editMessageText") return edit_message(p, res);
    if (method == "sendDocument") return send_document(p, res);
    if (method == "answerCallbackQuery") return answer_callback(p, res);
    error(res, 404, "Not Found: method not found");
  }

  static std::int64_t num(const json& p, const char* k) {
    if (!p.contains(k)) return 0;
    if (p[k].is_number_integer()) return p[k].get<std::int64_t>();
    if (p[k].is_string()) return std::stoll(p[k].get<std::string>());
    return 0;
  }

  void get_updates(std::unique_lock<std::mutex>& l, const json& p, httplib::Response& res) {
    const std::int64_t offset = num(p, "offset");
    if (offset > confirmed_) confirmed_ = offset;
    while (!updates_.empty() && updates_.front()["update_id"].get<std::int64_t>() < offset) updates_.pop_front();
    const auto timeout = std::chrono::seconds(std::min<std::int64_t>(num(p, "timeout"), 25));
    cv_.wait_for(l, timeout, [&] { return closing_ || !updates_.empty(); });
    json out = json::array();
    for (const auto& u : updates_)
      if (out.size() < 100) out.push_back(u);
    ok(res, out);
  }

  void get_file(const json& p, httplib::Response& res) {
    const std::string id = p.value("file_id", "");
    auto it = files_.find(id);
    if (it == files_.end()) return error(res, 400, "Bad Request: invalid file_id");
    const std::string path = "voice/" + id + ".oga";
    paths_[path] = id;
    ok(res, {{"file_id", id}, {"file_unique_id", id}, {"file_size", it->second.size()}, {"file_path", path}});
  }

  void send_message(const json& p, httplib::Response& res) {
    const std::int64_t id = ++last_message_;
    messages_[id] = {num(p, "chat_id"), id, p.value("text", ""), 0, p.value("reply_markup", json())};
    ok(res, {{"message_id", id}, {"chat", {{"id", num(p, "chat_id")}}}, {"text", p.value("text", "")}});
  }

  void edit_message(const json& p, httplib::Response& res) {
    auto it = messages_.find(num(p, "message_id"));
    if (it == messages_.end() || it->second.chat != num(p, "chat_id"))
      return error(res, 400, "Bad Request: message to edit not found");
    const std::string text = p.value("text", "");
    const json markup = p.value("reply_markup", json());
    if (text == it->second.text && markup == it->second.markup) {
      ++identical_edits_;
      return error(res, 400,
                   "Bad Request: message is not modified: specified new message content and reply markup are "
                   "exactly the same as a current content and reply markup of the message");
    }
    it->second.text = text;
    it->second.markup = markup;
    ++it->second.edits;
    ok(res, {{"message_id", it->first}, {"text", text}});
  }

  // Like Telegram: a query is answered once; later answers are refused as too old.
  void answer_callback(const json& p, httplib::Response& res) {
    const std::string id = p.value("callback_query_id", "");
    if (id.empty() || answered_.contains(id))
      return error(res, 400, "Bad Request: query is too old and response timeout expired or query ID is invalid");
    answered_[id] = p.value("text", "");
    ok(res, true);
  }

  void send_document(const json& p, httplib::Response& res) {
    if (!p.contains("document") || !p["document"].is_object()) return error(res, 400, "Bad Request: no document");
    documents_.push_back({num(p, "chat_id"), p["document"].value("file_name", ""), p["document"].value("content", ""),
                          p.value("caption", "")});
    ok(res, {{"message_id", ++last_message_}});
  }

  std::string token_;
  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool closing_ = false;
  std::int64_t last_update_ = 1000;
  std::int64_t last_message_ = 0;
  std::int64_t confirmed_ = 0;
  int identical_edits_ = 0;
  std::deque<json> updates_;
  std::map<std::string, std::string> files_;  // file_id -> content
  std::map<std::string, std::string> paths_;  // file_path -> file_id
  std::map<std::string, std::deque<Failure>> failures_;
  std::map<std::string, Drop> drops_;
  int dropped_ = 0;
  std::map<std::string, std::string> answered_;
  std::vector<Call> calls_;
  std::map<std::int64_t, Message> messages_;
  std::vector<Document> documents_;
};

}  // namespace soroka::test
