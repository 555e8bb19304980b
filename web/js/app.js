// Entry point: signalling, the peer connection, video and audio, the data
// channels, and wiring between input capture, gamepads and the dashboard.
import { ClipboardReceiver, clipboardMessages } from "./clipboard.js";
import { Dashboard } from "./dashboard.js";
import { GamepadBridge } from "./gamepad.js";
import { InputCapture } from "./input.js";
import { FINAL_CLOSE_CODES, Signalling, closeReason, roleFromHash, signallingUrl } from "./signalling.js";
import { StatsSampler } from "./stats.js";

const video = document.getElementById("stream");
const audio = document.getElementById("audio");
const stage = document.getElementById("stage");
const statusLine = document.getElementById("status");
const audioButton = document.getElementById("audio-unmute");

const RESIZE_DEBOUNCE_MS = 300;
const STATS_INTERVAL_MS = 1000;
const TELEMETRY_EVERY = 5; // stats samples between `_f`/`_l` reports
const DISCONNECTED_GRACE_MS = 5000;
const MAX_BACKOFF_S = 30;

const role = roleFromHash(window.location.hash);
const token = new URLSearchParams(window.location.search).get("token");

// Tests, embedding pages and the dashboard read the live state from here.
const state = {
  role,
  pc: null,
  signalling: null,
  channels: new Map(),
  serverSettings: null,
  lastLatency: undefined,
  onUpdate: null,
  onServerStats: null,
  status: "connecting",
  connectionState: "new",
  attempts: 0,
  stats: null,
  serverStats: null,
  requestedSize: null,
  serverClipboard: null,
  // Desktop clipboard text the browser's clipboard has not taken yet (it needs focus).
  clipboardToWrite: null,
  source: null,
  mkAccess: role.client_type === "controller",
  sent: { input: 0, pointer: 0 },
  tap: null,
};
window.selkiesClient = state;

function notify() {
  try {
    state.onUpdate?.();
  } catch (error) {
    console.warn("onUpdate hook failed:", error);
  }
}

function openChannel(label) {
  const channel = state.channels.get(label);
  return channel && channel.readyState === "open" ? channel : null;
}

// Every outgoing message passes here; `state.tap(label, text)`, when set, sees it
// (diagnostics and tests).
function sendOn(channel, text) {
  channel.send(text);
  state.sent[channel.label] = (state.sent[channel.label] ?? 0) + 1;
  if (state.tap) state.tap(channel.label, text);
  return true;
}

function sendInput(text) {
  const channel = openChannel("input");
  return channel ? sendOn(channel, text) : false;
}

function sendPointer(text) {
  const channel = openChannel("pointer");
  return channel ? sendOn(channel, text) : sendInput(text);
}

let transferCounter = 0;
function sendClipboard(text) {
  if (!state.mkAccess) return false;
  transferCounter += 1;
  let ok = true;
  for (const message of clipboardMessages(text, `c${Date.now().toString(36)}${transferCounter}`)) {
    ok = sendInput(message) && ok;
  }
  if (ok) state.lastClipboardSent = text;
  return ok;
}

const input = new InputCapture({
  video,
  sink: document.getElementById("keyboard-sink"),
  send: sendInput,
  sendPointer,
  // A paste goes to the desktop's clipboard first, so its application pastes the same text.
  setDesktopClipboard: (text) => {
    if (text !== state.lastClipboardSent) sendClipboard(text);
  },
});
const gamepads = new GamepadBridge(sendInput);
const sampler = new StatsSampler();
const clipboardReceiver = new ClipboardReceiver();
state.input = input;
state.sendClipboard = sendClipboard;

const dashboard = new Dashboard(document.getElementById("sidebar"), {
  sendSettings: (values) => sendInput(`SETTINGS,${JSON.stringify(values)}`),
  sendClipboard,
  requestPointerLock: () => input.requestPointerLock(),
  toggleFullscreen: () => {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else document.documentElement.requestFullscreen?.().catch(() => {});
  },
});
dashboard.setRole(role);
dashboard.setInputAccess(state.mkAccess);
state.dashboard = dashboard;

function setStatus(text, connectionState) {
  state.status = text;
  state.connectionState = connectionState;
  statusLine.textContent = text;
  statusLine.classList.toggle("hidden", connectionState === "connected");
  dashboard.setConnection(text, connectionState);
  notify();
}

// ---- input rights ------------------------------------------------------------------

