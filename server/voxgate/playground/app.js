// The voxgate playground: plain browser APIs against the server's own OpenAI-compatible routes.
// No build step and nothing from a CDN, so it works offline. The API key (when the server has
// keys) stays in this browser's localStorage and goes only in Authorization headers; the live
// tabs connect with short-lived client secrets minted for the page, never with the key itself.

const $ = (id) => document.getElementById(id);
const KEY_STORAGE = "voxgate.apiKey";
const RATE = 24000;

// -- plumbing -------------------------------------------------------------------------------

function apiKey() {
  return $("api-key").value.trim();
}

function authHeaders(extra = {}) {
  const key = apiKey();
  return key ? { Authorization: `Bearer ${key}`, ...extra } : { ...extra };
}

async function errorMessage(response) {
  const text = await response.text();
  try {
    const body = JSON.parse(text);
    if (body && body.error && body.error.message) return body.error.message;
  } catch (_) {
    /* not JSON: show the text */
  }
  return text || `HTTP ${response.status}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { ...options, headers: authHeaders(options.headers || {}) });
  if (!response.ok) throw new Error(await errorMessage(response));
  return response;
}

function showError(error) {
  const box = $("error");
  box.textContent = error ? String(error.message || error) : "";
  box.hidden = !error;
}

function status(id, text) {
  $(id).textContent = text;
}

async function busy(button, work) {
  button.disabled = true;
  showError(null);
  try {
    await work();
  } catch (error) {
    showError(error);
  } finally {
    button.disabled = false;
  }
}

async function mintSecret(session) {
  const response = await api("/v1/realtime/client_secrets", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ expires_after: { anchor: "created_at", seconds: 600 }, session }),
  });
  return (await response.json()).value;
}

// -- tabs, key, model and voice lists --------------------------------------------------------

function selectTab(name) {
  for (const button of document.querySelectorAll("nav button")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === name));
  }
  for (const section of document.querySelectorAll("section.tab")) section.hidden = section.id !== name;
}

function fillList(id, values) {
  $(id).replaceChildren(...values.map((value) => Object.assign(document.createElement("option"), { value })));
}

function fillVoices(select, voices) {
  const previous = select.value;
  select.replaceChildren(
    ...voices.map((v) => Object.assign(document.createElement("option"), { value: v.id, textContent: v.name || v.id })),
  );
  if (voices.some((v) => v.id === previous)) select.value = previous;
}

async function loadVoices() {
  const model = $("speak-model").value.trim() || "tts-1";
  const response = await api(`/v1/audio/voices?model=${encodeURIComponent(model)}`);
  const voices = (await response.json()).voices || [];
  fillVoices($("speak-voice"), voices);
  fillVoices($("talk-voice"), voices);
}

async function loadLists() {
  try {
    const speaking = (await (await api("/v1/audio/models")).json()).models.map((m) => m.id);
    const all = (await (await api("/v1/models")).json()).data.map((m) => m.id);
    fillList("tts-models", speaking);
    fillList("stt-models", all.filter((id) => !speaking.includes(id)));
    await loadVoices();
  } catch (error) {
    showError(apiKey() ? error : new Error(`${error.message} (this server needs an API key: enter it above)`));
  }
}

// -- Speak -----------------------------------------------------------------------------------

const MIME = { mp3: "audio/mpeg", wav: "audio/wav", opus: "audio/ogg", aac: "audio/aac", flac: "audio/flac", pcm: "audio/L16" };

function pcmPlayer() {
  // 24 kHz 16-bit mono chunks, scheduled back to back as they arrive.
  const context = new AudioContext({ sampleRate: RATE });
  let at = context.currentTime + 0.05;
  let carry = new Uint8Array(0);
  return (chunk) => {
    const bytes = new Uint8Array(carry.length + chunk.length);
    bytes.set(carry);
    bytes.set(chunk, carry.length);
    const even = bytes.length - (bytes.length % 2);
    carry = bytes.slice(even);
    const samples = new Int16Array(bytes.buffer.slice(0, even));
    if (!samples.length) return;
    const buffer = context.createBuffer(1, samples.length, RATE);
    buffer.getChannelData(0).set(Float32Array.from(samples, (s) => s / 32768));
    const source = context.createBufferSource();
    source.buffer = buffer;
    source.connect(context.destination);
    at = Math.max(at, context.currentTime);
    source.start(at);
    at += buffer.duration;
  };
}

function streamingAudio(audio, format) {
  // mp3 plays while it streams through Media Source; other formats play once complete.
  if (format !== "mp3" || !window.MediaSource || !MediaSource.isTypeSupported("audio/mpeg")) return null;
  const source = new MediaSource();
  audio.src = URL.createObjectURL(source);
  const queue = [];
  let buffer = null;
  let ended = false;
  const pump = () => {
    if (!buffer || buffer.updating) return;
    if (queue.length) buffer.appendBuffer(queue.shift());
    else if (ended && source.readyState === "open") source.endOfStream();
  };
  source.addEventListener("sourceopen", () => {
    buffer = source.addSourceBuffer("audio/mpeg");
    buffer.addEventListener("updateend", pump);
    pump();
  });
  audio.play().catch(() => {});
  return {
    push(chunk) { queue.push(chunk); pump(); },
    end() { ended = true; pump(); },
  };
}

async function speak() {
  const format = $("speak-format").value;
  const body = {
    model: $("speak-model").value.trim(),
    input: $("speak-text").value,
    voice: $("speak-voice").value || "alloy",
    response_format: format,
    speed: Number($("speak-speed").value) || 1,
  };
  const instructions = $("speak-instructions").value.trim();
  if (instructions) body.instructions = instructions;
  const audio = $("speak-audio");
  const link = $("speak-download");
  link.hidden = true;
  audio.removeAttribute("src");
  status("speak-status", "speaking…");
  const started = performance.now();
  const response = await api("/v1/audio/speech", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const live = format === "pcm" ? pcmPlayer() : null;
  const stream = live ? null : streamingAudio(audio, format);
  const chunks = [];
  let size = 0;
  let first = null;
  const reader = response.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    first ??= performance.now() - started;
    chunks.push(value);
    size += value.length;
    if (live) live(value);
    if (stream) stream.push(value);
    status("speak-status", `${(size / 1024).toFixed(1)} kB…`);
  }
  const blob = new Blob(chunks, { type: MIME[format] });
  if (stream) stream.end();
  else if (!live) {
    audio.src = URL.createObjectURL(blob);
    audio.play().catch(() => {});
  }
  link.href = URL.createObjectURL(blob);
  link.download = `speech.${format}`;
  link.hidden = false;
  link.dataset.bytes = String(size);
  status("speak-status", `${(size / 1024).toFixed(1)} kB, first audio after ${Math.round(first ?? 0)} ms`);
}

// -- Transcribe ------------------------------------------------------------------------------

let chosenFile = null;

function chooseFile(file) {
  chosenFile = file || null;
  status("transcribe-name", file ? `${file.name} (${(file.size / 1024).toFixed(0)} kB)` : "");
}

function seconds(value) {
  return typeof value === "number" ? value.toFixed(2) : "";
}

function fillTable(id, rows, textKey) {
  const table = $(id);
  table.tBodies[0].replaceChildren(
    ...rows.map((row) => {
      const tr = document.createElement("tr");
      for (const value of [seconds(row.start), seconds(row.end), row[textKey]]) {
        tr.append(Object.assign(document.createElement("td"), { textContent: value }));
      }
      return tr;
    }),
  );
  table.hidden = rows.length === 0;
}

async function readEvents(response, onEvent) {
  // Server-sent events: one JSON object per `data:` line.
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let pending = "";
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    pending += value;
    const blocks = pending.split("\n\n");
    pending = blocks.pop();
    for (const block of blocks) {
      for (const line of block.split("\n")) {
        if (line.startsWith("data:") && line.slice(5).trim() !== "[DONE]") onEvent(JSON.parse(line.slice(5)));
      }
    }
  }
}

async function transcribe() {
  if (!chosenFile) throw new Error("Pick or drop an audio file first.");
  const format = $("transcribe-format").value;
  const stream = $("transcribe-stream").checked;
  const form = new FormData();
  form.append("file", chosenFile);
  form.append("model", $("transcribe-model").value.trim());
  const language = $("transcribe-language").value.trim();
  if (language) form.append("language", language);
  form.append("response_format", stream ? "json" : format);
  if (format === "verbose_json" && !stream) {
    if ($("transcribe-words").checked) form.append("timestamp_granularities[]", "word");
    if ($("transcribe-segments").checked) form.append("timestamp_granularities[]", "segment");
  }
  if (stream) form.append("stream", "true");
  const output = $("transcribe-text");
  output.textContent = "";
  fillTable("transcribe-segments-table", [], "text");
  fillTable("transcribe-words-table", [], "word");
  status("transcribe-status", "transcribing…");
  const response = await api("/v1/audio/transcriptions", { method: "POST", body: form });
  if (stream) {
    await readEvents(response, (event) => {
      if (event.type === "transcript.text.delta") output.textContent += event.delta;
      if (event.type === "transcript.text.done") output.textContent = event.text;
      if (event.type === "error") throw new Error(event.error?.message || "transcription failed");
    });
  } else if (format === "json" || format === "verbose_json") {
    const result = await response.json();
    output.textContent = result.text;
    fillTable("transcribe-segments-table", result.segments || [], "text");
    fillTable("transcribe-words-table", result.words || [], "word");
  } else {
    output.textContent = await response.text();
  }
  output.dataset.done = "true";
  status("transcribe-status", "done");
}

// -- Live captions and Talk: lines keyed by item -----------------------------------------------

function line(container, id, kind) {
  let element = container.querySelector(`[data-item="${CSS.escape(id)}"]`);
  if (!element) {
    element = Object.assign(document.createElement("p"), { className: `line ${kind}` });
    element.dataset.item = id;
    container.append(element);
    container.scrollTop = container.scrollHeight;
  }
  return element;
}

function micCapture(stream, onPcm) {
  // Microphone audio as 24 kHz pcm16 chunks (the Realtime API's input format).
  const context = new AudioContext({ sampleRate: RATE });
  const source = context.createMediaStreamSource(stream);
  const processor = context.createScriptProcessor(4096, 1, 1);
  processor.onaudioprocess = (event) => {
    const input = event.inputBuffer.getChannelData(0);
    const pcm = new Int16Array(input.length);
    for (let i = 0; i < input.length; i++) pcm[i] = Math.max(-1, Math.min(1, input[i])) * 0x7fff;
    onPcm(pcm);
  };
  source.connect(processor);
  processor.connect(context.destination);
  return () => context.close();
}

function base64(pcm) {
  const bytes = new Uint8Array(pcm.buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

let captions = null;

async function startCaptions() {
  if (captions) return stopCaptions();
  const transcription = { model: $("captions-model").value.trim() };
  const language = $("captions-language").value.trim();
  if (language) transcription.language = language;
  const secret = await mintSecret({
    type: "transcription",
    audio: { input: { transcription, turn_detection: { type: "server_vad", silence_duration_ms: 500 } } },
  });
  const mic = await navigator.mediaDevices.getUserMedia({ audio: { channelCount: 1 } });
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const socket = new WebSocket(`${scheme}://${location.host}/v1/realtime?intent=transcription`, [
    "realtime",
    `openai-insecure-api-key.${secret}`,
  ]);
  const lines = $("captions-lines");
  let stopMic = null;
  captions = { socket, mic, stop: () => stopMic && stopMic() };
  socket.onopen = () => {
    stopMic = micCapture(mic, (pcm) => {
      if (socket.readyState === WebSocket.OPEN) {
        socket.send(JSON.stringify({ type: "input_audio_buffer.append", audio: base64(pcm) }));
      }
    });
    status("captions-status", "listening…");
    $("captions-go").textContent = "Stop";
  };
  socket.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "input_audio_buffer.speech_started") line(lines, event.item_id, "partial").textContent = "…";
    if (event.type === "conversation.item.input_audio_transcription.delta") {
      const element = line(lines, event.item_id, "partial");
      element.textContent = (element.textContent === "…" ? "" : element.textContent) + event.delta;
    }
    if (event.type === "conversation.item.input_audio_transcription.completed") {
      const element = line(lines, event.item_id, "final");
      element.className = "line final";
      element.textContent = event.transcript;
    }
    if (event.type === "error") showError(event.error.message);
  };
  socket.onclose = (event) => {
    if (event.code !== 1000 && event.code !== 1005 && captions) showError(event.reason || `closed (${event.code})`);
    stopCaptions();
  };
}

