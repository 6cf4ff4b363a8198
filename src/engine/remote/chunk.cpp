// Chunks: local segments joined into one request, time maps, and answers stitched back.
#include "engine/remote/chunk.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace soroka::engine::remote {

namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

void append_text(std::string& to, std::string_view more) {
  std::string t = trim(more);
  if (t.empty()) return;
  if (!to.empty()) to += ' ';
  to += t;
}

std::size_t piece_index(const std::vector<Piece>& pieces, double chunk_s, int rate) {
  const double at = std::max(0.0, chunk_s) * rate;
  for (std::size_t i = 0; i < pieces.size(); ++i)
    if (at < static_cast<double>(pieces[i].offset + pieces[i].length)) return i;
  return pieces.empty() ? 0 : pieces.size() - 1;
}

double piece_start_s(const Piece& p, int rate) { return static_cast<double>(p.start_sample) / rate; }
double piece_end_s(const Piece& p, int rate) {
  return static_cast<double>(p.start_sample + static_cast<std::int64_t>(p.length)) / rate;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::istringstream in{std::string(text)};
  for (std::string w; in >> w;) out.push_back(std::move(w));
  return out;
}

// No timings at all: word i of n goes to the piece holding the point (i + 0.5) / n of the
// chunk's speech, so each piece gets a share of words in proportion to its length.
void share_out(const std::vector<Piece>& pieces, std::string_view text, std::vector<SegmentText>& out) {
  const auto words = split_words(text);
  std::size_t total = 0;
  for (const auto& p : pieces) total += p.length;
  std::size_t piece = 0, upto = pieces.empty() ? 0 : pieces[0].length;
  for (std::size_t i = 0; i < words.size(); ++i) {
    const double at = (static_cast<double>(i) + 0.5) / static_cast<double>(words.size()) * static_cast<double>(total);
    while (piece + 1 < pieces.size() && at >= static_cast<double>(upto)) upto += pieces[++piece].length;
    append_text(out[piece].text, words[i]);
  }
}

}  // namespace

double Chunk::start_s(int rate) const { return pieces.empty() ? 0 : piece_start_s(pieces.front(), rate); }

void Chunk::add(segment::Segment&& seg) {
  pieces.push_back({seg.start_sample, pcm.size(), seg.samples.size()});
  pcm.insert(pcm.end(), seg.samples.begin(), seg.samples.end());
  seg.samples = {};
}

std::optional<std::pair<Chunk, Chunk>> split(Chunk&& c) {
  if (c.pieces.size() < 2) return std::nullopt;
  const std::size_t half = c.pcm.size() / 2;
  std::size_t cut = 1, best = SIZE_MAX;
  for (std::size_t i = 1; i < c.pieces.size(); ++i) {
    const std::size_t d = c.pieces[i].offset > half ? c.pieces[i].offset - half : half - c.pieces[i].offset;
    if (d < best) best = d, cut = i;
  }
  Chunk a, b;
  a.seq = b.seq = c.seq;
  const std::size_t at = c.pieces[cut].offset;
  a.pcm.assign(c.pcm.begin(), c.pcm.begin() + static_cast<std::ptrdiff_t>(at));
  b.pcm.assign(c.pcm.begin() + static_cast<std::ptrdiff_t>(at), c.pcm.end());
  a.pieces.assign(c.pieces.begin(), c.pieces.begin() + static_cast<std::ptrdiff_t>(cut));
  for (std::size_t i = cut; i < c.pieces.size(); ++i) {
    Piece p = c.pieces[i];
    p.offset -= at;
    b.pieces.push_back(p);
  }
  return std::pair{std::move(a), std::move(b)};
}

double to_input_time(const std::vector<Piece>& pieces, double chunk_s, int rate) {
  if (pieces.empty()) return 0;
  const Piece& p = pieces[piece_index(pieces, chunk_s, rate)];
  const double into = std::max(0.0, chunk_s - static_cast<double>(p.offset) / rate);
  return std::min(piece_start_s(p, rate) + into, piece_end_s(p, rate));
}

std::vector<SegmentText> stitch(const std::vector<Piece>& pieces, const ChunkAnswer& a, int rate) {
  std::vector<SegmentText> out(pieces.size());
  for (std::size_t i = 0; i < pieces.size(); ++i) {
    out[i].start_s = piece_start_s(pieces[i], rate);
    out[i].end_s = piece_end_s(pieces[i], rate);
  }
  if (pieces.empty()) return out;
  // Text: from the server's segments when it gave them (they keep Whisper's punctuation,
  // which OpenAI's word list drops), else from the words, else shared out.
  if (!a.segments.empty()) {
    for (const auto& s : a.segments)
      append_text(out[piece_index(pieces, (s.start_s + s.end_s) / 2, rate)].text, s.text);
  } else if (a.words.empty()) {
    share_out(pieces, a.text, out);
  }
  for (const auto& w : a.words) {
    const std::string t = trim(w.text);
    if (t.empty()) continue;
    const std::size_t i = piece_index(pieces, (w.start_s + w.end_s) / 2, rate);
    const Piece& p = pieces[i];
    const double off = static_cast<double>(p.offset) / rate;
    auto clamp = [&](double s) { return std::clamp(piece_start_s(p, rate) + s - off, out[i].start_s, out[i].end_s); };
    Word word{clamp(w.start_s), clamp(w.end_s), t, std::nullopt};
    if (!out[i].words.empty()) word.start_s = std::max(word.start_s, out[i].words.back().end_s);
    word.end_s = std::max(word.end_s, word.start_s);
    if (a.segments.empty()) append_text(out[i].text, t);
    out[i].words.push_back(std::move(word));
  }
  return out;
}

std::vector<segment::Segment> pieces_audio(const Chunk& c) {
  std::vector<segment::Segment> out;
  for (const auto& p : c.pieces) {
    segment::Segment s;
    s.start_sample = p.start_sample;
    if (p.offset + p.length <= c.pcm.size())
      s.samples.assign(c.pcm.begin() + static_cast<std::ptrdiff_t>(p.offset),
                       c.pcm.begin() + static_cast<std::ptrdiff_t>(p.offset + p.length));
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace soroka::engine::remote
