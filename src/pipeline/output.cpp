// Where transcripts go: a stream, one file (written whole or not at all), or a file per input.
#include "pipeline/output.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include <fmt/format.h>

namespace soroka::pipeline {

namespace {

namespace fs = std::filesystem;

void write_item(std::ostream& out, const Transcript& t, Format f, std::size_t index, bool combined) {
  // RTTM lines name their file themselves: combined, they are simply concatenated.
  if (!combined || f == Format::rttm) return write(out, t, f);
  if (f == Format::json) {
    out << (index == 0 ? "[\n" : ",\n");
    write_json(out, t);
    return;
  }
  if (index > 0) out << '\n';
  out << "==> " << t.file << " <==\n";
  write(out, t, f);
}

void write_end(std::ostream& out, Format f, std::size_t count, bool combined) {
  if (combined && f == Format::json) out << (count == 0 ? "[]\n" : "]\n");
}

class StreamOutput final : public Output {
 public:
  StreamOutput(std::ostream& out, Format f, bool combined) : out_(out), format_(f), combined_(combined) {}
  Result<void> add(const Transcript& t) override {
    write_item(out_, t, format_, count_++, combined_);
    return flushed();
  }
  Result<void> close() override {
    write_end(out_, format_, count_, combined_);
    return flushed();
  }
  std::string name() const override { return "standard output"; }

 private:
  Result<void> flushed() {
    out_.flush();
    if (!out_) return sys_fail("writing to standard output");
    return {};
  }
  std::ostream& out_;
  Format format_;
  bool combined_;
  std::size_t count_ = 0;
};

class FileOutput final : public Output {
 public:
  FileOutput(std::string path, Format f, bool combined)
      : path_(std::move(path)), tmp_(path_ + ".partial"), format_(f), combined_(combined) {}
  ~FileOutput() override { discard(); }
  Result<void> add(const Transcript& t) override {
    if (auto r = ensure_open(); !r) return r;
    write_item(out_, t, format_, count_++, combined_);
    if (!out_) return failed("writing " + tmp_);
    return {};
  }
  Result<void> close() override {
    if (count_ == 0 && !combined_) return {};  // the one input failed: no empty file
    if (auto r = ensure_open(); !r) return r;
    write_end(out_, format_, count_, combined_);
    out_.close();
    if (!out_) return failed("writing " + tmp_);
    if (std::rename(tmp_.c_str(), path_.c_str()) != 0) return failed("renaming " + tmp_ + " to " + path_);
    return {};
  }
  std::string name() const override { return path_; }

 private:
  Result<void> ensure_open() {
    if (out_.is_open()) return {};
    out_.open(tmp_, std::ios::binary | std::ios::trunc);
    if (!out_) return sys_fail("cannot create " + tmp_);
    return {};
  }
  // The error, with the partial file gone.
  std::unexpected<Error> failed(const std::string& what) {
    auto e = sys_fail(what);
    discard();
    return e;
  }
  void discard() {
    if (out_.is_open()) out_.close();
    std::error_code ec;
    fs::remove(tmp_, ec);
  }
  std::string path_, tmp_;
  Format format_;
  bool combined_;
  std::ofstream out_;
  std::size_t count_ = 0;
};

class DirOutput final : public Output {
 public:
  DirOutput(std::string dir, std::vector<Format> formats, const std::vector<std::string>& inputs)
      : dir_(std::move(dir)), formats_(std::move(formats)) {
    std::map<std::string, int> stems;
    for (const auto& in : inputs) ++stems[fs::path(in).stem().string()];
    for (const auto& in : inputs) {
      fs::path p(in);
      bases_[in] = (fs::path(dir_) / (stems[p.stem().string()] > 1 ? p.filename() : p.stem())).string();
    }
  }
  Result<void> add(const Transcript& t) override {
    auto it = bases_.find(t.file);
    if (it == bases_.end()) return fail(fmt::format("{} is not one of the inputs", t.file), EINVAL);
    if (!written_.insert(it->second).second)
      return fail(fmt::format("{} was already written for another input", it->second), EEXIST);
    for (Format f : formats_) {
      auto r = write_atomically(it->second + "." + to_string(f), [&](std::ostream& o) { write(o, t, f); });
      if (!r) return r;
    }
    return {};
  }
  Result<void> close() override { return {}; }
  std::string name() const override { return dir_; }

 private:
  std::string dir_;
  std::vector<Format> formats_;
  std::map<std::string, std::string> bases_;  // input -> DIR/STEM, each format's extension added
  std::set<std::string> written_;
};

bool is_dir_target(const std::string& path) {
  std::error_code ec;
  return (!path.empty() && path.back() == '/') || fs::is_directory(path, ec);
}

}  // namespace

std::unique_ptr<Output> stream_output(std::ostream& out, Format f, bool combined) {
  return std::make_unique<StreamOutput>(out, f, combined);
}

std::unique_ptr<Output> file_output(std::string path, Format f, bool combined) {
  return std::make_unique<FileOutput>(std::move(path), f, combined);
}

std::unique_ptr<Output> dir_output(std::string dir, std::vector<Format> formats, const std::vector<std::string>& inputs) {
  return std::make_unique<DirOutput>(std::move(dir), std::move(formats), inputs);
}

Result<std::unique_ptr<Output>> open_output(const std::string& target, const std::vector<Format>& formats,
                                            const std::vector<std::string>& inputs, std::ostream& out) {
  if (formats.empty()) return fail("no output format", EINVAL);
  const bool combined = inputs.size() > 1;
  const bool dir = !target.empty() && target != "-" && is_dir_target(target);
  if (formats.size() > 1 && !dir)
    return fail(FailureKind::invalid_request, "several formats need -o DIR/ (a file per input and format)", EINVAL);
  if (target.empty() || target == "-") return stream_output(out, formats[0], combined);
  if (!dir) return file_output(target, formats[0], combined);
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) return fail(ec.message(), ec.value());
  return dir_output(target, formats, inputs);
}

Result<std::vector<Format>> parse_formats(std::string_view list) {
  std::vector<Format> out;
  for (std::size_t at = 0; at <= list.size();) {
    std::size_t comma = std::min(list.find(',', at), list.size());
    const std::string_view name = list.substr(at, comma - at);
    auto f = parse_format(name);
    if (!f)
      return fail(FailureKind::invalid_request,
                  fmt::format("'{}' is not a format (txt, srt, vtt, json, rttm)", name), EINVAL);
    if (std::find(out.begin(), out.end(), *f) == out.end()) out.push_back(*f);
    at = comma + 1;
  }
  return out;
}

Format output_format(const std::optional<Format>& flag, const std::string& target) {
  if (flag) return *flag;
  if (target.empty() || target == "-" || is_dir_target(target)) return Format::txt;
  std::string ext = fs::path(target).extension().string();
  if (ext.empty()) return Format::txt;
  return parse_format(ext.substr(1)).value_or(Format::txt);
}

Result<void> write_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  const std::string tmp = path + ".partial";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return sys_fail("cannot create " + tmp);
    write(out);
    out.flush();
    if (!out) {
      int err = errno;
      out.close();
      std::error_code ec;
      fs::remove(tmp, ec);
      return sys_fail("writing " + tmp, err);
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    auto e = sys_fail("renaming " + tmp + " to " + path);
    std::error_code ec;
    fs::remove(tmp, ec);
    return e;
  }
  return {};
}

}  // namespace soroka::pipeline
