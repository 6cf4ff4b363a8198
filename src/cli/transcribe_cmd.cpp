// soroka transcribe: files to text, subtitles or JSON, with progress on stderr.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <expected>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "cli/commands.h"
#include "config/settings.h"
#include "engine/factory.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/sampler.h"
#include "pipeline/formats.h"
#include "pipeline/output.h"
#include "pipeline/pipeline.h"
#include "pipeline/speaker_options.h"
#include "pipeline/speakers.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

namespace fs = std::filesystem;

struct TranscribeArgs {
  std::vector<std::string> files;
  std::string format;
  std::string output;
  std::string language = "en";
  std::string model{engine::kDefaultModel};
  std::string model_dir;  // "": engine.model_dir
  bool quiet = false;
  bool diarize = false;
  int speakers = 0, min_speakers = 0, max_speakers = 0;
  std::vector<std::string> speaker_clips;  // "Name=clip.ogg"
};

void print_error(const std::string& what, const std::string& reason) {
  std::fprintf(stderr, "soroka: %s: %s\n", what.c_str(), reason.c_str());
  std::fflush(stderr);
}

// Progress on stderr: a bar redrawn with \r on a terminal, a line per 10 % otherwise.
class Progress {
 public:
  Progress(bool quiet, bool tty) : quiet_(quiet), tty_(tty) {}

  void begin(const std::string& file) {
    file_ = file;
    started_ = Clock::now();
    last_draw_ = {};
    next_step_ = kStep;
    drawn_ = false;
  }

  void update(double done_s, double total_s) {
    if (quiet_) return;
    if (tty_) {
      auto now = Clock::now();
      if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;  // 10 Hz
      last_draw_ = now;
      draw_bar(done_s, total_s);
      return;
    }
    if (total_s > 0) {
      double frac = done_s / total_s;
      int percent = static_cast<int>(std::floor(frac * 100));  // never rounds up to 100
      if (frac + 1e-9 < next_step_ || percent >= 100) return;  // 100 % is the "done" line
      while (next_step_ <= frac + 1e-9) next_step_ += kStep;
      std::fprintf(stderr, "%s: %3d%% (%.1f of %.1f s)\n", file_.c_str(), percent, done_s,
                   total_s);
    } else if (done_s >= next_step_ * kUnknownTotalStepS) {
      while (next_step_ * kUnknownTotalStepS <= done_s) next_step_ += kStep;
      std::fprintf(stderr, "%s: %.1f s\n", file_.c_str(), done_s);
    }
    std::fflush(stderr);
  }

