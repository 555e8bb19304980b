// The Selkies signalling dialect (PROTOCOL.md): HELLO, SESSION server, then
// "<peer-id> <json>" frames both ways. Role and slot come from the URL hash.

export function roleFromHash(hash) {
  if (hash === "#shared") {
    return { client_type: "viewer", client_slot: -1, client_strict_viewer: true };
  }
  const player = /^#player([2-4])$/.exec(hash);
  if (player) {
    return { client_type: "viewer", client_slot: Number(player[1]), client_strict_viewer: false };
  }
  return { client_type: "controller", client_slot: 1, client_strict_viewer: false };
}

export function signallingUrl(location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const base = location.pathname.replace(/[^/]*$/, "");
  return `${scheme}//${location.host}${base}api/webrtc/signaling${location.search}`;
}

// Close codes after which reconnecting cannot help.
export const FINAL_CLOSE_CODES = new Map([
  [4001, "the access token is missing or invalid"],
  [4002, "the access token was revoked"],
]);

// Close codes the server uses when it turns a client away (PROTOCOL.md).
const CLOSE_REASONS = new Map([
  [1001, "the server is shutting down"],
  [1006, "the connection to the server was lost"],
  [4000, "the server rejected this client"],
]);

// Words for the user: why the signalling connection ended.
export function closeReason(detail, lastError) {
  const known = CLOSE_REASONS.get(detail.code);
  const reason = detail.reason || lastError || "";
  if (known && reason) return `${known}: ${reason}`;
  return known || reason || `code ${detail.code}`;
}

export class Signalling extends EventTarget {
  constructor(url, meta) {
    super();
    this.url = url;
    this.meta = meta;
    this.serverId = null;
    this.socket = null;
    // Why this side closed, for the user: the close frame only says that it did.
    this.localReason = null;
  }

  connect() {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    socket.addEventListener("open", () => {
      socket.send(`HELLO client ${JSON.stringify(this.meta)}`);
    });
    socket.addEventListener("message", (event) => this.#onFrame(String(event.data)));
    socket.addEventListener("close", (event) => {
      const detail = { code: event.code, reason: event.reason, localReason: this.localReason };
      this.dispatchEvent(new CustomEvent("close", { detail }));
    });
  }

  #onFrame(frame) {
    if (frame === "HELLO") {
      this.socket.send("SESSION server");
      return;
    }
    if (frame.startsWith("SESSION_OK ")) {
      this.serverId = frame.slice("SESSION_OK ".length).trim();
      this.dispatchEvent(new CustomEvent("session", { detail: this.serverId }));
      return;
    }
    if (frame.startsWith("ERROR ")) {
      this.dispatchEvent(new CustomEvent("error", { detail: frame.slice(6) }));
      return;
    }
    if (frame.startsWith("ROLE_UPDATE ")) {
      let update;
      try {
        update = JSON.parse(frame.slice("ROLE_UPDATE ".length));
      } catch (error) {
        console.warn("ignoring a malformed ROLE_UPDATE frame:", error.message);
        return;
      }
      this.dispatchEvent(new CustomEvent("role", { detail: update }));
      return;
    }
    const space = frame.indexOf(" ");
    if (space < 0 || frame.slice(0, space) !== this.serverId) return;
    let message;
    try {
      message = JSON.parse(frame.slice(space + 1));
    } catch {
      return;
    }
    this.dispatchEvent(new CustomEvent("message", { detail: message }));
  }

  send(message) {
    if (this.socket?.readyState === WebSocket.OPEN && this.serverId) {
      this.socket.send(`${this.serverId} ${JSON.stringify(message)}`);
    }
  }

  // `why` becomes the close event's `localReason`.
  close(why) {
    this.localReason = why ?? null;
    this.socket?.close(1000, "bye");
  }
}
