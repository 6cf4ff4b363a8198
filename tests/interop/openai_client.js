// The official OpenAI Node client against `soroka serve`, unchanged: a transcription in every
// response format, the errors it raises for a wrong key and an oversize file. Prints one line
// per check; exits non-zero on the first that fails.
// With DIALOGUE_WAV and ANNA_WAV (two voices, then a clip of the first): diarized_json with
// the diarization model, and a known speaker by name and reference clip.
// Usage: node openai_client.js BASE_URL API_KEY SPEECH_WAV BIG_FILE [DIALOGUE_WAV ANNA_WAV]
const fs = require("fs");
const OpenAI = require("openai");

const [base, key, wav, big, dialogue, anna] = process.argv.slice(2);
const client = new OpenAI({ baseURL: base, apiKey: key, maxRetries: 0, timeout: 120000 });

function check(what, ok, detail) {
  console.log(`${ok ? "ok" : "FAIL"} ${what}${detail ? ": " + detail : ""}`);
  if (!ok) process.exit(1);
}

// OpenAI's diarized_json, as the client parses it: segments of type transcript.text.segment,
// each with a speaker; two voices give two speakers; a known voice is named.
async function diarized() {
  const d = await client.audio.transcriptions.create({
    file: fs.createReadStream(dialogue), model: "gpt-4o-transcribe-diarize", response_format: "diarized_json",
    chunking_strategy: "auto",
  });
  const segs = Array.isArray(d.segments) ? d.segments : [];
  check("diarized_json has task, duration, text, segments", d.task === "transcribe" && d.duration > 0 &&
        typeof d.text === "string" && segs.length > 0, JSON.stringify(d).slice(0, 300));
  check("every segment has OpenAI's fields", segs.every((s) => s.type === "transcript.text.segment" &&
        typeof s.id === "string" && typeof s.speaker === "string" && s.end >= s.start && typeof s.text === "string"));
  const speakers = new Set(segs.map((s) => s.speaker));
  check("two voices give two speakers", speakers.size === 2, [...speakers].join(", "));
  check("usage by duration", d.usage && d.usage.type === "duration" && d.usage.seconds > 0, JSON.stringify(d.usage));

  const ref = "data:audio/wav;base64," + fs.readFileSync(anna).toString("base64");
  const k = await client.audio.transcriptions.create({
    file: fs.createReadStream(dialogue), model: "gpt-4o-transcribe-diarize", response_format: "diarized_json",
    known_speaker_names: ["Anna"], known_speaker_references: [ref],
  });
  const named = new Set((k.segments || []).map((s) => s.speaker));
  check("a known speaker is named", named.has("Anna"), [...named].join(", "));
}

(async () => {
  const t = await client.audio.transcriptions.create({ file: fs.createReadStream(wav), model: "whisper-1" });
  check("json transcription has text", typeof t.text === "string" && t.text.length > 0, JSON.stringify(t.text));

  const v = await client.audio.transcriptions.create({
    file: fs.createReadStream(wav), model: "whisper-1", response_format: "verbose_json", language: "en",
  });
  check("verbose_json has segments", Array.isArray(v.segments) && v.segments.length > 0 && v.duration > 0);

  const srt = await client.audio.transcriptions.create({ file: fs.createReadStream(wav), model: "whisper-1", response_format: "srt" });
  check("srt is text with a cue", typeof srt === "string" && srt.includes("-->"));

  const wrong = new OpenAI({ baseURL: base, apiKey: "sk-not-a-key-0123456789", maxRetries: 0 });
  try {
    await wrong.audio.transcriptions.create({ file: fs.createReadStream(wav), model: "whisper-1" });
    check("wrong key refused", false, "accepted");
  } catch (e) {
    check("wrong key is AuthenticationError", e instanceof OpenAI.AuthenticationError && e.status === 401, `${e.constructor.name} ${e.status}`);
  }

  try {
    await client.audio.transcriptions.create({ file: fs.createReadStream(big), model: "whisper-1" });
    check("oversize refused", false, "accepted");
  } catch (e) {
    check("oversize is a 413 APIError with our code", e instanceof OpenAI.APIError && e.status === 413 && e.code === "file_too_large",
          `${e.constructor.name} ${e.status} ${e.code}`);
  }

  try {
    await client.audio.transcriptions.create({ file: fs.createReadStream(wav), model: "gpt-9" });
    check("unknown model refused", false, "accepted");
  } catch (e) {
    check("unknown model is BadRequestError", e instanceof OpenAI.BadRequestError && e.param === "model", `${e.constructor.name} ${e.param}`);
  }

  if (dialogue) await diarized();
})().catch((e) => {
  console.log(`FAIL unexpected: ${e.constructor.name}: ${e.message}`);
  process.exit(1);
});
