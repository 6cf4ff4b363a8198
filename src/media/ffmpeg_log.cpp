// FFmpeg's process-wide setup: its log routed to spdlog at debug, a cap on any one allocation.
#include "media/ffmpeg_log.h"

extern "C" {
#include <libavutil/log.h>
#include <libavutil/mem.h>
}

#include <spdlog/spdlog.h>

#include <cstdarg>
#include <mutex>
#include <string_view>

namespace soroka::media::ff {

namespace {

void log_to_spdlog(void* avcl, int level, const char* fmt, va_list vl) {
  // Warnings and worse only: FFmpeg's info level is chatty and its messages on bad input are
  // for us, not for the user (who gets our error value).
  if (level > AV_LOG_WARNING || !spdlog::should_log(spdlog::level::debug)) return;
  thread_local int print_prefix = 1;
  char line[1024];
  av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &print_prefix);
  std::string_view text(line);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.remove_suffix(1);
  if (!text.empty()) spdlog::debug("ffmpeg: {}", text);
}

}  // namespace

void setup_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    av_log_set_level(AV_LOG_QUIET);
    av_log_set_callback(log_to_spdlog);
    av_max_alloc(kMaxSingleAlloc);
  });
}

}  // namespace soroka::media::ff
