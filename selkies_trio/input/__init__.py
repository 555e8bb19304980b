"""Remote input: the Selkies client-verb protocol (pure) and its X11 side.

Pure modules: `events`, `protocol` (parse client frames), `server_messages`
(build server frames), `permissions`, `keysyms`, `png`, `clipboard_transfer`,
`config`. X11 modules (python-xlib, blocking, driven from a runtime worker
thread): `x11_input.XInput` composes `x11_keyboard`, `x11_pointer`,
`x11_clipboard`, `x11_cursor`, `x11_display`; `gamepad` drives uinput pads;
`commands` runs `cmd` without a shell.
"""
