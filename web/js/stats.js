// Receive-side figures from RTCPeerConnection.getStats(), as rates over the last
// sampling interval (W3C webrtc-stats: inbound-rtp, candidate-pair).

export class StatsSampler {
  constructor() {
    this.previous = null;
  }

  reset() {
    this.previous = null;
  }

  // One sample: fps, bitrate (bits/s), packets lost, jitter (ms), decode time per
  // frame (ms), round-trip time of the selected candidate pair (ms), frame size.
  async sample(pc) {
    const report = await pc.getStats();
    let video = null;
    let pair = null;
    let audio = null;
    report.forEach((entry) => {
      if (entry.type === "inbound-rtp" && entry.kind === "video") video = entry;
      else if (entry.type === "inbound-rtp" && entry.kind === "audio") audio = entry;
      else if (entry.type === "candidate-pair" && (entry.nominated || entry.selected) && entry.state === "succeeded") pair = entry;
    });
    const now = performance.now();
    const result = {
      fps: 0, bitrate: 0, packetsLost: 0, jitterMs: 0, decodeMs: 0, rttMs: null,
      framesDecoded: 0, width: 0, height: 0, audioBitrate: 0,
    };
    if (video) {
      result.framesDecoded = video.framesDecoded ?? 0;
      result.packetsLost = video.packetsLost ?? 0;
      result.jitterMs = (video.jitter ?? 0) * 1000;
      result.width = video.frameWidth ?? 0;
      result.height = video.frameHeight ?? 0;
    }
    if (pair && pair.currentRoundTripTime !== undefined) result.rttMs = pair.currentRoundTripTime * 1000;
    const before = this.previous;
    if (before && video) {
      const seconds = (now - before.at) / 1000;
      if (seconds > 0) {
        const frames = (video.framesDecoded ?? 0) - before.framesDecoded;
        result.fps = Math.max(0, frames / seconds);
        result.bitrate = Math.max(0, ((video.bytesReceived ?? 0) - before.bytes) * 8 / seconds);
        const decode = (video.totalDecodeTime ?? 0) - before.decodeTime;
        result.decodeMs = frames > 0 ? (decode / frames) * 1000 : 0;
        if (audio) {
          result.audioBitrate = Math.max(0, ((audio.bytesReceived ?? 0) - before.audioBytes) * 8 / seconds);
        }
      }
    }
    this.previous = {
      at: now,
      framesDecoded: video?.framesDecoded ?? 0,
      bytes: video?.bytesReceived ?? 0,
      decodeTime: video?.totalDecodeTime ?? 0,
      audioBytes: audio?.bytesReceived ?? 0,
    };
    return result;
  }
}

export function formatBitrate(bits) {
  if (bits >= 1e6) return `${(bits / 1e6).toFixed(2)} Mbit/s`;
  if (bits >= 1e3) return `${(bits / 1e3).toFixed(0)} kbit/s`;
  return `${bits.toFixed(0)} bit/s`;
}

export function formatBytes(bytes) {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(0)} KiB`;
  return `${bytes} B`;
}
