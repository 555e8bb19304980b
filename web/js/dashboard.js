// The sidebar: connection state, live stats, settings generated from the server's
// `server_settings` payload, sharing links, clipboard, fullscreen.
import { formatBitrate, formatBytes } from "./stats.js";

// Which sidebar group a setting belongs to; anything unlisted that the user may
// change lands in "other", so a new server setting shows up without client work.
const GROUPS = {
  video: [
    "encoder", "framerate", "h264_crf", "jpeg_quality", "h264_fullcolor", "h264_streaming_mode",
    "use_cpu", "use_paint_over_quality", "paint_over_jpeg_quality", "h264_paintover_crf",
    "h264_paintover_burst_frames", "video_bitrate",
  ],
  screen: [
    "is_manual_resolution_mode", "manual_width", "manual_height", "scaling_dpi",
    "use_css_scaling", "use_browser_cursors",
  ],
  audio: ["audio_bitrate"],
};
// Not user settings: UI switches, sharing and capability switches, the mode.
const NOT_SETTINGS = [/^ui_/, /^enable_/, /_enabled$/, /^mode$/, /^file_transfers$/, /^second_screen$/];
// SETTINGS keys whose wire name differs from the settings table (PROTOCOL.md).
const WIRE_NAMES = { h264_crf: "video_crf" };
// Sidebar sections and the `ui_*` switch (SELKIES_UI_*) that shows them.
const SECTION_SWITCHES = {
  "section-stats": "ui_sidebar_show_stats",
  "section-video": "ui_sidebar_show_video_settings",
  "section-screen": "ui_sidebar_show_screen_settings",
  "section-audio": "ui_sidebar_show_audio_settings",
  "section-clipboard": "ui_sidebar_show_clipboard",
  "section-sharing": "ui_sidebar_show_sharing",
  "section-gamepads": "ui_sidebar_show_gamepads",
  "fullscreen": "ui_sidebar_show_fullscreen",
};
// Sections a view-only client has no use for.
const CONTROLLER_ONLY = ["section-video", "section-screen", "section-audio", "section-other", "section-sharing", "pointer-lock"];
// Controls that act through mouse and keyboard rights (`mk_access`): without them
// they would do nothing.
const NEED_INPUT_ACCESS = ["pointer-lock", "clipboard-send"];
// Sections holding generated settings, shown only when they have some.
const SETTINGS_GROUPS = ["video", "screen", "audio", "other"];
const SHARE_ROLES = [
  ["enable_shared", "shared", "View only"],
  ["enable_player2", "player2", "Player 2"],
  ["enable_player3", "player3", "Player 3"],
  ["enable_player4", "player4", "Player 4"],
];

function groupOf(name) {
  for (const [group, names] of Object.entries(GROUPS)) if (names.includes(name)) return group;
  return "other";
}

function label(name) {
  return name.replace(/_/g, " ").replace(/\bh264\b/, "H.264").replace(/\bcrf\b/, "CRF")
    .replace(/\bdpi\b/, "DPI").replace(/\bjpeg\b/, "JPEG").replace(/\bcpu\b/, "CPU")
    .replace(/^./, (c) => c.toUpperCase());
}

function element(tag, attributes = {}, text = undefined) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// The page's own URL with another role: the query (token) is kept except the
// token itself, which belongs to this user and must never leak into a shared link.
export function sharingLink(location, role) {
  const params = new URLSearchParams(location.search);
  params.delete("token");
  const query = params.toString();
  return `${location.origin}${location.pathname}${query ? `?${query}` : ""}#${role}`;
}

export class Dashboard {
  constructor(root, actions) {
    this.root = root;
    this.actions = actions;
    this.viewOnly = false;
    this.hasGamepadSlot = true;
    this.inputAccess = false;
    this.settings = null;
    this.$ = (id) => document.getElementById(id);
    this.#wire();
  }