  // Ends the file's progress: the bar is completed (or wiped on failure) before anything
  // else is printed.
  void end(bool ok, double duration_s) {
    if (quiet_) return;
    double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    if (tty_) {
      if (!ok) {
        if (drawn_) std::fputs("\r\033[K", stderr);
      } else {
        draw_bar(duration_s, duration_s);
        std::fputc('\n', stderr);
      }
    } else if (ok) {
      std::fprintf(stderr, "%s: done, %.1f s of audio in %.1f s\n", file_.c_str(), duration_s,
                   secs);
    }
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr double kStep = 0.1;
  static constexpr double kUnknownTotalStepS = 600.0;  // a line per minute of audio
  static constexpr int kBarWidth = 30;

  void draw_bar(double done_s, double total_s) {
    double frac = total_s > 0 ? std::clamp(done_s / total_s, 0.0, 1.0) : 0.0;
    auto fill = static_cast<int>(frac * kBarWidth);
    std::string bar(static_cast<std::size_t>(fill), '#');
    bar.resize(kBarWidth, '.');
    double secs = std::chrono::duration<double>(Clock::now() - started_).count();
    if (total_s > 0)
      std::fprintf(stderr, "\r\033[K[%s] %3.0f%% %s/%s  %s  (%.1fx real-time speed)", bar.c_str(),
                   frac * 100, clock_time(done_s).c_str(), clock_time(total_s).c_str(),
                   file_.c_str(), secs > 0 ? done_s / secs : 0.0);
    else
      std::fprintf(stderr, "\r\033[K%s  %s", clock_time(done_s).c_str(), file_.c_str());
    std::fflush(stderr);
    drawn_ = true;
  }

  static std::string clock_time(double s) {
    auto t = static_cast<long>(s);
    return t >= 3600 ? fmt::format("{}:{:02}:{:02}", t / 3600, t / 60 % 60, t % 60)
                     : fmt::format("{}:{:02}", t / 60, t % 60);
  }

  bool quiet_, tty_;
  std::string file_;
  Clock::time_point started_{}, last_draw_{};
  double next_step_ = kStep;
  bool drawn_ = false;
};

// What the model flags mean once Settings are read: --model is a NAME, --model-dir a directory.
Result<void> check_model_args(const TranscribeArgs& a, Settings& settings) {
  std::error_code ec;
  if (a.model.find('/') != std::string::npos || fs::is_directory(a.model, ec))
    return fail(FailureKind::invalid_request,
                fmt::format("--model takes an engine name ({}); for a model directory use --model-dir {}",
                            fmt::join(engine::model_names(settings.engine), ", "), a.model));
  if (!a.model_dir.empty()) settings.engine.model_dir = a.model_dir;
  return {};
}

// What this process may use now, less the floor the thresholds keep free.
std::uint64_t memory_for_us(const oomguard::Snapshot& snap, std::uint64_t floor) {
  return snap.available_bytes > floor ? snap.available_bytes - floor : 0;
}

// Transcribes every file into `output`; false if any failed.
bool transcribe_all(engine::Engine& engine, oomguard::Sampler& sampler, const TranscribeArgs& a,
                    pipeline::TranscribeOptions popts, pipeline::Output& output) {
  Progress progress(a.quiet, ::isatty(STDERR_FILENO) == 1);
  bool all_ok = true;
  for (const auto& file : a.files) {
    // Re-read memory before each file: the previous one may have loaded the model.
    if (auto s = sampler.sample(); s) popts.available_bytes = s->available_bytes;
    progress.begin(file);
    auto t = pipeline::transcribe_file(engine, file, popts,
                                       [&](double done, double total) { progress.update(done, total); });
    progress.end(t.has_value(), t ? t->duration_s : 0);
    auto added = t ? output.add(*t) : std::unexpected(t.error());
    if (!added) {
      print_error(file, added.error().message);
      all_ok = false;
    }
  }
  if (auto c = output.close(); !c) {
    print_error(output.name(), c.error().message);
    all_ok = false;
  }
  return all_ok;
}

// The engine --model names, loading through `registry`; nullptr after saying why not.
std::unique_ptr<engine::Engine> open_engine(const TranscribeArgs& a, const Settings& settings,
                                            oomguard::ModelRegistry& registry) {
  auto engine = engine::make_engine(settings, a.model, registry);
  if (!engine) {
    print_error("--model", engine.error().message);
    return nullptr;
  }
  auto langs = (*engine)->languages();
  if (std::find(langs.begin(), langs.end(), a.language) == langs.end()) {
    std::fprintf(stderr, "soroka: language '%s' is not supported by %s (supported: %s)\n", a.language.c_str(),
                 (*engine)->name().c_str(), fmt::format("{}", fmt::join(langs, ", ")).c_str());
    return nullptr;
  }
  return std::move(*engine);
}

// What the speaker options ask, checked: nullopt without diarization; a usage error's message
// otherwise. Any speaker option turns diarization on; rttm needs it.
std::expected<std::optional<pipeline::SpeakerRequest>, std::string> speaker_request(
    const TranscribeArgs& a, const std::vector<pipeline::Format>& formats) {
  const bool wanted = a.diarize || a.speakers != 0 || a.min_speakers != 0 || a.max_speakers != 0 ||
                      !a.speaker_clips.empty();
  if (!wanted) {
    if (std::find(formats.begin(), formats.end(), pipeline::Format::rttm) != formats.end())
      return std::unexpected("--format rttm needs --diarize");
    return std::nullopt;
  }
  pipeline::SpeakerRequest r{a.speakers, a.min_speakers, a.max_speakers, {}};
  for (const auto& arg : a.speaker_clips) {
    auto clip = pipeline::parse_speaker_arg(arg);
    if (!clip) return std::unexpected(fmt::format("--speaker takes NAME=CLIP, not '{}'", arg));
    r.known.push_back(std::move(*clip));
  }
  if (auto p = pipeline::speaker_params(r); !p) return std::unexpected(p.error());
  return r;
}

int run_transcribe(const TranscribeArgs& a, const Global& g) {
  auto settings = load_settings(g.config_path, current_environment());
  if (!settings) {
    std::fprintf(stderr, "soroka: %s\n", settings.error().message.c_str());
    return kUsage;
  }
  spdlog::set_level(spdlog::level::from_str(a.quiet ? "error" : settings->log_level));
  if (auto r = check_model_args(a, *settings); !r) {
    print_error("--model", r.error().message);
    return kUsage;
  }
  auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
  auto snap = sampler ? sampler->sample() : std::unexpected(sampler.error());
  if (!snap) {
    print_error("memory", snap.error().message);
    return kFailure;
  }
  const std::uint64_t floor = settings->monitor.thresholds.min_available_bytes;
  oomguard::MemoryBudget budget(memory_for_us(*snap, floor));
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  // -f was checked by its validator; without it, -o FILE's extension decides.
  const std::vector<pipeline::Format> formats =
      a.format.empty() ? std::vector{pipeline::output_format(std::nullopt, a.output)}
                       : pipeline::parse_formats(a.format).value_or(std::vector{pipeline::Format::txt});
  auto speakers = speaker_request(a, formats);
  if (!speakers) {
    print_error("--diarize", speakers.error());
    return kUsage;
  }
  auto engine = open_engine(a, *settings, registry);
  if (!engine) return kUsage;
  auto output = pipeline::open_output(a.output, formats, a.files, std::cout);
  if (!output) {
    print_error(a.output.empty() ? "-o" : a.output, output.error().message);
    return output.error().kind == FailureKind::invalid_request ? kUsage : kFailure;
  }
  pipeline::TranscribeOptions popts;
  popts.language = a.language;
  popts.admission = settings->admission;
  popts.min_available_bytes = floor;
  // The known voices' clips are decoded once, here, before any file: a bad clip is a usage error.
  if (*speakers)
    if (auto d = pipeline::add_diarization(**speakers, {.params = {}, .budget = &budget}, popts); !d) {
      print_error("--speaker", d.error().message);
      return kUsage;
    }
  return transcribe_all(*engine, *sampler, a, popts, **output) ? kOk : kFailure;
}

}  // namespace