function updateInputRights() {
  const open = openChannel("input") !== null;
  // The server says who may use mouse and keyboard (`mk_access`), whatever the URL.
  const capture = open && state.mkAccess;
  const wasEnabled = input.enabled;
  input.setEnabled(capture);
  dashboard.setInputAccess(state.mkAccess);
  // A fresh connection takes the keyboard unless the user is typing somewhere else.
  if (capture && !wasEnabled && document.activeElement === document.body) input.focus();
  gamepads.setEnabled(open && role.client_slot !== -1);
  dashboard.setGamepads(gamepads.connected);
}

window.addEventListener("gamepadconnected", () => dashboard.setGamepads(gamepads.connected));
window.addEventListener("gamepaddisconnected", () => dashboard.setGamepads(gamepads.connected));

// ---- resize to the viewport ----------------------------------------------------------

function manualResolution() {
  return Boolean(state.serverSettings?.is_manual_resolution_mode?.value);
}

function sendResize() {
  if (!state.mkAccess || role.client_type !== "controller" || manualResolution()) return;
  const scale = window.devicePixelRatio || 1;
  // Even sizes: the encoder's 4:2:0 chroma needs them.
  const width = Math.floor((stage.clientWidth * scale) / 2) * 2;
  const height = Math.floor((stage.clientHeight * scale) / 2) * 2;
  if (width < 2 || height < 2) return;
  const key = `${width}x${height}@${scale}`;
  if (state.requestedSize?.key === key) return;
  if (sendInput(`r,${width}x${height}`) && sendInput(`s,${scale}`)) {
    state.requestedSize = { key, width, height, scale };
    notify();
  }
}

// Asks again even for the size asked for last: while this client could not resize,
// another controller may have changed the screen.
function followWindowSize() {
  if (!state.serverSettings) return;
  state.requestedSize = null;
  sendResize();
}

let resizeTimer = null;
function scheduleResize() {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(sendResize, RESIZE_DEBOUNCE_MS);
}
new ResizeObserver(scheduleResize).observe(stage);
// A move to a screen with another pixel ratio changes no CSS size, only the ratio.
window.addEventListener("resize", scheduleResize);

// ---- server messages -------------------------------------------------------------------

function setCursor(data) {
  if (!data || !data.curdata) {
    video.style.cursor = "";
    return;
  }
  const hotx = Number(data.hotx) || 0;
  const hoty = Number(data.hoty) || 0;
  video.style.cursor = `url("data:image/png;base64,${data.curdata}") ${hotx} ${hoty}, auto`;
  state.cursor = data;
}

async function receiveClipboard(type, data) {
  const complete = clipboardReceiver.receive(type, data);
  if (!complete || complete.text === undefined) return;
  state.serverClipboard = complete.text;
  state.lastClipboardSent = complete.text;
  state.clipboardToWrite = complete.text;
  dashboard.setClipboard(complete.text);
  notify();
  await writeBrowserClipboard();
}

// Browsers let a page write the clipboard only while it has focus: the text waits
// for the focus to come back (see the focus handler) instead of being lost.
async function writeBrowserClipboard() {
  const text = state.clipboardToWrite;
  if (text === null || !document.hasFocus() || !navigator.clipboard?.writeText) return;
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    // Not allowed (yet): kept for the next focus; the sidebar box shows it meanwhile.
    return;
  }
  // A newer desktop copy that arrived meanwhile is still to be written.
  if (state.clipboardToWrite === text) state.clipboardToWrite = null;
  notify();
}

function onSystem(action) {
  const [name, ...rest] = String(action).split(",");
  const value = rest.join(",");
  if (name === "mk_access") {
    const regained = value === "1" && !state.mkAccess;
    state.mkAccess = value === "1";
    updateInputRights();
    if (regained) followWindowSize();
  } else if (name === "video_source") {
    state.source = value;
    dashboard.setSource(value);
  } else if (name === "resolution") {
    state.serverResolution = value;
  } else if (name === "role_update") {
    // The server (a changed token) decides who we are now; the URL only asked.
    let update;
    try {
      update = JSON.parse(value);
    } catch {
      return;
    }
    const wasController = role.client_type === "controller";
    Object.assign(role, {
      client_type: update.role === "controller" ? "controller" : "viewer",
      client_slot: Number.isInteger(update.slot) ? update.slot : -1,
    });
    dashboard.setRole(role);
    updateInputRights();
    // The X screen follows a controller's window; mk_access may come before or after.
    if (!wasController && role.client_type === "controller") followWindowSize();
  } else if (name in LIVE_SETTINGS) {
    // A controller changed the shared stream: every sidebar shows the value in force.
    const setting = LIVE_SETTINGS[name];
    const entry = state.serverSettings?.[setting];
    if (entry) entry.value = Number(value);
    dashboard.setSettingValue(setting, Number(value));
  }
}

