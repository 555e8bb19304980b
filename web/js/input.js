// Input capture: mouse, wheel, keyboard, touch and pointer lock into Selkies verbs
// (PROTOCOL.md, "Client -> server input").
//
// Pointer messages carry the whole pointer state (position and button mask) and a
// sequence number; the server drops a position older than one it has applied.
// Plain motion goes on the unordered `pointer` channel. A button or wheel edge goes
// on the ordered `input` channel, and so does motion while a button is down or
// shortly after an edge: otherwise a later motion could overtake a click on the
// other channel and make the server drop it as stale.
import { XK_ISO_LEVEL3_SHIFT, keysymForCharacter, keysymForKeyEvent } from "./keysyms.js";

const BUTTON_BITS = { 0: 0, 1: 1, 2: 2 };
const WHEEL_UP = 1 << 3;
const WHEEL_DOWN = 1 << 4;
const WHEEL_LEFT = 1 << 6;
const WHEEL_RIGHT = 1 << 7;
// Pixels of wheel travel per scroll click (one notch of a mouse wheel is ~100 px).
const WHEEL_STEP_PX = 100;
const LINE_PX = 33;
const ORDERED_AFTER_EDGE_MS = 250;
const HELD_KEYS_HEARTBEAT_MS = 1000;
// Windows sends the ControlLeft of an AltGr press this close before the AltRight.
const FAKE_CONTROL_MS = 5;
// Browsers fire the paste event while handling the shortcut's keydown; this only
// bounds how long keys wait if one does not come.
const PASTE_EVENT_WAIT_MS = 250;

export class InputCapture {
  // send(text): the `input` channel; sendPointer(text): the `pointer` channel;
  // setDesktopClipboard(text): text the user pasted, for the desktop's clipboard.
  constructor({ video, sink, send, sendPointer, setDesktopClipboard }) {
    this.video = video;
    this.sink = sink;
    this.send = send;
    this.sendPointer = sendPointer;
    this.setDesktopClipboard = setDesktopClipboard;
    this.enabled = false;
    this.mask = 0;
    this.seq = 0;
    this.lastEdge = -Infinity;
    this.position = { x: 0, y: 0 };
    this.wheelAccumulator = { x: 0, y: 0 };
    // event.code -> keysym sent on keydown, so keyup releases the same keysym
    // even if a modifier changed what the key means in between.
    this.heldKeys = new Map();
    this.composing = false;
    this.lastKeyTime = -Infinity;
    this.lastKeyCode = "";
    this.touch = null;
    // Keyboard messages held back from a paste shortcut until its paste event, or null.
    this.keysAwaitingPaste = null;
    this.pasteTimer = null;
    this.counters = { pointer: 0, keyboard: 0 };
    this.heartbeat = null;
    this.abort = new AbortController();
    this.#attach();
  }

