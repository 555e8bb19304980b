// KeyboardEvent -> X keysym (X11 protocol, appendix A "KEYSYM Encoding").
//
// The browser has already applied the user's layout, so `event.key` is the
// character the key types (or a named key). We send that character's keysym and
// let the server find or remap a keycode for it: the remote layout never has to
// match the local one.

const UNICODE_KEYSYM_BASE = 0x01000000;

// Named keys, by `KeyboardEvent.key` (UI Events KeyboardEvent key values).
const NAMED = new Map([
  ["Backspace", 0xff08], ["Tab", 0xff09], ["Enter", 0xff0d], ["Escape", 0xff1b],
  ["Delete", 0xffff], ["Insert", 0xff63], ["Home", 0xff50], ["End", 0xff57],
  ["PageUp", 0xff55], ["PageDown", 0xff56], ["ArrowLeft", 0xff51], ["ArrowUp", 0xff52],
  ["ArrowRight", 0xff53], ["ArrowDown", 0xff54], ["Pause", 0xff13], ["ScrollLock", 0xff14],
  ["PrintScreen", 0xff61], ["ContextMenu", 0xff67], ["NumLock", 0xff7f], ["CapsLock", 0xffe5],
  ["AltGraph", 0xfe03], ["Clear", 0xff0b], ["Help", 0xff6a], ["Cancel", 0xff69],
  ["Select", 0xff60], ["Execute", 0xff62], ["Undo", 0xff65], ["Redo", 0xff66],
  ["Find", 0xff68], ["Compose", 0xff20], ["KanaMode", 0xff2d], ["HiraganaKatakana", 0xff27],
  ["Hiragana", 0xff25], ["Katakana", 0xff26], ["Convert", 0xff23], ["NonConvert", 0xff22],
  ["HangulMode", 0xff31], ["HanjaMode", 0xff34], ["ZenkakuHankaku", 0xff2a],
  ["AudioVolumeMute", 0x1008ff12], ["AudioVolumeDown", 0x1008ff11],
  ["AudioVolumeUp", 0x1008ff13], ["MediaPlayPause", 0x1008ff14],
  ["MediaTrackNext", 0x1008ff17], ["MediaTrackPrevious", 0x1008ff16],
  ["MediaStop", 0x1008ff15],
]);

// Modifiers differ left and right only in `event.code`.
const BY_CODE = new Map([
  ["ShiftLeft", 0xffe1], ["ShiftRight", 0xffe2], ["ControlLeft", 0xffe3],
  ["ControlRight", 0xffe4], ["MetaLeft", 0xffeb], ["MetaRight", 0xffec],
  ["OSLeft", 0xffeb], ["OSRight", 0xffec], ["AltLeft", 0xffe9], ["AltRight", 0xffea],
  ["NumpadEnter", 0xff8d], ["NumpadAdd", 0xffab], ["NumpadSubtract", 0xffad],
  ["NumpadMultiply", 0xffaa], ["NumpadDivide", 0xffaf],
]);

const KEYPAD_DIGIT_BASE = 0xffb0;
const KEYPAD_DECIMAL = 0xffae;
const F1 = 0xffbe;

export const XK_ISO_LEVEL3_SHIFT = 0xfe03;

// The keysym that types one character (one code point).
export function keysymForCharacter(char) {
  const point = char.codePointAt(0);
  if (point === undefined) return null;
  if (char === "\n" || char === "\r") return 0xff0d;
  if (char === "\t") return 0xff09;
  if (char === "\b") return 0xff08;
  if ((point >= 0x20 && point <= 0x7e) || (point >= 0xa0 && point <= 0xff)) return point;
  if (point < 0x100) return null;
  return UNICODE_KEYSYM_BASE + point;
}

function isSingleCodePoint(text) {
  return text.length > 0 && [...text].length === 1;
}

// The keysym for a key event, or null when the key types nothing we can name
// (dead keys and IME processing: their text arrives later as composed input).
export function keysymForKeyEvent(event) {
  const { key, code } = event;
  if (key === "Dead" || key === "Process" || key === "Unidentified") return null;
  if (key === "AltGraph") return XK_ISO_LEVEL3_SHIFT;
  if (BY_CODE.has(code)) return BY_CODE.get(code);
  if (code && code.startsWith("Numpad") && key.length === 1) {
    if (key >= "0" && key <= "9") return KEYPAD_DIGIT_BASE + Number(key);
    if (key === "." || key === ",") return KEYPAD_DECIMAL;
  }
  const fn = /^F([1-9]|1[0-9]|2[0-4])$/.exec(key);
  if (fn) return F1 + Number(fn[1]) - 1;
  if (NAMED.has(key)) return NAMED.get(key);
  if (key === "Shift") return 0xffe1;
  if (key === "Control") return 0xffe3;
  if (key === "Alt") return 0xffe9;
  if (key === "Meta" || key === "OS") return 0xffeb;
  if (isSingleCodePoint(key)) return keysymForCharacter(key);
  return null;
}