// `system` actions naming a stream value now in force, and the setting they set.
const LIVE_SETTINGS = { framerate: "framerate", video_bitrate: "video_bitrate", video_crf: "h264_crf" };

function onInputMessage(channel, raw) {
  if (typeof raw !== "string") return;
  let message;
  try {
    message = JSON.parse(raw);
  } catch {
    return;
  }
  const data = message.data;
  switch (message.type) {
    case "server_settings":
      state.serverSettings = data;
      dashboard.applyServerSettings(data);
      sendResize();
      break;
    case "ping":
      sendOn(channel, `pong,${data.start_time}`);
      break;
    case "latency_measurement":
      state.lastLatency = data.latency_ms;
      break;
    case "cursor":
      setCursor(data);
      break;
    case "clipboard-msg":
    case "clipboard-msg-start":
    case "clipboard-msg-data":
    case "clipboard-msg-end":
      receiveClipboard(message.type, data ?? {});
      break;
    case "system":
      onSystem(data?.action ?? "");
      break;
    case "stats":
      state.serverStats = data;
      dashboard.showServerStats(data);
      state.onServerStats?.(data);
      break;
    default:
      break;
  }
  notify();
}

function watchChannel(channel) {
  state.channels.set(channel.label, channel);
  channel.addEventListener("open", () => {
    updateInputRights();
    notify();
  });
  channel.addEventListener("message", (event) => {
    if (channel.label === "input") onInputMessage(channel, event.data);
  });
  channel.addEventListener("close", () => {
    if (state.channels.get(channel.label) === channel) state.channels.delete(channel.label);
    updateInputRights();
  });
  if (channel.readyState === "open") updateInputRights();
}

// ---- media ------------------------------------------------------------------------------

function minimiseBuffering(receiver) {
  // Play frames as soon as they decode: an interactive desktop wants latency, not smoothness.
  try {
    if ("jitterBufferTarget" in receiver) receiver.jitterBufferTarget = 0;
    receiver.playoutDelayHint = 0;
  } catch (error) {
    console.debug("cannot lower the playout delay:", error);
  }
}

function playAudio() {
  if (!audio.srcObject) return;
  audio.play().then(() => {
    audioButton.hidden = true;
  }).catch(() => {
    // Autoplay policy: wait for a click or key press.
    audioButton.hidden = false;
  });
}

function onTrack(event) {
  minimiseBuffering(event.receiver);
  if (event.track.kind === "video") {
    video.srcObject = new MediaStream([event.track]);
  } else if (event.track.kind === "audio") {
    audio.srcObject = new MediaStream([event.track]);
    playAudio();
  }
}

for (const gesture of ["pointerdown", "keydown"]) {
  window.addEventListener(gesture, () => {
    if (audio.srcObject && audio.paused) playAudio();
  }, { capture: true });
}
audioButton.addEventListener("click", playAudio);

video.addEventListener("resize", () => {
  state.remoteSize = { width: video.videoWidth, height: video.videoHeight };
  notify();
});

// ---- stats --------------------------------------------------------------------------------

let statsTimer = null;
let statsCount = 0;
function startStats() {
  if (statsTimer !== null) return;
  statsTimer = setInterval(async () => {
    const pc = state.pc;
    if (!pc || pc.connectionState !== "connected") return;
    try {
      const sample = await sampler.sample(pc);
      state.stats = sample;
      dashboard.showStats(sample, state.lastLatency);
      statsCount += 1;
      if (statsCount % TELEMETRY_EVERY === 0) {
        sendInput(`_f,${sample.fps.toFixed(1)}`);
        if (state.lastLatency !== undefined) sendInput(`_l,${Number(state.lastLatency).toFixed(0)}`);
      }
      notify();
    } catch (error) {
      console.debug("getStats failed:", error);
    }
  }, STATS_INTERVAL_MS);
}

// ---- connection ----------------------------------------------------------------------------

async function onSignal(message) {
  const pc = state.pc;
  if (message.sdp) {
    await pc.setRemoteDescription(message.sdp);
    if (message.sdp.type === "offer") {
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      state.signalling.send({ sdp: { type: answer.type, sdp: answer.sdp } });
      setStatus("connecting media", "connecting");
    }
  } else if (message.ice) {
    if (message.ice.candidate) await pc.addIceCandidate(message.ice);
  }
}

let disconnectedTimer = null;

