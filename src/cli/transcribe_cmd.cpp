// soroka transcribe: files to text, subtitles or JSON, with progress on stderr.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>

#include <fmt/format.h>

#include "cli/commands.h"
#include "config/settings.h"
#include "engine/pocketsphinx_engine.h"
#include "oomguard/budget.h"
#include "oomguard/model_registry.h"
#include "oomguard/sampler.h"
#include "pipeline/formats.h"
#include "pipeline/pipeline.h"
#include "util/log.h"

namespace soroka::cli {

namespace {

namespace fs = std::filesystem;
using pipeline::Format;
using pipeline::Transcript;

struct TranscribeOptions {
  std::vector<std::string> files;
  std::string format;
  std::string output;
  std::string language = "en";
  std::string model_dir = "/usr/share/pocketsphinx/model/en-us";
  bool quiet = false;
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

// Writes `write` to `path` through a temporary file renamed into place, so that a failure
// never leaves a half-written transcript under the final name.
Result<void> write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return sys_fail("cannot create " + tmp);
    write(out);
    out.flush();
    if (!out) {
      int err = errno;
      std::error_code ec;
      fs::remove(tmp, ec);
      return sys_fail("writing " + tmp, err);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) return sys_fail("renaming " + tmp + " to " + path);
  return {};
}

// Where transcripts go. Several inputs into one stream ("combined"): txt, srt and vtt get a
// "==> FILE <==" line before each transcript, json becomes an array.
class Output {
 public:
  virtual ~Output() = default;
  virtual Result<void> add(const Transcript& t) = 0;
  virtual Result<void> close() = 0;
  virtual std::string name() const = 0;
};

void write_combined_item(std::ostream& out, const Transcript& t, Format f, std::size_t index,
                         bool combined) {
  if (!combined) return pipeline::write(out, t, f);
  if (f == Format::json) {
    out << (index == 0 ? "[\n" : ",\n");
    pipeline::write_json(out, t);
    return;
  }
  if (index > 0) out << '\n';
  out << "==> " << t.file << " <==\n";
  pipeline::write(out, t, f);
}

void close_combined(std::ostream& out, Format f, std::size_t count, bool combined) {
  if (combined && f == Format::json) out << (count == 0 ? "[]\n" : "]\n");
}

class StdoutOutput final : public Output {
 public:
  StdoutOutput(Format f, bool combined) : format_(f), combined_(combined) {}
  Result<void> add(const Transcript& t) override {
    write_combined_item(std::cout, t, format_, count_++, combined_);
    std::cout.flush();
    if (!std::cout) return sys_fail("writing to standard output");
    return {};
  }
  Result<void> close() override {
    close_combined(std::cout, format_, count_, combined_);
    std::cout.flush();
    if (!std::cout) return sys_fail("writing to standard output");
    return {};
  }
  std::string name() const override { return "standard output"; }

 private:
  Format format_;
  bool combined_;
  std::size_t count_ = 0;
};

// One file for everything, streamed to FILE.partial and renamed into place at the end.
class FileOutput final : public Output {
 public:
  FileOutput(std::string path, Format f, bool combined)
      : path_(std::move(path)), tmp_(path_ + ".partial"), format_(f), combined_(combined) {}
  ~FileOutput() override {
    if (out_.is_open()) {
      out_.close();
      std::error_code ec;
      fs::remove(tmp_, ec);
    }
  }
  Result<void> add(const Transcript& t) override {
    if (!out_.is_open()) {
      out_.open(tmp_, std::ios::binary | std::ios::trunc);
      if (!out_) return sys_fail("cannot create " + tmp_);
    }
    write_combined_item(out_, t, format_, count_++, combined_);
    if (!out_) return sys_fail("writing " + tmp_);
    return {};
  }
  Result<void> close() override {
    if (count_ == 0 && !combined_) return {};  // the one input failed: no empty file
    if (!out_.is_open()) {
      out_.open(tmp_, std::ios::binary | std::ios::trunc);
      if (!out_) return sys_fail("cannot create " + tmp_);
    }
    close_combined(out_, format_, count_, combined_);
    out_.close();
    if (!out_) return sys_fail("writing " + tmp_);
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0)
      return sys_fail("renaming " + tmp_ + " to " + path_);
    return {};
  }
  std::string name() const override { return path_; }

 private:
  std::string path_, tmp_;
  Format format_;
  bool combined_;
  std::ofstream out_;
  std::size_t count_ = 0;
};

// DIR/STEM.EXT per input; inputs whose stems collide keep their extension (a.mp3.srt).
class DirOutput final : public Output {
 public:
  DirOutput(std::string dir, Format f, const std::vector<std::string>& inputs)
      : dir_(std::move(dir)), format_(f) {
    std::map<std::string, int> stems;
    for (const auto& in : inputs) ++stems[fs::path(in).stem().string()];
    for (const auto& in : inputs) {
      fs::path p(in);
      std::string base = stems[p.stem().string()] > 1 ? p.filename().string() : p.stem().string();
      names_[in] = (fs::path(dir_) / (base + "." + pipeline::to_string(f))).string();
    }
  }
  Result<void> add(const Transcript& t) override {
    const std::string& out = names_.at(t.file);
    if (!written_.insert(out).second)
      return fail(fmt::format("{} was already written for another input", out), EEXIST);
    return write_atomically(out, [&](std::ostream& o) { pipeline::write(o, t, format_); });
  }
  Result<void> close() override { return {}; }
  std::string name() const override { return dir_; }