  setEnabled(enabled) {
    if (this.enabled && !enabled) this.releaseAll();
    this.enabled = enabled;
    this.video.classList.toggle("interactive", enabled);
    if (enabled && this.heartbeat === null) {
      this.heartbeat = setInterval(() => this.#sendHeldKeys(), HELD_KEYS_HEARTBEAT_MS);
    } else if (!enabled && this.heartbeat !== null) {
      clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  get pointerLocked() {
    return document.pointerLockElement === this.video;
  }

  requestPointerLock() {
    if (this.enabled) this.video.requestPointerLock?.();
  }

  // Remote desktop coordinates of a client point: the video is letterboxed
  // (object-fit: contain) and its intrinsic size is the remote screen size.
  remotePosition(clientX, clientY) {
    const video = this.video;
    const width = video.videoWidth;
    const height = video.videoHeight;
    const rect = video.getBoundingClientRect();
    if (!width || !height || !rect.width || !rect.height) return null;
    const scale = Math.min(rect.width / width, rect.height / height);
    const left = rect.left + (rect.width - width * scale) / 2;
    const top = rect.top + (rect.height - height * scale) / 2;
    const x = Math.round((clientX - left) / scale);
    const y = Math.round((clientY - top) / scale);
    return {
      x: Math.min(Math.max(x, 0), width - 1),
      y: Math.min(Math.max(y, 0), height - 1),
    };
  }

  releaseAll() {
    this.#flushKeysAwaitingPaste();
    if (this.mask !== 0) {
      this.mask = 0;
      this.#sendPointerState(true);
    }
    if (this.heldKeys.size) this.heldKeys.clear();
    this.#emit("kr", "keyboard");
  }

  destroy() {
    this.abort.abort();
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    clearTimeout(this.pasteTimer);
  }

  #emit(text, kind, onPointerChannel = false) {
    this.counters[kind] += 1;
    if (kind === "keyboard" && this.keysAwaitingPaste !== null) this.keysAwaitingPaste.push(text);
    else if (onPointerChannel) this.sendPointer(text);
    else this.send(text);
  }

  #sendPointerState(edge, scroll = 0, extraMask = 0) {
    const now = performance.now();
    if (edge) this.lastEdge = now;
    const mask = this.mask | extraMask;
    const ordered = edge || this.mask !== 0 || now - this.lastEdge < ORDERED_AFTER_EDGE_MS;
    // Under pointer lock the server moves the pointer by deltas only: the absolute
    // position known here is the one from before the lock and would jump it back.
    if (this.pointerLocked) this.#emitPointer("m2", 0, 0, mask, scroll, ordered);
    else this.#emitPointer("m", this.position.x, this.position.y, mask, scroll, ordered);
  }

  #sendRelative(dx, dy) {
    const ordered = this.mask !== 0 || performance.now() - this.lastEdge < ORDERED_AFTER_EDGE_MS;
    this.#emitPointer("m2", dx, dy, this.mask, 0, ordered);
  }

