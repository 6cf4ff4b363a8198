// soroka probe: reads a media file's headers and prints what it holds as one JSON line (or why
// not, with its FailureKind); the service runs it in a short-lived, memory-limited child so
// untrusted uploads never reach FFmpeg's parsers inside the service process.
#include <cstdio>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "media/decoder.h"

namespace soroka::cli {

Runner add_probe_command(CLI::App& app, const Global&) {
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("probe", "Print a media file's container, codec and duration as JSON");
  sub->add_option("file", *path, "the media file")->required();
  return [path] {
    auto info = media::probe_media(*path);
    nlohmann::json j;
    if (info) {
      j = {{"ok", true},          {"container", info->container}, {"codec", info->codec},
           {"duration_s", info->duration_s}, {"sample_rate", info->sample_rate},
           {"channels", info->channels}, {"has_video", info->has_video}};
    } else {
      const FailureKind kind = classified(info.error().kind);
      j = {{"ok", false}, {"kind", to_string(kind)}, {"message", info.error().message}};
    }
    std::puts(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace).c_str());
    return info ? static_cast<int>(kOk) : static_cast<int>(kFailure);
  };
}

}  // namespace soroka::cli
