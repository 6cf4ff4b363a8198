#!/usr/bin/env python3
"""Generates the diarization dev set: dialogues with exact reference RTTM, into OUT_DIR.

Voices: flite's slt (f), awb, rms, kal16, kal (m); the LibriVox reader of pocketsphinx-testdata;
the three asterisk prompt voices (en Allison, fr-CA June, ru IvrvoiceRU; all women). Each turn
is trimmed to its speech and placed after a known gap; the reference lists every run of speech
(pauses under 0.2 s bridged), found from the turn's own samples, so it is exact by
construction. Writes NAME.wav (16 kHz mono s16), NAME.rttm, and devset.tsv (name, speakers,
seconds) and known/VOICE.wav (clips of slt, awb, kal16 saying other sentences). Usage:
make-devset.py OUT_DIR [SEED=11]. Deterministic for a seed; ~20 s. Needs flite and sox.
"""
import array
import concurrent.futures as cf
import itertools
import os
import random
import subprocess
import sys
import wave

RATE = 16000
FLITE = ["slt", "awb", "rms", "kal16", "kal"]
ASTERISK = {"allison": "/usr/share/asterisk/sounds/en_US_f_Allison",
            "june": "/usr/share/asterisk/sounds/fr_CA_f_June",
            "ivr": "/usr/share/asterisk/sounds/ru_RU_f_IvrvoiceRU"}
LIBRIVOX = "/usr/share/pocketsphinx/test/data/librivox"

SENTENCES = """Good morning, did you get the report I sent last night?
I read most of it, but the numbers in the second table look strange.
They came from the new sensor, which was installed on Monday.
Then we should check the calibration before we publish anything.
The train was late again, so I missed the first meeting.
Could you send me the slides from the morning session?
We are planning to move the servers to the other building next month.
That sounds like a lot of work for such a small team.
My sister is visiting from Canada and she wants to see the old harbour.
The weather should be fine on Saturday, so a boat trip might be nice.
I think the budget will not cover a second engineer this year.
Let us ask the director before we make any promises.
The library closes at six, but the reading room stays open until nine.
I left my umbrella at the station, and of course it started to rain.
The new version of the program is twice as fast on the old laptops.
Please remember to lock the door when you leave the office.
We counted forty seven birds on the lake this morning.
The recipe needs three eggs, a cup of flour and a little sugar.
Nobody expected the river to rise so quickly after the storm.
The doctor said I should walk for half an hour every day.
I will call the bank tomorrow and ask about the transfer.
The children painted the fence blue, and now the neighbours want theirs painted too.
Our flight leaves at seven, so we need a taxi at five.
The museum has a new exhibition about the history of the railway.
I have never seen so many people at the market on a Tuesday.
The kitchen needs a new window before the winter comes.
Can we meet at the cafe near the bridge instead?
The second chapter explains the method much better than the first.
He plays the piano every evening after dinner.
The hotel was quiet, clean and close to the beach.""".split("\n")
SHORT = """Yes, I agree.
Not today.
Maybe later.
That is right.
Thank you very much.
I am not sure.
Let me check.
Fine by me.
What do you mean?
Sounds good.""".split("\n")
BACKCHANNELS = ["Yes.", "Okay.", "Right.", "Sure.", "I see.", "No.", "Really?", "Good."]


def read_wav(path):
    with wave.open(path, "rb") as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        a = array.array("h")
        a.frombytes(w.readframes(w.getnframes()))
        return a


def write_wav(path, samples):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(samples.tobytes())


def to16k(src, dst, extra=()):
    """Converts to 16 kHz mono s16 and trims leading and trailing silence."""
    trim = ["silence", "1", "0.02", "0.3%", "reverse", "silence", "1", "0.02", "0.3%", "reverse"]
    subprocess.run(["sox", "-R", src, "-r", str(RATE), "-c", "1", "-b", "16", dst, *extra, *trim],
                   check=True, stderr=subprocess.DEVNULL)


