// The Gamepad API into `js,...` messages (PROTOCOL.md, "Gamepad").
//
// Browsers expose gamepad state only by polling `navigator.getGamepads()`, so
// while a pad is connected we read it once per animation frame and send what
// changed. The server maps a controller's pads by index and a player's pad to its
// own slot, so the same messages serve both roles.

const AXIS_QUANTUM = 0.01;
const HEARTBEAT_MS = 1000;

function base64Utf8(text) {
  let binary = "";
  for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
  return btoa(binary);
}

function formatValue(value) {
  return Number(value.toFixed(3)).toString();
}

export class GamepadBridge {
  constructor(send) {
    this.send = send;
    this.enabled = false;
    this.pads = new Map(); // index -> { buttons: number[], axes: number[] }
    this.frame = null;
    this.heartbeat = null;
    this.abort = new AbortController();
    const options = { signal: this.abort.signal };
    window.addEventListener("gamepadconnected", (event) => this.#connect(event.gamepad), options);
    window.addEventListener("gamepaddisconnected", (event) => this.#disconnect(event.gamepad.index), options);
  }

  get connected() {
    return [...this.pads.keys()];
  }

  setEnabled(enabled) {
    this.enabled = enabled;
    if (!enabled) {
      for (const index of [...this.pads.keys()]) this.#disconnect(index);
      return;
    }
    for (const pad of navigator.getGamepads?.() ?? []) if (pad) this.#connect(pad);
  }

  #connect(pad) {
    if (!this.enabled || this.pads.has(pad.index)) return;
    this.pads.set(pad.index, {
      buttons: pad.buttons.map(() => 0),
      axes: pad.axes.map(() => 0),
    });
    this.send(`js,c,${pad.index},${base64Utf8(pad.id.slice(0, 200))},${pad.axes.length},${pad.buttons.length}`);
    this.#schedule();
    if (this.heartbeat === null) {
      this.heartbeat = setInterval(() => {
        for (const index of this.pads.keys()) this.send(`js,h,${index}`);
      }, HEARTBEAT_MS);
    }
  }

  #disconnect(index) {
    if (!this.pads.delete(index)) return;
    this.send(`js,d,${index}`);
    if (this.pads.size === 0) {
      if (this.heartbeat !== null) clearInterval(this.heartbeat);
      this.heartbeat = null;
    }
  }

  #schedule() {
    if (this.frame === null && this.pads.size) {
      this.frame = requestAnimationFrame(() => {
        this.frame = null;
        this.#poll();
        this.#schedule();
      });
    }
  }

  #poll() {
    for (const pad of navigator.getGamepads?.() ?? []) {
      if (!pad) continue;
      const known = this.pads.get(pad.index);
      if (!known) continue;
      pad.buttons.forEach((button, number) => {
        const value = button.pressed && button.value === 0 ? 1 : button.value;
        if (Math.abs(value - (known.buttons[number] ?? 0)) >= AXIS_QUANTUM) {
          known.buttons[number] = value;
          this.send(`js,b,${pad.index},${number},${formatValue(value)}`);
        }
      });
      pad.axes.forEach((raw, number) => {
        const value = Math.max(-1, Math.min(1, raw));
        if (Math.abs(value - (known.axes[number] ?? 0)) >= AXIS_QUANTUM) {
          known.axes[number] = value;
          this.send(`js,a,${pad.index},${number},${formatValue(value)}`);
        }
      });
    }
  }

  destroy() {
    this.setEnabled(false);
    this.abort.abort();
  }
}
