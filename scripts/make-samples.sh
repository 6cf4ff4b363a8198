#!/usr/bin/env bash
# Makes the demo's sample media in OUTDIR: flite voices (slt, awb, rms) speaking with pauses, as
# an OGG/Opus voice note, an MP3 and a round MP4 video note. Needs flite, sox and ffmpeg.
set -euo pipefail

OUTDIR=${1:?usage: make-samples.sh OUTDIR}
for tool in flite sox ffmpeg; do
  command -v "$tool" >/dev/null || { echo "make-samples: $tool is not installed (make deps)" >&2; exit 1; }
done
mkdir -p "$OUTDIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ffmpeg_q() { ffmpeg -y -hide_banner -loglevel error -nostdin "$@"; }
made() { printf 'make-samples: %s (%.1f s)\n' "$1" "$(soxi -D "$2")"; }

# say NAME VOICE TEXT: one sentence as 16 kHz mono WAV.
say() { flite -voice "$2" -t "$3" -o "$work/$1.wav"; }
# speech OUT PART...: the parts with 0.7 s pauses before, between and after them.
speech() {
  local out=$1; shift
  local args=("$work/pause.wav")
  for part in "$@"; do args+=("$work/$part.wav" "$work/pause.wav"); done
  sox "${args[@]}" "$out"
}

sox -n -r 16000 -c 1 -b 16 "$work/pause.wav" trim 0 0.7

say a slt "Hello, this is a voice note for Soroka."
say b awb "The meeting moved to Thursday at ten in the morning."
say c rms "Please bring the report and the budget numbers."
speech "$work/note.wav" a b c
# Telegram voice notes: 48 kHz mono Opus in Ogg.
ffmpeg_q -i "$work/note.wav" -ac 1 -ar 48000 -c:a libopus -b:a 24k "$OUTDIR/voice-note.ogg"
made "$OUTDIR/voice-note.ogg" "$work/note.wav"

say d rms "Welcome back to the show."
say e slt "Today we talk about memory on small servers."
say f awb "When memory runs low, the kernel kills the biggest process."
speech "$work/show.wav" d e f
ffmpeg_q -i "$work/show.wav" -ar 44100 -c:a libmp3lame -b:a 64k "$OUTDIR/podcast.mp3"
made "$OUTDIR/podcast.mp3" "$work/show.wav"

say g awb "This is a round video message."
say h slt "The sound is what we transcribe, the picture is skipped."
speech "$work/video.wav" g h
seconds=$(soxi -D "$work/video.wav")
# A Telegram-style round video note: square H.264 with mono AAC, index at the front.
ffmpeg_q -f lavfi -i "color=c=0x2a6fdb:size=384x384:rate=30:duration=$seconds" -i "$work/video.wav" \
  -c:v libx264 -preset ultrafast -pix_fmt yuv420p -c:a aac -ac 1 -ar 48000 -movflags +faststart \
  -threads 1 "$OUTDIR/video-note.mp4"
made "$OUTDIR/video-note.mp4" "$work/video.wav"

