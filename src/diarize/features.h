// Speaker features from speech audio: the interface the diarizer extracts through, and the
// linear-frequency cepstral (LFCC) extractor behind it (a neural speaker-embedding front end
// can replace it).
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace soroka::diarize {

// Feature frames of one stretch of audio: one row per kept frame, and each row's time.
struct Frames {
  Eigen::MatrixXf x;           // rows = frames, cols = dim()
  std::vector<float> time_s;   // centre of each kept frame, relative to the audio's start
};

class FeatureExtractor {
 public:
  virtual ~FeatureExtractor() = default;
  virtual int dim() const = 0;
  virtual double hop_s() const = 0;
  // Frames of `pcm`, keeping only those loud enough to carry the voice (pauses inside the
  // speech and the segmenter's padding say nothing about who speaks).
  virtual Frames extract(std::span<const std::int16_t> pcm) = 0;
  virtual void shed() {}
};

// LFCC c1..c19 from 26 equally wide bands of 0-4 kHz over 25 ms Hamming frames every 10 ms
// (FFTW for the FFT).
inline constexpr int kLfccDim = 19;         // make_lfcc's dim()
inline constexpr double kLfccHopS = 0.010;  // make_lfcc's hop_s(): frames per second of input
std::unique_ptr<FeatureExtractor> make_lfcc(int sample_rate);

// Which frames to keep: those within kKeepDb of the loudest frame of the stretch. A pure
// function over the frames' log energies (natural log of the power), for the tests.
std::vector<bool> loud_frames(std::span<const float> log_energy);

}  // namespace soroka::diarize
