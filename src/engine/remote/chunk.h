// Chunks: local segments joined into one request's audio, the map from chunk time back to the
// input's time, and the stitching of a server's answer back onto the segments. Pure.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/engine.h"
#include "engine/remote/wire.h"
#include "segment/segmenter.h"

namespace soroka::engine::remote {

// One local segment inside a chunk: its samples are pcm[offset, offset + length).
struct Piece {
  std::int64_t start_sample = 0;  // in the input
  std::size_t offset = 0;
  std::size_t length = 0;
};

struct Chunk {
  std::uint64_t seq = 0;  // 0, 1, 2... in input order
  std::vector<std::int16_t> pcm;
  std::vector<Piece> pieces;
  double seconds(int rate) const { return static_cast<double>(pcm.size()) / rate; }
  double start_s(int rate) const;  // of the first piece, in the input
  void add(segment::Segment&& seg);
};

// Whether a chunk of `chunk_s` seconds is full before a segment of `next_s` seconds: the
// segment would take it past `limit_s`. An empty chunk always takes the next segment.
constexpr bool chunk_full(double chunk_s, double next_s, double limit_s) {
  return chunk_s > 0 && chunk_s + next_s > limit_s;
}

// A chunk cut in two at the piece boundary nearest its middle (for a request too large);
// nullopt when it holds a single piece.
std::optional<std::pair<Chunk, Chunk>> split(Chunk&& c);

// A chunk's time (seconds from its start) as the input's time: the piece it falls in, mapped
// by that piece's offset. Times past the end map into the last piece.
double to_input_time(const std::vector<Piece>& pieces, double chunk_s, int rate);

// The answer laid onto the chunk's pieces: one SegmentText per piece, in order, with the
// piece's input times. Text: the server's segments go to the piece their middle falls in;
// without segments, its words do; with neither, the text's words are shared out in proportion
// to the pieces' durations. Word timings go by their middle too, clamped into their piece.
// No word is lost or repeated: each lands in exactly one piece.
std::vector<SegmentText> stitch(const std::vector<Piece>& pieces, const ChunkAnswer& a, int rate);

// The segments a chunk was made of, rebuilt from its PCM (for stages that need the audio).
std::vector<segment::Segment> pieces_audio(const Chunk& c);

}  // namespace soroka::engine::remote