  #emitPointer(verb, x, y, mask, scroll, ordered) {
    this.seq += 1;
    this.#emit(`${verb},${x},${y},${mask},${scroll},${this.seq}`, "pointer", !ordered);
  }

  #track(event) {
    const position = this.remotePosition(event.clientX, event.clientY);
    if (position) this.position = position;
    return position !== null;
  }

  #attach() {
    const options = { signal: this.abort.signal };
    const passiveFalse = { signal: this.abort.signal, passive: false };
    const video = this.video;
    video.addEventListener("mousemove", (event) => this.#onMouseMove(event), options);
    video.addEventListener("mousedown", (event) => this.#onButton(event, true), options);
    window.addEventListener("mouseup", (event) => this.#onButton(event, false), options);
    video.addEventListener("wheel", (event) => this.#onWheel(event), passiveFalse);
    video.addEventListener("contextmenu", (event) => {
      if (this.enabled) event.preventDefault();
    }, options);
    video.addEventListener("touchstart", (event) => this.#onTouch(event, "start"), passiveFalse);
    video.addEventListener("touchmove", (event) => this.#onTouch(event, "move"), passiveFalse);
    video.addEventListener("touchend", (event) => this.#onTouch(event, "end"), passiveFalse);
    video.addEventListener("touchcancel", (event) => this.#onTouch(event, "end"), passiveFalse);
    document.addEventListener("pointerlockchange", () => {
      if (this.enabled) this.send(`p,${this.pointerLocked ? 1 : 0}`);
    }, options);
    const sink = this.sink;
    sink.addEventListener("keydown", (event) => this.#onKey(event, true), options);
    sink.addEventListener("keyup", (event) => this.#onKey(event, false), options);
    sink.addEventListener("compositionstart", () => { this.composing = true; }, options);
    sink.addEventListener("compositionend", (event) => this.#onCompositionEnd(event), options);
    sink.addEventListener("input", (event) => this.#onInput(event), options);
    sink.addEventListener("paste", (event) => this.#onPaste(event), options);
    window.addEventListener("blur", () => {
      if (this.enabled) this.releaseAll();
    }, options);
    document.addEventListener("visibilitychange", () => {
      if (document.hidden && this.enabled) this.releaseAll();
    }, options);
    // Clicking the desktop gives it the keyboard.
    video.addEventListener("pointerdown", () => this.focus(), options);
  }

  focus() {
    if (document.activeElement !== this.sink) this.sink.focus({ preventScroll: true });
  }

  #onMouseMove(event) {
    if (!this.enabled) return;
    if (this.pointerLocked) {
      const scale = window.devicePixelRatio || 1;
      const dx = Math.round(event.movementX * scale);
      const dy = Math.round(event.movementY * scale);
      if (dx || dy) this.#sendRelative(dx, dy);
      return;
    }
    if (this.#track(event)) this.#sendPointerState(false);
  }

  #onButton(event, pressed) {
    if (!this.enabled) return;
    const bit = BUTTON_BITS[event.button];
    if (bit === undefined) return;
    if (pressed) {
      if (!this.pointerLocked) this.#track(event);
      event.preventDefault();
      this.mask |= 1 << bit;
    } else {
      if (!(this.mask & (1 << bit))) return;
      if (!this.pointerLocked) this.#track(event);
      this.mask &= ~(1 << bit);
    }
    this.#sendPointerState(true);
  }

  #onWheel(event) {
    if (!this.enabled) return;
    event.preventDefault();
    const unit = event.deltaMode === 1 ? LINE_PX : event.deltaMode === 2 ? WHEEL_STEP_PX * 3 : 1;
    this.wheelAccumulator.x += event.deltaX * unit;
    this.wheelAccumulator.y += event.deltaY * unit;
    if (!this.pointerLocked) this.#track(event);
    this.#scrollAxis("y", WHEEL_UP, WHEEL_DOWN);
    this.#scrollAxis("x", WHEEL_LEFT, WHEEL_RIGHT);
  }

  #scrollAxis(axis, negativeBit, positiveBit) {
    const travel = this.wheelAccumulator[axis];
    // Half a notch already counts, so a fine trackpad still scrolls.
    const clicks = Math.trunc((Math.abs(travel) + WHEEL_STEP_PX / 2) / WHEEL_STEP_PX);
    if (clicks === 0) return;
    this.wheelAccumulator[axis] = 0;
    const bit = travel < 0 ? negativeBit : positiveBit;
    // A pulse: the bit's 0 -> 1 edge scrolls `clicks` times, then it drops again.
    this.#sendPointerState(true, Math.min(clicks, 20), bit);
    this.#sendPointerState(true);
  }

  #onTouch(event, phase) {
    if (!this.enabled) return;
    event.preventDefault();
    const touches = event.touches;
    if (phase === "start" && touches.length === 2) {
      // A second finger turns the gesture into scrolling; drop the held button.
      if (this.mask & 1) {
        this.mask &= ~1;
        this.#sendPointerState(true);
      }
      this.touch = { scrollY: (touches[0].clientY + touches[1].clientY) / 2 };
      return;
    }
    if (this.touch && touches.length === 2 && phase === "move") {
      const y = (touches[0].clientY + touches[1].clientY) / 2;
      this.wheelAccumulator.y += (this.touch.scrollY - y) * 2;
      this.touch.scrollY = y;
      this.#scrollAxis("y", WHEEL_UP, WHEEL_DOWN);
      return;
    }
    if (phase === "start" && touches.length === 1) {
      this.touch = null;
      this.#track(touches[0]);
      this.mask |= 1;
      this.#sendPointerState(true);
    } else if (phase === "move" && touches.length === 1 && !this.touch) {
      if (this.#track(touches[0])) this.#sendPointerState(false);
    } else if (phase === "end" && touches.length === 0) {
      this.touch = null;
      if (this.mask & 1) {
        this.mask &= ~1;
        this.#sendPointerState(true);
      }
    }
  }

  #onKey(event, pressed) {
    if (!this.enabled) return;
    if (event.isComposing || this.composing) return;
    const previousTime = this.lastKeyTime;
    const previousCode = this.lastKeyCode;
    this.lastKeyTime = event.timeStamp;
    this.lastKeyCode = event.code;
    if (pressed) {
      const keysym = keysymForKeyEvent(event);
      // Dead keys and IME keys: let the browser compose; the text arrives as input.
      if (keysym === null) return;
      // A cancelled paste shortcut fires no paste event: let the browser have it, and
      // hold the keys back until the pasted text is on its way to the desktop
      // clipboard, so that the application there pastes this text.
      if (isPasteShortcut(event)) this.#holdKeysForPaste();
      else event.preventDefault();
      if (keysym === XK_ISO_LEVEL3_SHIFT && previousCode === "ControlLeft"
          && event.timeStamp - previousTime < FAKE_CONTROL_MS) {
        this.#dropFakeControl();
      }
      this.heldKeys.set(event.code || event.key, keysym);
      this.#emit(`kd,${keysym}`, "keyboard");
    } else {
      const id = event.code || event.key;
      const keysym = this.heldKeys.get(id);
      if (keysym === undefined) return;
      event.preventDefault();
      this.heldKeys.delete(id);
      this.#emit(`ku,${keysym}`, "keyboard");
    }
  }

  // Windows reports AltGr as ControlLeft immediately followed by AltRight; that
  // Control is not a key the user pressed, so take it back.
  #dropFakeControl() {
    const control = this.heldKeys.get("ControlLeft");
    if (control !== undefined) {
      this.heldKeys.delete("ControlLeft");
      this.#emit(`ku,${control}`, "keyboard");
    }
  }

  // Keys held back for a paste are not down on the desktop yet.
  #sendHeldKeys() {
    if (!this.heldKeys.size || this.keysAwaitingPaste !== null) return;
    this.send(`kh,${[...this.heldKeys.values()].join(",")}`);
  }

  #holdKeysForPaste() {
    if (this.keysAwaitingPaste !== null) return;
    this.keysAwaitingPaste = [];
    this.pasteTimer = setTimeout(() => this.#flushKeysAwaitingPaste(), PASTE_EVENT_WAIT_MS);
  }

  #flushKeysAwaitingPaste() {
    const keys = this.keysAwaitingPaste;
    if (keys === null) return;
    this.keysAwaitingPaste = null;
    clearTimeout(this.pasteTimer);
    for (const text of keys) this.send(text);
  }

  // A paste (shortcut or browser menu) while the desktop has the keyboard: the text
  // becomes the desktop's clipboard. This needs no clipboard-read permission.
  #onPaste(event) {
    if (!this.enabled) return;
    // Not into the hidden textarea, where it would be typed as input.
    event.preventDefault();
    const text = event.clipboardData?.getData("text/plain") ?? "";
    if (text) this.setDesktopClipboard?.(text);
    this.#flushKeysAwaitingPaste();
  }

  #typeText(text) {
    if (!text) return;
    if ([...text].length === 1 && keysymForCharacter(text) === null) return;
    this.#emit(`co,end,${text}`, "keyboard");
  }

  #onCompositionEnd(event) {
    this.composing = false;
    if (this.enabled) this.#typeText(event.data);
    this.sink.value = "";
  }

  // Text the browser inserted without a key we could name: a dead key's composed
  // character, an on-screen keyboard, or a tool inserting text directly.
  #onInput(event) {
    if (!this.enabled) {
      this.sink.value = "";
      return;
    }
    if (event.isComposing || this.composing) return;
    if (event.inputType === "insertText" || event.inputType === "insertReplacementText") {
      this.#typeText(event.data ?? this.sink.value);
    }
    this.sink.value = "";
  }
}

// Ctrl+V (Cmd+V on a Mac) or Shift+Insert. V is matched by the character on
// Latin layouts (Dvorak moves it) and by the key's place on the others.
function isPasteShortcut(event) {
  if (event.altKey) return false;
  if (event.shiftKey && !event.ctrlKey && !event.metaKey) return event.key === "Insert";
  if (!event.ctrlKey && !event.metaKey) return false;
  const latin = /^[a-z]$/i.test(event.key);
  return latin ? event.key.toLowerCase() === "v" : event.code === "KeyV";
}
