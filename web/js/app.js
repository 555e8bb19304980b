// Entry point: signalling, the peer connection, video, and the data channels.
import { FINAL_CLOSE_CODES, Signalling, roleFromHash, signallingUrl } from "./signalling.js";

const video = document.getElementById("stream");
const statusLine = document.getElementById("status");

const state = {
  pc: null,
  signalling: null,
  channels: new Map(),
  serverSettings: null,
  status: "connecting",
  attempts: 0,
};
// Tests and the dashboard read the live state from here.
window.selkiesClient = state;

function setStatus(text, visible = true) {
  state.status = text;
  statusLine.textContent = text;
  statusLine.classList.toggle("hidden", !visible);
}

function onChannelMessage(channel, data) {
  if (channel.label !== "input" || typeof data !== "string") return;
  let message;
  try {
    message = JSON.parse(data);
  } catch {
    return;
  }
  if (message.type === "server_settings") {
    state.serverSettings = message.data;
  } else if (message.type === "ping") {
    channel.send(`pong,${message.data.start_time}`);
  } else if (message.type === "latency_measurement") {
    state.lastLatency = message.data.latency_ms;
  }
  state.onUpdate?.();
}

function watchChannel(channel) {
  state.channels.set(channel.label, channel);
  channel.addEventListener("message", (event) => onChannelMessage(channel, event.data));
  channel.addEventListener("close", () => state.channels.delete(channel.label));
}

async function onSignal(message) {
  const pc = state.pc;
  if (message.sdp) {
    await pc.setRemoteDescription(message.sdp);
    if (message.sdp.type === "offer") {
      const answer = await pc.createAnswer();
      await pc.setLocalDescription(answer);
      state.signalling.send({ sdp: { type: answer.type, sdp: answer.sdp } });
    }
  } else if (message.ice) {
    if (message.ice.candidate) await pc.addIceCandidate(message.ice);
  }
}

function start() {
  const pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });
  state.pc = pc;
  pc.addEventListener("track", (event) => {
    video.srcObject = event.streams[0] ?? new MediaStream([event.track]);
  });
  pc.addEventListener("datachannel", (event) => watchChannel(event.channel));
  pc.addEventListener("icecandidate", (event) => {
    const ice = event.candidate
      ? { candidate: event.candidate.candidate, sdpMLineIndex: event.candidate.sdpMLineIndex }
      : { candidate: "", sdpMLineIndex: 0 };
    state.signalling.send({ ice });
  });
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "connected") {
      state.attempts = 0;
      setStatus("connected", false);
    } else if (pc.connectionState === "failed") {
      setStatus("connection failed; retrying");
      state.signalling.close();
    }
  });

  const signalling = new Signalling(signallingUrl(window.location), roleFromHash(window.location.hash));
  state.signalling = signalling;
  signalling.addEventListener("message", (event) => {
    onSignal(event.detail).catch((error) => setStatus(`negotiation failed: ${error.message}`));
  });
  signalling.addEventListener("error", (event) => console.warn("signalling error:", event.detail));
  signalling.addEventListener("close", (event) => {
    pc.close();
    const final = FINAL_CLOSE_CODES.get(event.detail.code);
    if (final) {
      setStatus(`disconnected: ${final}`);
      return;
    }
    // Back off 1, 2, 4 ... 30 s so a restarting server is not hammered.
    const delay = Math.min(30, 2 ** state.attempts);
    state.attempts += 1;
    const why = event.detail.reason || `code ${event.detail.code}`;
    setStatus(`disconnected (${why}); reconnecting in ${delay} s`);
    setTimeout(start, delay * 1000);
  });
  signalling.connect();
}

start();
