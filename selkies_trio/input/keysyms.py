"""Keysym <-> Unicode (X11 protocol, appendix A "KEYSYM Encoding").

Latin-1 characters are their own keysyms; every other Unicode character U+0100..
U+10FFFF has the keysym 0x01000000 + code point. Control characters that a text
field can contain map to the function keysyms that type them.
"""

from __future__ import annotations

UNICODE_KEYSYM_BASE = 0x01000000
NO_SYMBOL = 0

XK_BACKSPACE = 0xFF08
XK_TAB = 0xFF09
XK_RETURN = 0xFF0D
XK_ESCAPE = 0xFF1B
XK_DELETE = 0xFFFF
XK_SHIFT_L = 0xFFE1
XK_SHIFT_R = 0xFFE2

_CONTROL_KEYSYMS = {
    "\b": XK_BACKSPACE,
    "\t": XK_TAB,
    "\n": XK_RETURN,
    "\r": XK_RETURN,
    "\x1b": XK_ESCAPE,
    "\x7f": XK_DELETE,
}
_CONTROL_CHARS = {XK_BACKSPACE: "\b", XK_TAB: "\t", XK_RETURN: "\n", XK_ESCAPE: "\x1b", XK_DELETE: "\x7f"}

# A few legacy (pre-Unicode) keysyms that keyboard maps commonly carry for
# characters outside Latin-1; the server prefers the Unicode keysym for typing
# but must recognise these when it reads a map back.
_LEGACY_TO_CHAR = {0x20AC: "\u20ac", 0x8FD: "\u2192", 0x6D6: "\u0436", 0x6F6: "\u0416"}


def keysym_for_char(char: str) -> int:
    """The keysym that types `char` (one code point); NoSymbol for unmappable controls."""
    if len(char) != 1:
        raise ValueError(f"expected one character, got {len(char)}")
    if char in _CONTROL_KEYSYMS:
        return _CONTROL_KEYSYMS[char]
    point = ord(char)
    if 0x20 <= point <= 0x7E or 0xA0 <= point <= 0xFF:
        return point
    if point < 0x100:
        return NO_SYMBOL
    return UNICODE_KEYSYM_BASE + point


def char_for_keysym(keysym: int) -> str | None:
    """The character a keysym types, or None for keys that type nothing (Shift...)."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if UNICODE_KEYSYM_BASE + 0x100 <= keysym <= UNICODE_KEYSYM_BASE + 0x10FFFF:
        point = keysym - UNICODE_KEYSYM_BASE
        # Surrogates are not characters; a keysym naming one types nothing.
        return None if 0xD800 <= point <= 0xDFFF else chr(point)
    if keysym in _CONTROL_CHARS:
        return _CONTROL_CHARS[keysym]
    return _LEGACY_TO_CHAR.get(keysym)


def is_shift(keysym: int) -> bool:
    return keysym in (XK_SHIFT_L, XK_SHIFT_R)