def speech_runs(samples, bridge_s=0.2):
    """(start, end) sample ranges of speech in a trimmed clip: 10 ms frames within 35 dB of
    the clip's loudest, pauses under bridge_s joined."""
    hop = RATE // 100
    energies = []
    for i in range(0, len(samples) - hop + 1, hop):
        fr = samples[i:i + hop]
        energies.append(sum(v * v for v in fr) / hop + 1e-3)
    if not energies:
        return []
    top = max(energies)
    loud = [e >= top * 10 ** (-3.5) for e in energies]
    runs, start, last = [], None, None
    for i, on in enumerate(loud):
        if on:
            if start is None:
                start = i
            elif i - last - 1 >= bridge_s * 100:
                runs.append((start, last + 1))
                start = i
            last = i
    if start is not None:
        runs.append((start, last + 1))
    return [(a * hop, min(len(samples), b * hop)) for a, b in runs]


def flite_clip(tmp, voice, text, key):
    raw, out = f"{tmp}/{key}.raw.wav", f"{tmp}/{key}.wav"
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", raw], check=True)
    to16k(raw, out)
    return out


def asterisk_clips(tmp, name, count, rng):
    """Prompts of 1-4 s from one asterisk voice, converted and trimmed."""
    root = ASTERISK[name]
    files = sorted(os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs if f.endswith(".wav"))
    files = [f for f in files if 16000 <= os.path.getsize(f) <= 64000]  # 1-4 s at 8 kHz s16
    rng.shuffle(files)
    out = []
    for i, f in enumerate(files[:count]):
        dst = f"{tmp}/ast-{name}-{i}.wav"
        to16k(f, dst)
        out.append(dst)
    return out


def librivox_clips(tmp):
    """The LibriVox recordings cut at pauses of 0.35 s or more into utterances."""
    out = []
    for f in sorted(os.listdir(LIBRIVOX)):
        if not f.endswith(".wav"):
            continue
        dst = f"{tmp}/lv-{f}"
        to16k(os.path.join(LIBRIVOX, f), dst)
        s = read_wav(dst)
        for j, (a, b) in enumerate(speech_runs(s, bridge_s=0.35)):
            if b - a >= RATE:  # utterances of 1 s or more
                piece = f"{tmp}/lv-{f}-{j}.wav"
                write_wav(piece, s[a:b])
                out.append(piece)
    return out


def build(out_dir, name, turns, noise=0.0):
    """turns: [(speaker, clip path, gap before in s)]. Writes the wav and the RTTM."""
    audio = array.array("h")
    ref = []
    for spk, clip, gap in turns:
        audio.extend(array.array("h", bytes(2 * int(gap * RATE))))
        s = read_wav(clip)
        for a, b in speech_runs(s):
            ref.append((spk, (len(audio) + a) / RATE, (b - a) / RATE))
        audio.extend(s)
    audio.extend(array.array("h", bytes(2 * int(0.5 * RATE))))
    path = f"{out_dir}/{name}.wav"
    write_wav(path, audio)
    if noise > 0:  # white noise at `noise` of full scale, mixed in
        tmp = path + ".clean.wav"
        os.replace(path, tmp)
        subprocess.run(["sox", "-R", tmp, "-p", "synth", "whitenoise", "vol", str(noise)],
                       check=True, stdout=open(path + ".noise", "wb"))
        subprocess.run(["sox", "-R", "-m", tmp, "-t", "sox", path + ".noise", "-b", "16", path],
                       check=True)
        os.remove(tmp)
        os.remove(path + ".noise")
    with open(f"{out_dir}/{name}.rttm", "w") as f:
        for spk, start, dur in ref:
            f.write(f"SPEAKER {name} 1 {start:.3f} {dur:.3f} <NA> <NA> {spk} <NA> <NA>\n")
    return len(audio) / RATE, len({t[0] for t in turns})


def plan(rng, voices, turns, short=False, backchannel=0.2, quick_gaps=0.1):
    """A dialogue script: [(voice, text, gap)], never the same voice twice in a row."""
    out, prev, prev_long = [], None, False
    for i in range(turns):
        v = rng.choice([x for x in voices if x != prev]) if len(voices) > 1 else voices[0]
        if i > 0 and rng.random() < backchannel:
            text, long_turn = rng.choice(BACKCHANNELS), False
        elif short:
            text, long_turn = rng.choice(SHORT), False
        else:
            text, long_turn = rng.choice(SENTENCES), True
        gap = rng.uniform(0.3, 1.0)
        if long_turn and prev_long and rng.random() < quick_gaps:
            gap = rng.uniform(0.15, 0.25)  # no pause the segmenter cuts at: a change inside speech
        out.append((v, text, 0.0 if i == 0 else gap))
        prev, prev_long = v, long_turn
    return out


