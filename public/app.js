// Browser client: microphone → AudioWorklet (16 kHz PCM16, ~100 ms chunks)
// → Socket.IO `audio_data`; transcripts of the client id listed as they come.
// Monitor mode only subscribes. URL parameters: ?clientId=…, ?monitor=<clientId>
// (monitor mode, starts at once), ?token=…, ?noiseSuppression=0, ?interim=1|0
// (live results: words while speaking; on by default in monitor mode), ?words=1.
import { io } from "/socket.io.esm.min.js";
import { ReplayBuffer } from "/replay.js";

const $ = (id) => document.getElementById(id);
const els = {
  form: $("controls"),
  clientId: $("client-id"),
  token: $("token"),
  start: $("start"),
  stop: $("stop"),
  clear: $("clear"),
  connection: $("connection"),
  connectionText: $("connection-text"),
  level: $("level"),
  levelDb: $("level-db"),
  alert: $("alert"),
  list: $("transcripts"),
  empty: $("empty"),
  interim: $("interim-results"),
  words: $("word-timestamps"),
};
const modeInputs = [...document.querySelectorAll('input[name="mode"]')];

const params = new URLSearchParams(location.search);
const monitorParam = params.get("monitor");
els.clientId.value = monitorParam ?? params.get("clientId") ?? localStorage.getItem("stt.clientId") ?? `web-${randomHex(16)}`;
els.token.value = params.get("token") ?? "";
const nsInput = $("noise-suppression");
if (params.get("noiseSuppression") === "0") nsInput.checked = false;
if (monitorParam) modeInputs.find((i) => i.value === "monitor").checked = true;
// A monitor only shows interims when the sender asked for them, so asking costs it nothing.
els.interim.checked = params.has("interim") ? params.get("interim") === "1" : !!monitorParam;
els.words.checked = params.get("words") === "1";

/** @type {null | {socket: any, clientId: string, mode: string, audio?: {ctx: AudioContext, stream: MediaStream, node: AudioWorkletNode}}} */
let run = null;

function mode() {
  return modeInputs.find((i) => i.checked).value;
}

function setConnection(state, text) {
  els.connection.dataset.state = state;
  els.connectionText.textContent = text;
}

function showAlert(message) {
  els.alert.textContent = message;
  els.alert.hidden = !message;
}

function setRunning(on) {
  els.start.disabled = on;
  els.stop.disabled = !on;
  els.clientId.disabled = on;
  els.token.disabled = on;
  nsInput.disabled = on;
  els.interim.disabled = on;
  els.words.disabled = on;
  for (const i of modeInputs) i.disabled = on;
}

const clock = (s) => {
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
};

function whenCell(t) {
  const when = document.createElement("span");
  when.className = "when";
  const received = new Date((t.ts ?? Date.now() / 1000) * 1000);
  const time = document.createElement("time");
  time.dateTime = received.toISOString();
  time.textContent = received.toLocaleTimeString();
  when.append(time, document.createElement("br"), `${clock(t.start)} – ${clock(t.end)}`);
  when.title = `stream time ${t.start.toFixed(2)} s to ${t.end.toFixed(2)} s`;
  return when;
}

/** Interim rows by seq: the final with the same seq takes the row's place. */
const interimRows = new Map();
let lastFinalSeq = -1;

function addTranscript(t) {
  els.empty.hidden = true;
  const li = document.createElement("li");
  li.dataset.seq = String(t.seq);
  li.dataset.clientId = t.client_id;
  if (t.final === false) li.classList.add("partial");
  const text = document.createElement("span");
  text.className = "text";
  if (t.words?.length) {
    // One span per word with its stream time: hover (or long-press) shows when it was said.
    t.words.forEach((w, k) => {
      const span = document.createElement("span");
      span.className = "word";
      span.textContent = w.word;
      span.title = `${w.start.toFixed(2)}–${w.end.toFixed(2)} s, p ${w.probability.toFixed(2)}`;
      text.append(...(k ? [" ", span] : [span]));
    });
  } else {
    text.textContent = t.text;
  }
  li.append(whenCell(t), text);
  const live = interimRows.get(t.seq);
  interimRows.delete(t.seq);
  lastFinalSeq = Math.max(lastFinalSeq, t.seq);
  if (live) live.replaceWith(li);
  else els.list.append(li);
  li.scrollIntoView({ block: "nearest" });
}

/**
 * The open utterance, greyed: the committed prefix (stable_text, never
 * retracted) in normal weight, the words that may still change in italics.
 */