Runner add_transcribe_command(CLI::App& app, const Global& g) {
  auto o = std::make_shared<TranscribeArgs>();
  CLI::App* sub = app.add_subcommand(
      "transcribe",
      "Transcribe audio or video files (anything FFmpeg reads) with pocketsphinx.\n"
      "Output: standard output by default. With several inputs the transcripts are combined: "
      "txt, srt and vtt put a '==> FILE <==' line before each, json becomes an array. "
      "-o FILE writes there (combined likewise); -o DIR/ (an existing directory or a path "
      "ending in '/') writes DIR/NAME.EXT per input instead (NAME.mp3.EXT when two inputs "
      "share a name).\n"
      "A file that fails prints 'soroka: FILE: reason' on stderr and the others go on; the "
      "exit status is 1 if any failed, 64 for bad arguments.");
  sub->add_option("files", o->files, "Audio or video files")->required()->type_name("FILE...");
  sub->add_option("-f,--format", o->format,
                  "txt, srt, vtt, json or rttm (default: from -o FILE's extension, else txt); rttm "
                  "needs --diarize; several, comma-separated (txt,srt,json), with -o DIR/: one "
                  "transcription, a file per format")
      ->check(CLI::Validator(
          [](std::string& v) {
            auto f = pipeline::parse_formats(v);
            return f ? std::string() : f.error().message;
          },
          "FORMAT[,FORMAT...]"));
  sub->add_option("-o,--output", o->output, "Output FILE or DIR/ ('-': standard output)");
  sub->add_option("-l,--language", o->language, "Language code (pocketsphinx: en)")
      ->capture_default_str();
  sub->add_option("--model", o->model, "Engine/model name: pocketsphinx, a configured [engines.NAME] (a Whisper server), sim-* with engine.simulation")
      ->capture_default_str();
  sub->add_option("--model-dir", o->model_dir, "pocketsphinx model directory (default: engine.model_dir)");
  sub->add_flag("--diarize", o->diarize,
                "Tell who spoke when: 'Speaker 1:' lines (txt), [Speaker 1] (srt), <v Speaker 1> (vtt), "
                "speaker fields (json), rttm. Implied by the other speaker options");
  sub->add_option("--speakers", o->speakers, "The exact number of speakers, when known (1-32)");
  sub->add_option("--min-speakers", o->min_speakers, "At least this many speakers (default 1)");
  sub->add_option("--max-speakers", o->max_speakers, "At most this many speakers (default 8)");
  sub->add_option("--speaker", o->speaker_clips,
                  "A known voice: NAME=CLIP, a clip (any media, 2 to 60 s) of only that voice; its "
                  "turns are labelled NAME. Repeatable, at most 10 (and at most --speakers or "
                  "--max-speakers)")
      ->type_name("NAME=CLIP");
  sub->add_flag("-q,--quiet", o->quiet, "No progress on stderr (errors are still printed)");
  return [o, &g] { return run_transcribe(*o, g); };
}

}  // namespace soroka::cli