 private:
  std::string dir_;
  Format format_;
  std::map<std::string, std::string> names_;
  std::set<std::string> written_;
};

bool is_dir_target(const std::string& path) {
  std::error_code ec;
  return (!path.empty() && path.back() == '/') || fs::is_directory(path, ec);
}

int run_transcribe(const TranscribeOptions& o, const Global& g) {
  auto settings = load_settings(g.config_path, current_environment());
  if (!settings) {
    std::fprintf(stderr, "soroka: %s\n", settings.error().message.c_str());
    return kUsage;
  }
  spdlog::set_level(spdlog::level::from_str(o.quiet ? "error" : settings->log_level));

  // Memory: what this process may use now, less the floor the thresholds keep free.
  auto sampler = oomguard::Sampler::open(oomguard::Roots{}, oomguard::Target{});
  if (!sampler) {
    print_error("memory", sampler.error().message);
    return kFailure;
  }
  auto snap = sampler->sample();
  if (!snap) {
    print_error("memory", snap.error().message);
    return kFailure;
  }
  const std::uint64_t floor = settings->monitor.thresholds.min_available_bytes;
  oomguard::MemoryBudget budget(snap->available_bytes > floor ? snap->available_bytes - floor : 0);
  oomguard::ModelRegistry registry(budget, oomguard::ModelRegistry::Params{});
  engine::PocketsphinxParams ps = engine::pocketsphinx_default_params(o.model_dir);
  ps.max_sessions = 1;  // one file at a time
  engine::PocketsphinxEngine engine(registry, ps);

  auto langs = engine.languages();
  if (std::find(langs.begin(), langs.end(), o.language) == langs.end()) {
    std::fprintf(stderr, "soroka: language '%s' is not supported by %s (supported: %s)\n",
                 o.language.c_str(), engine.name().c_str(), fmt::format("{}", fmt::join(langs, ", ")).c_str());
    return kUsage;
  }

  // Format: --format, else the -o file's extension, else txt.
  Format format = Format::txt;
  if (!o.format.empty()) {
    format = *pipeline::parse_format(o.format);  // CLI11 checked the value
  } else if (!o.output.empty() && o.output != "-" && !is_dir_target(o.output)) {
    std::string ext = fs::path(o.output).extension().string();
    if (auto f = pipeline::parse_format(ext.empty() ? ext : ext.substr(1))) format = *f;
  }

  std::unique_ptr<Output> output;
  const bool several = o.files.size() > 1;
  if (o.output.empty() || o.output == "-") {
    output = std::make_unique<StdoutOutput>(format, several);
  } else if (is_dir_target(o.output)) {
    std::error_code ec;
    fs::create_directories(o.output, ec);
    if (ec) {
      print_error(o.output, ec.message());
      return kFailure;
    }
    output = std::make_unique<DirOutput>(o.output, format, o.files);
  } else {
    output = std::make_unique<FileOutput>(o.output, format, several);
  }

  pipeline::TranscribeOptions popts;
  popts.language = o.language;
  popts.admission = settings->admission;
  popts.min_available_bytes = floor;

  Progress progress(o.quiet, ::isatty(STDERR_FILENO) == 1);
  bool any_failed = false;
  for (const auto& file : o.files) {
    // Re-read memory before each file: the previous one may have loaded the model.
    if (auto s = sampler->sample(); s) popts.available_bytes = s->available_bytes;
    progress.begin(file);
    auto t = pipeline::transcribe_file(engine, file, popts,
                                       [&](double done, double total) { progress.update(done, total); });
    progress.end(t.has_value(), t ? t->duration_s : 0);
    if (!t) {
      print_error(file, t.error().message);
      any_failed = true;
      continue;
    }
    if (auto w = output->add(*t); !w) {
      print_error(file, w.error().message);
      any_failed = true;
    }
  }
  if (auto c = output->close(); !c) {
    print_error(output->name(), c.error().message);
    any_failed = true;
  }
  return any_failed ? kFailure : kOk;
}

}  // namespace

Runner add_transcribe_command(CLI::App& app, const Global& g) {
  auto o = std::make_shared<TranscribeOptions>();
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
                  "txt, srt, vtt or json (default: from -o FILE's extension, else txt)")
      ->check(CLI::IsMember({"txt", "srt", "vtt", "json"}));
  sub->add_option("-o,--output", o->output, "Output FILE or DIR/ ('-': standard output)");
  sub->add_option("-l,--language", o->language, "Language code (pocketsphinx: en)")
      ->capture_default_str();
  sub->add_option("--model", o->model_dir, "pocketsphinx model directory")->capture_default_str();
  sub->add_flag("-q,--quiet", o->quiet, "No progress on stderr (errors are still printed)");
  return [o, &g] { return run_transcribe(*o, g); };
}

}  // namespace soroka::cli