function showInterim(i) {
  // Interims of an utterance come before its final; a late one has nothing to add.
  if (i.seq <= lastFinalSeq) return;
  els.empty.hidden = true;
  let li = interimRows.get(i.seq);
  if (!li) {
    li = document.createElement("li");
    li.className = "interim";
    li.dataset.seq = String(i.seq);
    li.dataset.clientId = i.client_id;
    // Screen readers (the list is aria-live) hear the final once, not every revision.
    li.setAttribute("aria-hidden", "true");
    interimRows.set(i.seq, li);
    els.list.append(li);
  }
  const text = document.createElement("span");
  text.className = "text";
  const stable = document.createElement("span");
  stable.className = "stable";
  const unstable = document.createElement("span");
  unstable.className = "unstable";
  // stable_text is a prefix of text by contract; if not, show all of text as unstable.
  const prefix = i.text.startsWith(i.stable_text) ? i.stable_text : "";
  stable.textContent = prefix;
  unstable.textContent = i.text.slice(prefix.length);
  text.append(stable, unstable);
  li.replaceChildren(whenCell(i), text);
  li.scrollIntoView({ block: "nearest" });
}

/** Interim rows whose final never came (dropped as no speech, or the stream ended). */
function clearInterims() {
  for (const li of interimRows.values()) li.remove();
  interimRows.clear();
}

// Unguessable, so nobody subscribes to this page's stream by guessing its id;
// getRandomValues also works on plain http, where crypto.randomUUID does not exist.
function randomHex(bytes) {
  return Array.from(crypto.getRandomValues(new Uint8Array(bytes)), (x) => x.toString(16).padStart(2, "0")).join("");
}

/** Unacknowledged audio kept for a replay after a reconnect (seconds), and the VAD pre-roll before it (samples, 6 VAD frames: within the silence a final ends with). */
const REPLAY_SECONDS = 30;
const PREROLL_SAMPLES = 512 * 6;

function connectSocket(clientId, token, options) {
  let resumeKey;
  // Failover: audio the server has not made durable yet is kept and replayed
  // after a reconnect (maybe to another node), from the acknowledged point, so
  // no final is lost or doubled and times continue on one clock.
  const replay = new ReplayBuffer(REPLAY_SECONDS * 16000, PREROLL_SAMPLES);
  let sent = 0;
  let startAt = 0;
  let everConnected = false;
  const resumeAuth = () => {
    const p = replay.resumePoint(PREROLL_SAMPLES);
    startAt = p.startAt;
    return sent > 0 ? { resume_from: p.resumeFrom / 16000, preroll: p.preroll / 16000 } : {};
  };
  // A function, so a reconnect presents the resume key and takes the stream back at once.
  // The live-result options ride in the handshake: they apply from the first chunk.
  const socket = io({
    transports: ["websocket", "polling"],
    auth: (cb) => cb({ resumable: true, audio_ack: true, ...(token ? { token } : {}), ...(resumeKey ? { resumeKey } : {}), ...resumeAuth(), ...options }),
  });
  const emitPcm = (pcm) => {
    // 2 s events: a replay stays far below the server's max_pending_chunks, within max_chunk_seconds.
    for (let i = 0; i < pcm.length; i += 32000) socket.emit("audio_data", { clientId, audioData: pcm.slice(i, i + 32000).buffer });
  };
  /** Sends PCM16 (an ArrayBuffer) now, or keeps it for the replay while disconnected. */
  socket.sendAudio = (buffer) => {
    const pcm = new Int16Array(buffer);
    replay.add(sent, pcm);
    sent += pcm.length;
    if (socket.connected) emitPcm(pcm);
  };
  socket.on("stream_started", (p) => {
    if (p?.clientId === clientId) resumeKey = p.resumeKey;
  });
  socket.on("audio_ack", (a) => {
    if (a?.clientId === clientId && typeof a.until === "number") replay.acknowledge(Math.round(a.until * 16000));
  });
  setConnection("connecting", "Connecting…");
  socket.on("connect", () => {
    if (everConnected) emitPcm(replay.from(startAt));
    everConnected = true;
    setConnection("connected", `Connected as ${clientId}`);
  });
  socket.on("disconnect", (reason) => {
    // A draining node disconnects us itself, which socket.io-client does not retry: go on through another node.
    if (reason === "io server disconnect" && run?.socket === socket) {
      setConnection("reconnecting", "Reconnecting…");
      setTimeout(() => run?.socket === socket && socket.connect(), 200);
      return;
    }
    if (socket.active) setConnection("reconnecting", "Reconnecting…");
    else setConnection("idle", reason === "io client disconnect" ? "Not connected" : `Disconnected (${reason})`);
  });
  socket.on("connect_error", (err) => {
    setConnection(socket.active ? "reconnecting" : "error", socket.active ? "Reconnecting…" : "Connection refused");
    if (!socket.active) showAlert(`Connection refused: ${err.message}`);
  });
  socket.on("transcription", (t) => {
    if (t.client_id !== clientId) return;
    // A final makes its audio durable, whichever node delivered it.
    replay.acknowledge(Math.round(t.end * 16000));
    addTranscript(t);
  });
  socket.on("transcription_interim", (i) => {
    if (i.client_id === clientId) showInterim(i);
  });
  socket.on("error", (e) => showAlert(`${e.code}: ${e.message}`));
  return socket;
}

