// net::HttpClient against a loopback server: bodies sent as given, bounded and streamed answers,
// and pooled handles that carry nothing from one kind of request into the next.
#include <httplib.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "net/http_client.h"

namespace soroka::net {
namespace {

using namespace std::chrono_literals;

// Echoes what it got: method, content type and body, or for GET /big `size` bytes of 'x'.
struct EchoServer {
  httplib::Server server;
  std::thread thread;
  int port = 0;
  explicit EchoServer(std::size_t size = 0) {
    server.Post(R"(/.*)", [](const httplib::Request& req, httplib::Response& res) {
      std::string seen = "POST " + req.get_header_value("Content-Type") + "\n" + req.body;
      for (const auto& [name, file] : req.files) seen += "\npart " + name + "=" + file.content;
      res.set_content(seen, "text/plain");
    });
    server.Get("/big", [size](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [size](std::size_t off, httplib::DataSink& sink) {
        if (off >= size) {
          sink.done();
          return true;
        }
        const std::string block(std::min<std::size_t>(65536, size - off), 'x');
        return sink.write(block.data(), block.size());
      });
    });
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    while (!server.is_running()) std::this_thread::sleep_for(5ms);
  }
  ~EchoServer() {
    server.stop();
    thread.join();
  }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port) + path; }
};

TEST(HttpClient, PostSendsTheBodyAsGivenAndAMultipartPostAfterItOnTheSameHandleIsWhole) {
  EchoServer echo;
  HttpClient client(ClientParams{5s, 1u << 20, 1});  // one idle handle: every call reuses it
  const std::string body = R"({"chat_id":1,"text":"a longer body than the form's own"})";
  auto a = client.post(echo.url("/json"), body, {"Content-Type: application/json"}, 5s);
  ASSERT_EQ(a.status, 200) << a.transport;
  EXPECT_EQ(a.body, "POST application/json\n" + body);

  const std::string audio = "RIFF....WAVE";
  auto f = client.post_form(echo.url("/form"), {{"model", "m", "", ""}, {"file", audio, "a.wav", "audio/wav"}}, {}, 5s);
  ASSERT_EQ(f.status, 200) << f.transport;
  EXPECT_EQ(f.body.rfind("POST multipart/form-data", 0), 0u) << f.body;
  EXPECT_NE(f.body.find("part file=" + audio), std::string::npos) << f.body;
  EXPECT_NE(f.body.find("part model=m"), std::string::npos) << f.body;

  auto e = client.post(echo.url("/json"), "", {"Content-Type: application/json"}, 5s);  // an empty POST
  ASSERT_EQ(e.status, 200) << e.transport;
  EXPECT_EQ(e.body, "POST application/json\n");
}

TEST(HttpClient, AnAnswerOverTheBoundIsCutOffAndMarked) {
  EchoServer echo(8u << 20);
  HttpClient client(ClientParams{5s, 1u << 20, 1});
  auto a = client.get(echo.url("/big"), {}, 10s);
  EXPECT_TRUE(a.too_large);
  EXPECT_LE(a.body.size(), 1u << 20);
}

TEST(HttpClient, AStreamedGetHandsOverEveryByteWithinItsOwnBound) {
  EchoServer echo(300'000);
  HttpClient client(ClientParams{5s, 1024, 1});  // the in-memory bound does not apply to a stream
  std::size_t got = 0, calls = 0;
  auto a = client.get_streamed(echo.url("/big"), {}, 10s, 1u << 20, [&](std::string_view d) {
    got += d.size();
    ++calls;
    return d.find_first_not_of('x') == std::string_view::npos;
  });
  EXPECT_EQ(a.status, 200) << a.transport;
  EXPECT_FALSE(a.too_large);
  EXPECT_EQ(got, 300'000u);
  EXPECT_GT(calls, 1u) << "handed over chunk by chunk";
  EXPECT_TRUE(a.body.empty()) << "nothing kept in memory";

  got = 0;
  auto over = client.get_streamed(echo.url("/big"), {}, 10s, 100'000, [&](std::string_view d) {
    got += d.size();
    return true;
  });
  EXPECT_TRUE(over.too_large);
  EXPECT_LE(got, 100'000u);

  auto stopped = client.get_streamed(echo.url("/big"), {}, 10s, 1u << 20, [](std::string_view) { return false; });
  EXPECT_EQ(stopped.status, 0) << "a writer that stops ends the transfer: no answer";
}

}  // namespace
}  // namespace soroka::net