function stopCaptions() {
  if (!captions) return;
  const { socket, mic, stop } = captions;
  captions = null;
  stop();
  mic.getTracks().forEach((track) => track.stop());
  if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
  status("captions-status", "stopped");
  $("captions-go").textContent = "Start";
}

let talk = null;

function gathered(pc, timeoutMs) {
  // The server takes no trickled candidates: send the offer once gathering is done (or soon).
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", done);
    setTimeout(resolve, timeoutMs);
  });
}

async function startTalk() {
  if (talk) return stopTalk();
  const session = {
    type: "realtime",
    audio: {
      input: { transcription: { model: "whisper-1" }, turn_detection: { type: "server_vad" } },
      output: { voice: $("talk-voice").value || "alloy" },
    },
  };
  const instructions = $("talk-instructions").value.trim();
  if (instructions) session.instructions = instructions;
  const secret = await mintSecret(session);
  const mic = await navigator.mediaDevices.getUserMedia({ audio: true });
  const pc = new RTCPeerConnection();
  talk = { pc, mic, callId: null, secret };
  pc.ontrack = (event) => {
    $("talk-audio").srcObject = event.streams[0] || new MediaStream([event.track]);
  };
  for (const track of mic.getTracks()) pc.addTrack(track, mic);
  const channel = pc.createDataChannel("oai-events");
  const lines = $("talk-lines");
  channel.onmessage = (message) => {
    const event = JSON.parse(message.data);
    if (event.type === "conversation.item.input_audio_transcription.completed") {
      line(lines, event.item_id, "user").textContent = event.transcript;
    }
    if (event.type === "response.output_audio_transcript.delta") line(lines, event.item_id, "assistant").textContent += event.delta;
    if (event.type === "output_audio_buffer.started") status("talk-status", "speaking…");
    if (event.type === "output_audio_buffer.stopped" || event.type === "output_audio_buffer.cleared") status("talk-status", "listening…");
    if (event.type === "response.done") lines.dataset.responses = String(Number(lines.dataset.responses || 0) + 1);
    if (event.type === "error") showError(event.error.message);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await gathered(pc, 2000);
  const response = await fetch("/v1/realtime/calls", {
    method: "POST",
    headers: { Authorization: `Bearer ${secret}`, "Content-Type": "application/sdp" },
    body: pc.localDescription.sdp,
  });
  if (!response.ok) {
    const message = await errorMessage(response);
    stopTalk();
    throw new Error(message);
  }
  talk.callId = (response.headers.get("Location") || "").split("/").pop();
  await pc.setRemoteDescription({ type: "answer", sdp: await response.text() });
  status("talk-status", "listening…");
  $("talk-go").textContent = "Hang up";
}

function stopTalk() {
  if (!talk) return;
  const { pc, mic, callId, secret } = talk;
  talk = null;
  if (callId) {
    fetch(`/v1/realtime/calls/${callId}/hangup`, { method: "POST", headers: { Authorization: `Bearer ${secret}` } });
  }
  mic.getTracks().forEach((track) => track.stop());
  pc.close();
  status("talk-status", "hung up");
  $("talk-go").textContent = "Start talking";
}

// -- wiring ------------------------------------------------------------------------------------

function wire() {
  const key = $("api-key");
  key.value = localStorage.getItem(KEY_STORAGE) || "";
  key.addEventListener("change", () => {
    localStorage.setItem(KEY_STORAGE, apiKey());
    showError(null);
    loadLists();
  });
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => selectTab(button.dataset.tab));
  }
  $("speak-model").addEventListener("change", () => loadVoices().catch(showError));
  $("speak-go").addEventListener("click", (e) => busy(e.target, speak));
  $("transcribe-go").addEventListener("click", (e) => busy(e.target, transcribe));
  $("captions-go").addEventListener("click", (e) => busy(e.target, startCaptions));
  $("talk-go").addEventListener("click", (e) => busy(e.target, startTalk));
  $("transcribe-file").addEventListener("change", (e) => chooseFile(e.target.files[0]));
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    chooseFile(e.dataTransfer.files[0]);
  });
  loadLists();
}

wire();