_clip_ids = itertools.count()


def synth(tmp, script, pool):
    futs = [pool.submit(flite_clip, tmp, v, t, f"{v}-{next(_clip_ids)}") for v, t, _ in script]
    return [(v, f.result(), g) for (v, _, g), f in zip(script, futs)]


def alternate(rng, a_clips, b_name, b_clips, turns):
    """Two speakers taking turns, each turn one clip (cycled)."""
    out = []
    for i in range(turns):
        name, clips = (("A", a_clips) if i % 2 == 0 else (b_name, b_clips))
        clip = clips[(i // 2) % len(clips)]
        out.append((name, clip, 0.0 if i == 0 else rng.uniform(0.3, 1.0)))
    return out


def main():
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    tmp = os.path.join(out_dir, "tmp")
    os.makedirs(tmp, exist_ok=True)
    rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 11)
    flite_sets = [  # name, voices, turns, short, backchannel, noise
        ("f2_slt_awb", ["slt", "awb"], 20, False, 0.25, 0.0),
        ("f2_awb_rms", ["awb", "rms"], 20, False, 0.25, 0.0),
        ("f2_rms_kal_noise", ["rms", "kal"], 18, False, 0.2, 0.004),
        ("f3_slt_awb_kal16", ["slt", "awb", "kal16"], 24, False, 0.2, 0.002),
        ("f4_short_turns", ["slt", "awb", "rms", "kal16"], 36, True, 0.2, 0.0),
        ("f4_mixed_noise", ["slt", "awb", "rms", "kal"], 28, False, 0.15, 0.003),
        ("f1_slt", ["slt"], 10, False, 0.0, 0.0),
        ("f1_rms_noise", ["rms"], 10, False, 0.0, 0.004),
    ]
    rows = []
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        for name, voices, turns, short, bc, noise in flite_sets:
            script = plan(rng, voices, turns, short, bc)
            dur, n = build(out_dir, name, synth(tmp, script, pool), noise)
            rows.append((name, n, dur))
        lv = librivox_clips(tmp)
        slt = synth(tmp, plan(rng, ["slt"], 8, False, 0.0), pool)
        rows.append(("h2_librivox_slt", *reversed(build(
            out_dir, "h2_librivox_slt", alternate(rng, lv, "slt", [c for _, c, _ in slt], 16)))))
        rows.append(("h1_librivox", *reversed(build(
            out_dir, "h1_librivox", [("A", c, 0.0 if i == 0 else rng.uniform(0.3, 0.9))
                                     for i, c in enumerate(lv)]))))
        # Reference clips of known speakers, from sentences of their own.
        os.makedirs(os.path.join(out_dir, "known"), exist_ok=True)
        for v in ["slt", "awb", "kal16"]:
            text = " ".join(rng.sample(SENTENCES, 2))
            clip = flite_clip(tmp, v, text, f"known-{v}")
            os.replace(clip, os.path.join(out_dir, "known", f"{v}.wav"))
    allison = asterisk_clips(tmp, "allison", 12, rng)
    june = asterisk_clips(tmp, "june", 12, rng)
    ivr = asterisk_clips(tmp, "ivr", 12, rng)
    rows.append(("a2_allison_ivr", *reversed(build(
        out_dir, "a2_allison_ivr", alternate(rng, allison, "ivr", ivr, 18)))))
    # Each voice says its own prompts in order, none twice: never the same voice twice in a row
    # gives a voice at most 12 of the 24 turns. (Audio heard twice, sample for sample, is
    # evidence counted twice: docs/diarization.md.)
    three, used = [], {}
    for i in range(24):
        name, clips = [("allison", allison), ("june", june), ("ivr", ivr)][rng.choice(
            [k for k in range(3) if not three or k != ["allison", "june", "ivr"].index(three[-1][0])])]
        j = used[name] = used.get(name, -1) + 1
        three.append((name, clips[j % len(clips)], 0.0 if i == 0 else rng.uniform(0.3, 1.0)))
    rows.append(("a3_allison_june_ivr", *reversed(build(out_dir, "a3_allison_june_ivr", three))))
    with open(os.path.join(out_dir, "devset.tsv"), "w") as f:
        for name, speakers, dur in rows:
            f.write(f"{name}\t{speakers}\t{dur:.1f}\n")
    subprocess.run(["rm", "-rf", tmp], check=True)


if __name__ == "__main__":
    main()