function teardown() {
  clearTimeout(disconnectedTimer);
  state.pc?.close();
  state.channels.clear();
  updateInputRights();
  sampler.reset();
  state.requestedSize = null;
}

function start() {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  state.pc = pc;
  pc.addEventListener("track", onTrack);
  pc.addEventListener("datachannel", (event) => watchChannel(event.channel));
  pc.addEventListener("icecandidate", (event) => {
    const ice = event.candidate
      ? { candidate: event.candidate.candidate, sdpMLineIndex: event.candidate.sdpMLineIndex }
      : { candidate: "", sdpMLineIndex: 0 };
    state.signalling.send({ ice });
  });
  pc.addEventListener("connectionstatechange", () => {
    if (state.pc !== pc) return;
    clearTimeout(disconnectedTimer);
    if (pc.connectionState === "connected") {
      state.attempts = 0;
      // An ERROR from before this connection explains none of its later troubles.
      state.lastError = null;
      setStatus("connected", "connected");
      startStats();
    } else if (pc.connectionState === "failed") {
      setStatus("media connection failed", "failed");
      signalling.close("media connection failed");
    } else if (pc.connectionState === "disconnected") {
      setStatus("media connection interrupted", "connecting");
      disconnectedTimer = setTimeout(() => signalling.close("media connection lost"), DISCONNECTED_GRACE_MS);
    }
  });

  const meta = { ...role, display_id: "primary" };
  if (token) meta.client_token = token;
  const signalling = new Signalling(signallingUrl(window.location), meta);
  state.signalling = signalling;
  // Errors belong to one signalling connection.
  state.lastError = null;
  signalling.addEventListener("session", () => setStatus("negotiating", "connecting"));
  signalling.addEventListener("message", (event) => {
    onSignal(event.detail).catch((error) => setStatus(`negotiation failed: ${error.message}`, "failed"));
  });
  signalling.addEventListener("error", (event) => {
    console.warn("signalling error:", event.detail);
    state.lastError = event.detail;
  });
  signalling.addEventListener("role", (event) => {
    state.tokenRole = event.detail;
  });
  signalling.addEventListener("close", (event) => {
    if (state.signalling !== signalling) return;
    teardown();
    const final = FINAL_CLOSE_CODES.get(event.detail.code);
    if (final) {
      setStatus(`disconnected: ${final}`, "closed");
      return;
    }
    // Back off 1, 2, 4 ... 30 s so a restarting server is not hammered.
    const delay = Math.min(MAX_BACKOFF_S, 2 ** state.attempts);
    state.attempts += 1;
    // Closed by us (media failure): our reason, not our own close frame's "bye".
    const why = event.detail.localReason ?? closeReason(event.detail, state.lastError);
    setStatus(`disconnected (${why}); reconnecting in ${delay} s`, "reconnecting");
    setTimeout(start, delay * 1000);
  });
  setStatus(state.attempts ? "reconnecting" : "connecting", "connecting");
  signalling.connect();
}

// ---- embedding: postMessage from the page that frames us ------------------------------------

window.addEventListener("message", (event) => {
  // Only our own origin may drive the client (seed 000 review).
  if (event.origin !== window.location.origin) return;
  const message = event.data;
  if (!message || typeof message !== "object") return;
  if (message.type === "selkies-clipboard" && typeof message.text === "string") {
    sendClipboard(message.text);
  } else if (message.type === "selkies-settings" && message.settings && typeof message.settings === "object") {
    sendInput(`SETTINGS,${JSON.stringify(message.settings)}`);
  } else if (message.type === "selkies-fullscreen") {
    document.documentElement.requestFullscreen?.().catch(() => {});
  }
});

// Back in the page: a desktop copy made meanwhile reaches the browser clipboard; else
// the browser clipboard follows into the desktop when the user has allowed reading
// it (without that permission, a paste into the desktop carries it: see InputCapture).
window.addEventListener("focus", async () => {
  await writeBrowserClipboard();
  // Writing was refused: sending the browser's clipboard would overwrite the desktop's newer copy.
  if (state.clipboardToWrite !== null) return;
  if (!state.mkAccess || !navigator.clipboard?.readText) return;
  try {
    const permission = await navigator.permissions.query({ name: "clipboard-read" });
    if (permission.state !== "granted") return;
    const text = await navigator.clipboard.readText();
    if (text && text !== state.lastClipboardSent) sendClipboard(text);
  } catch {
    // No permission API or no clipboard access: the sidebar box still works.
  }
});

window.addEventListener("hashchange", () => window.location.reload());

start();