  #wire() {
    this.$("fullscreen").addEventListener("click", () => this.actions.toggleFullscreen());
    this.$("pointer-lock").addEventListener("click", () => this.actions.requestPointerLock());
    this.$("sidebar-toggle").addEventListener("click", () => {
      document.body.classList.toggle("sidebar-collapsed");
    });
    this.$("clipboard-send").addEventListener("click", () => {
      this.actions.sendClipboard(this.$("clipboard-text").value);
    });
  }

  // The role can change on a live connection (role_update): the sidebar follows it
  // both ways.
  setRole(role) {
    this.viewOnly = role.client_type !== "controller";
    this.hasGamepadSlot = role.client_slot !== -1;
    const name = role.client_slot === -1 ? "viewer (view only)"
      : role.client_type === "controller" ? "controller" : `player ${role.client_slot}`;
    this.$("role").textContent = name;
    document.body.classList.toggle("view-only", role.client_slot === -1);
    this.$("clipboard-text").readOnly = this.viewOnly;
    this.#showSections();
  }

  // Whether this client may use mouse and keyboard now (`mk_access`).
  setInputAccess(granted) {
    this.inputAccess = granted;
    this.#showSections();
  }

  // Every control's visibility, from scratch, from everything that decides it: the
  // server's ui_* switches and capabilities, what the settings and sharing lists
  // hold, the role and the input rights.
  #showSections() {
    const settings = this.settings ?? {};
    const value = (name, fallback) => (settings[name] ? settings[name].value : fallback);
    const shown = new Map(["section-other", "pointer-lock", "clipboard-send"].map((id) => [id, true]));
    for (const [id, name] of Object.entries(SECTION_SWITCHES)) shown.set(id, Boolean(value(name, true)));
    const hide = (id) => shown.set(id, false);
    for (const group of SETTINGS_GROUPS) {
      if (!this.$(`settings-${group}`).children.length) hide(`section-${group}`);
    }
    if (!this.$("sharing-links").children.length) hide("section-sharing");
    if (!value("clipboard_enabled", true)) hide("section-clipboard");
    if (!value("gamepad_enabled", true) || !this.hasGamepadSlot) hide("section-gamepads");
    if (this.viewOnly) {
      CONTROLLER_ONLY.forEach(hide);
      hide("clipboard-send");
    }
    if (!this.inputAccess) NEED_INPUT_ACCESS.forEach(hide);
    for (const [id, visible] of shown) this.$(id).hidden = !visible;
  }

  setSettingValue(name, value) {
    const row = document.querySelector(`[data-setting="${name}"]`);
    if (!row) return;
    const control = row.querySelector("input, select");
    if (control && document.activeElement !== control) control.value = String(value);
    const shown = row.querySelector("output");
    if (shown) shown.textContent = String(value);
  }

  setConnection(text, state) {
    this.$("connection").textContent = text;
    this.$("connection").dataset.state = state;
  }

  setSource(text) {
    this.$("source").textContent = text;
  }

  applyServerSettings(settings) {
    this.settings = settings;
    const value = (name, fallback) => (settings[name] ? settings[name].value : fallback);
    const title = value("ui_title", "Selkies");
    this.$("title").textContent = title;
    document.title = title;
    this.$("logo").hidden = !value("ui_show_logo", true);
    document.body.classList.toggle("no-sidebar", !value("ui_show_sidebar", true));
    this.#buildSettings(settings);
    this.#buildSharing(settings);
    this.#showSections();
  }

  #buildSettings(settings) {
    const lists = {};
    for (const group of SETTINGS_GROUPS) {
      lists[group] = this.$(`settings-${group}`);
      lists[group].replaceChildren();
    }
    for (const [name, entry] of Object.entries(settings)) {
      if (!entry || entry.locked || NOT_SETTINGS.some((pattern) => pattern.test(name))) continue;
      const control = this.#control(name, entry);
      if (control) lists[groupOf(name)].append(control);
    }
  }

  #control(name, entry) {
    const row = element("label", { class: "setting", "data-setting": name });
    const caption = element("span", { class: "setting-name" }, label(name));
    row.append(caption);
    const send = (value) => {
      entry.value = value;
      this.actions.sendSettings({ [WIRE_NAMES[name] ?? name]: value });
    };
    if (typeof entry.value === "boolean") {
      const box = element("input", { type: "checkbox" });
      box.checked = entry.value;
      box.addEventListener("change", () => send(box.checked));
      row.prepend(box);
      return row;
    }
    if (Array.isArray(entry.allowed) && !Array.isArray(entry.value)) {
      const menu = element("select");
      for (const option of entry.allowed) {
        const item = element("option", { value: JSON.stringify(option) }, String(option));
        item.selected = option === entry.value;
        menu.append(item);
      }
      menu.addEventListener("change", () => send(JSON.parse(menu.value)));
      row.append(menu);
      return row;
    }
    if (typeof entry.min === "number" && typeof entry.max === "number") {
      const slider = element("input", {
        type: "range", min: String(entry.min), max: String(entry.max), step: "1",
        value: String(entry.value),
      });
      const shown = element("output", {}, String(entry.value));
      slider.addEventListener("input", () => { shown.textContent = slider.value; });
      slider.addEventListener("change", () => send(Number(slider.value)));
      row.append(slider, shown);
      return row;
    }
    if (typeof entry.value === "number") {
      const box = element("input", { type: "number", value: String(entry.value), min: "0" });
      box.addEventListener("change", () => send(Number(box.value)));
      row.append(box);
      return row;
    }
    if (typeof entry.value === "string") {
      const box = element("input", { type: "text", value: entry.value });
      box.addEventListener("change", () => send(box.value));
      row.append(box);
      return row;
    }
    return null;
  }

  #buildSharing(settings) {
    const list = this.$("sharing-links");
    list.replaceChildren();
    const enabled = (name) => !settings[name] || settings[name].value !== false;
    if (!enabled("enable_sharing")) return;
    for (const [flag, role, caption] of SHARE_ROLES) {
      if (!enabled(flag)) continue;
      const link = sharingLink(window.location, role);
      const item = element("li", { "data-role": role });
      const anchor = element("a", { href: link, target: "_blank", rel: "noopener" }, caption);
      const copy = element("button", { type: "button" }, "Copy");
      copy.addEventListener("click", () => navigator.clipboard?.writeText(link).catch(() => {}));
      item.append(anchor, copy);
      list.append(item);
    }
  }

  showStats(sample, latencyMs) {
    const put = (id, text, raw) => {
      const node = this.$(id);
      node.textContent = text;
      node.dataset.value = String(raw);
    };
    put("stat-fps", sample.fps.toFixed(1), sample.fps);
    put("stat-bitrate", formatBitrate(sample.bitrate), sample.bitrate);
    put("stat-resolution", sample.width ? `${sample.width}×${sample.height}` : "–", sample.width);
    put("stat-latency", latencyMs === undefined ? "–" : `${latencyMs.toFixed(0)} ms`, latencyMs ?? "");
    put("stat-rtt", sample.rttMs === null ? "–" : `${sample.rttMs.toFixed(1)} ms`, sample.rttMs ?? "");
    put("stat-lost", String(sample.packetsLost), sample.packetsLost);
    put("stat-jitter", `${sample.jitterMs.toFixed(1)} ms`, sample.jitterMs);
    put("stat-decode", `${sample.decodeMs.toFixed(2)} ms`, sample.decodeMs);
  }

  // The `stats` message (ours): shown when the server sends it. Known keys get
  // friendly names; anything else is listed as it comes.
  showServerStats(data) {
    if (!data || typeof data !== "object") return;
    const cpu = data.cpu_percent ?? data.cpu;
    const memory = data.memory_bytes ?? data.mem_used ?? data.memory;
    if (cpu !== undefined) this.$("stat-cpu").textContent = `${Number(cpu).toFixed(0)} %`;
    if (memory !== undefined) {
      this.$("stat-memory").textContent = typeof memory === "number" ? formatBytes(memory) : String(memory);
    }
    if (typeof data.video_source === "string") this.setSource(data.video_source);
    const extra = this.$("stat-server-extra");
    extra.replaceChildren();
    for (const [key, value] of Object.entries(data)) {
      if (["cpu_percent", "cpu", "memory_bytes", "mem_used", "memory", "video_source"].includes(key)) continue;
      if (value !== null && typeof value === "object") continue;
      extra.append(element("dt", {}, label(key)), element("dd", {}, String(value)));
    }
  }

  setClipboard(text) {
    this.$("clipboard-text").value = text;
  }

  setGamepads(indices) {
    this.$("gamepad-list").textContent = indices.length ? indices.map((i) => `#${i}`).join(", ") : "none";
  }
}