async function start() {
  showAlert("");
  const clientId = els.clientId.value.trim();
  if (!els.clientId.checkValidity() || !clientId) {
    showAlert("Enter a client id (printable characters, no spaces).");
    els.clientId.focus();
    return;
  }
  localStorage.setItem("stt.clientId", clientId);
  const m = mode();
  setRunning(true);
  // Explicit booleans: what the boxes show is what the stream gets, whatever the server's defaults.
  const options = m === "mic" ? { interim_results: els.interim.checked, word_timestamps: els.words.checked } : {};
  const socket = connectSocket(clientId, els.token.value.trim(), options);
  run = { socket, clientId, mode: m };
  // seq starts again with a new session of the client id.
  clearInterims();
  lastFinalSeq = -1;

  if (m === "monitor") {
    const subscribe = () =>
      socket.emit("subscribe_transcripts", { clientId, interim_results: els.interim.checked }, (ack) => {
        if (ack?.ok) setConnection("connected", `Monitoring ${clientId}`);
        else showAlert(`Subscription refused: ${ack?.code ?? "unknown"}`);
      });
    // Rooms belong to a connection: subscribe again after every reconnect.
    socket.on("connect", subscribe);
    return;
  }

  try {
    const stream = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: nsInput.checked, autoGainControl: false },
    });
    // Run the graph at the microphone's own rate when the browser says it, so
    // the worklet's resampler is the only rate conversion.
    const trackRate = stream.getAudioTracks()[0]?.getSettings().sampleRate;
    let ctx;
    try {
      ctx = new AudioContext({ latencyHint: "interactive", sampleRate: trackRate || undefined });
    } catch {
      ctx = new AudioContext({ latencyHint: "interactive" });
    }
    await ctx.audioWorklet.addModule("/pcm-worklet.js");
    const source = ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(ctx, "pcm16-writer", {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      channelCount: 1,
      channelCountMode: "explicit",
      processorOptions: { chunkMs: 100 },
    });
    node.port.onmessage = (e) => {
      const { pcm, rms, peak } = e.data;
      showLevel(rms, peak);
      // While disconnected audio is kept (up to REPLAY_SECONDS), not queued by socket.io: the reconnect replays it from the acknowledged point.
      if (pcm.byteLength > 0) socket.sendAudio(pcm);
    };
    source.connect(node);
    node.connect(ctx.destination); // the node writes silence; connected so it is pulled
    await ctx.resume();
    run.audio = { ctx, stream, node };
    if (run.socket.connected) setConnection("connected", `Streaming as ${clientId}`);
    else socket.once("connect", () => setConnection("connected", `Streaming as ${clientId}`));
  } catch (err) {
    showAlert(`Microphone unavailable: ${err.message ?? err}`);
    await stop();
  }
}

async function stop() {
  const r = run;
  run = null;
  setRunning(false);
  showLevel(0, 0);
  if (!r) return;
  if (r.audio) {
    setConnection("connecting", "Finishing the last utterance…");
    const { ctx, stream, node } = r.audio;
    for (const track of stream.getTracks()) track.stop();
    // Send what the worklet still holds, then end the session: the server
    // transcribes speech that was still open and the transcript comes back.
    const last = new Promise((resolve) => {
      node.port.onmessage = (e) => {
        if (e.data.pcm.byteLength > 0) r.socket.sendAudio(e.data.pcm);
        if (e.data.final) resolve();
      };
      setTimeout(resolve, 500);
    });
    node.port.postMessage("flush");
    await last;
    await ctx.close();
    if (r.socket.connected) {
      const done = new Promise((resolve) => {
        r.socket.once("cleanup_confirmed", resolve);
        setTimeout(resolve, 5000);
      });
      r.socket.emit("cleanup_client", { clientId: r.clientId });
      await done;
      // Leave a moment for the transcript of that last utterance.
      await new Promise((resolve) => setTimeout(resolve, 3000));
    }
  }
  r.socket.disconnect();
  clearInterims();
}

function showLevel(rms, peak) {
  // -60 dBFS … 0 dBFS onto 0 … 1.
  const db = rms > 0 ? 20 * Math.log10(rms) : -Infinity;
  const v = Math.max(0, Math.min(1, (db + 60) / 60));
  els.level.value = v;
  els.level.textContent = `${Math.round(v * 100)}%`;
  els.levelDb.textContent = db > -90 ? `${db.toFixed(0)} dB` : "–∞ dB";
  els.level.title = `peak ${peak.toFixed(2)}`;
}

els.form.addEventListener("submit", (e) => {
  e.preventDefault();
  void start();
});
els.stop.addEventListener("click", () => void stop());
els.clear.addEventListener("click", () => {
  els.list.replaceChildren();
  interimRows.clear();
  els.empty.hidden = false;
});
document.addEventListener("keydown", (e) => {
  if (e.key === "Escape" && run) void stop();
});
window.addEventListener("pagehide", () => run?.socket.disconnect());

if (monitorParam) void start();
