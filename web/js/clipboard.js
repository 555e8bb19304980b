// Clipboard both ways (PROTOCOL.md, "Clipboard"): `cw,<base64 utf8>` up, with the
// multipart verbs for large text; `clipboard-msg` (or -start/-data/-end) down.

// Above this many base64 characters a text goes as cws/cwd/cwe chunks, so one
// data-channel message never carries megabytes.
const SINGLE_MESSAGE_LIMIT = 48 * 1024;
const CHUNK_BYTES = 36 * 1024;

export function bytesToBase64(bytes) {
  let binary = "";
  const step = 0x8000;
  for (let i = 0; i < bytes.length; i += step) {
    binary += String.fromCharCode(...bytes.subarray(i, i + step));
  }
  return btoa(binary);
}

export function base64ToBytes(text) {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function clipboardMessages(text, transferId) {
  const bytes = new TextEncoder().encode(text);
  const whole = bytesToBase64(bytes);
  if (whole.length <= SINGLE_MESSAGE_LIMIT) return [`cw,${whole}`];
  const messages = [`cws,${transferId},${bytes.length}`];
  for (let offset = 0; offset < bytes.length; offset += CHUNK_BYTES) {
    messages.push(`cwd,${transferId},${bytesToBase64(bytes.subarray(offset, offset + CHUNK_BYTES))}`);
  }
  messages.push(`cwe,${transferId}`);
  return messages;
}

// Reassembles the server's clipboard messages; `receive` returns
// { text | blob, mimeType } once a clipboard is complete, else null.
export class ClipboardReceiver {
  constructor() {
    this.pending = null;
  }

  receive(type, data) {
    if (type === "clipboard-msg") {
      return this.#finish(data.mime_type, data.is_binary_data, [base64ToBytes(data.content ?? "")]);
    }
    if (type === "clipboard-msg-start") {
      this.pending = { mimeType: data.mime_type, binary: data.is_binary_data, parts: [] };
    } else if (type === "clipboard-msg-data" && this.pending) {
      this.pending.parts.push(base64ToBytes(data.content ?? ""));
    } else if (type === "clipboard-msg-end" && this.pending) {
      const { mimeType, binary, parts } = this.pending;
      this.pending = null;
      return this.#finish(mimeType, binary, parts);
    }
    return null;
  }

  #finish(mimeType, binary, parts) {
    const blob = new Blob(parts, { type: mimeType || "text/plain" });
    if (binary) return { blob, mimeType };
    const total = parts.reduce((sum, part) => sum + part.length, 0);
    const joined = new Uint8Array(total);
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    return { text: new TextDecoder().decode(joined), mimeType: "text/plain" };
  }
}
