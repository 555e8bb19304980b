"""The browser client against a real desktop: Chromium drives our page, our server
captures a private Xvfb and injects the page's input into it.

One Xvfb (1920x1080, so RandR can shrink it to the page), one X test application,
one server and one controller page are shared by the module; every test waits on
events (X events in the application's thread, browser events in the page), never
on sleeps.
"""

from __future__ import annotations

import os
import queue
import re
import select
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from Xlib import X, Xatom
from Xlib.display import Display
from Xlib.ext import xfixes
from Xlib.protocol import event as xevent

from selkies_trio.input import keysyms

from ..conftest import running_xvfb
from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, ServerProcess
from .selkies_server import running_server

WAIT = 30.0
GREEN = 0x00FF00
MARK = 120  # side of the square the application paints where it is clicked


@dataclass
class KeyPress:
    keysym: int
    char: str | None


@dataclass
class XTestApp:
    """A full-screen X client in its own thread: records input, paints a green square
    where it is clicked, and plays both sides of the CLIPBOARD."""

    display_name: str
    keys: list[KeyPress] = field(default_factory=list)
    buttons: list[tuple[bool, int, int, int]] = field(default_factory=list)
    screen_size: tuple[int, int] = (0, 0)
    clipboard_seen: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.changed = threading.Condition()
        self.commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self.wake_read, self.wake_write = os.pipe()
        self.stopping = False
        self.offered = b""
        # While set, the thread repaints a corner every frame so the screen keeps changing.
        self.animating = False
        self.ticks = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        assert ready.wait(WAIT), "the X test application did not start"

    # ---- called from the test --------------------------------------------------------------

    def wait_for(self, predicate: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
        with self.changed:
            if not self.changed.wait_for(predicate, timeout):
                raise AssertionError(f"timed out waiting for {what}")

    def call(self, command: Callable[[], None]) -> None:
        self.commands.put(command)
        os.write(self.wake_write, b"x")

    def own_clipboard(self, text: str) -> None:
        def own() -> None:
            self.offered = text.encode("utf-8")
            self.window.set_selection_owner(self.clipboard, X.CurrentTime)

        self.call(own)

    def typed(self) -> str:
        return "".join(k.char for k in self.keys if k.char is not None)

    def stop(self) -> None:
        self.stopping = True
        os.write(self.wake_write, b"x")
        self.thread.join(10)

    # ---- the application's thread -------------------------------------------------------------

    def _run(self, ready: threading.Event) -> None:
        display = Display(self.display_name)
        self.display = display
        screen = display.screen()
        root = screen.root
        root.change_attributes(event_mask=X.StructureNotifyMask)
        self.window = root.create_window(
            0, 0, screen.width_in_pixels, screen.height_in_pixels, 0, screen.root_depth,
            X.InputOutput, X.CopyFromParent, background_pixel=screen.black_pixel,
            override_redirect=True,
            event_mask=X.KeyPressMask | X.ButtonPressMask | X.ButtonReleaseMask
            | X.ExposureMask | X.PropertyChangeMask,
        )
        self.gc = self.window.create_gc(foreground=GREEN)
        self.clipboard = display.intern_atom("CLIPBOARD")
        self.utf8 = display.intern_atom("UTF8_STRING")
        self.targets = display.intern_atom("TARGETS")
        self.landing = display.intern_atom("TEST_APP_CLIPBOARD")
        display.xfixes_query_version()
        display.xfixes_select_selection_input(
            self.window, self.clipboard, xfixes.XFixesSetSelectionOwnerNotifyMask
        )
        owner_notify = display.query_extension("XFIXES").first_event + xfixes.XFixesSelectionNotify
        self._reload_keymap()
        self.window.map()
        self.window.set_input_focus(X.RevertToParent, X.CurrentTime)
        geometry = root.get_geometry()
        self.screen_size = (geometry.width, geometry.height)
        display.sync()
        ready.set()
        while not self.stopping:
            while not self.commands.empty():
                self.commands.get()()
            display.flush()
            while display.pending_events():
                event = display.next_event()
                with self.changed:
                    self._handle(event, root, owner_notify)
                    self.changed.notify_all()
            display.flush()
            readable, _, _ = select.select(
                [display.fileno(), self.wake_read], [], [], 1 / 30 if self.animating else 5.0
            )
            if self.animating:
                self._animate(screen)
            if self.wake_read in readable:
                os.read(self.wake_read, 4096)
        display.close()

    def _animate(self, screen: Any) -> None:
        self.ticks += 1
        shade = (self.ticks * 37) & 0xFF
        self.gc.change(foreground=shade << 16 | 0x40 << 8 | (255 - shade))
        w, h = self.screen_size
        self.window.fill_rectangle(self.gc, w - 100, h - 100, 80, 80)
        self.gc.change(foreground=GREEN)

    def _reload_keymap(self) -> None:
        info = self.display.display.info
        rows = self.display.get_keyboard_mapping(
            info.min_keycode, info.max_keycode - info.min_keycode + 1
        )
        self.keymap = {info.min_keycode + i: list(row) for i, row in enumerate(rows)}

    def _keysym(self, keycode: int, state: int) -> int:
        row = self.keymap.get(keycode, [0, 0])
        first, second = row[0], row[1] if len(row) > 1 else 0
        if not state & X.ShiftMask:
            return first
        if second:
            return second
        char = keysyms.char_for_keysym(first)
        return ord(char.upper()) if char and len(char.upper()) == 1 else first

    def _handle(self, event: Any, root: Any, owner_notify: int) -> None:
        if event.type == X.MappingNotify:
            self._reload_keymap()
        elif event.type == X.KeyPress:
            keysym = self._keysym(event.detail, event.state)
            self.keys.append(KeyPress(keysym, keysyms.char_for_keysym(keysym)))
        elif event.type in (X.ButtonPress, X.ButtonRelease):
            pressed = event.type == X.ButtonPress
            self.buttons.append((pressed, event.detail, event.event_x, event.event_y))
            if pressed and event.detail == 1:
                self.window.fill_rectangle(
                    self.gc, event.event_x - MARK // 2, event.event_y - MARK // 2, MARK, MARK
                )
        elif event.type == X.ConfigureNotify and event.window == root:
            self.screen_size = (event.width, event.height)
        elif event.type == owner_notify and event.sub_code == xfixes.XFixesSetSelectionOwnerNotify:
            if event.owner != self.window.id and event.owner != X.NONE:
                self.window.convert_selection(
                    self.clipboard, self.utf8, self.landing, X.CurrentTime
                )
        elif event.type == X.SelectionNotify and event.property != X.NONE:
            reply = self.window.get_full_property(event.property, X.AnyPropertyType)
            if reply is not None:
                self.clipboard_seen.append(bytes(reply.value).decode("utf-8", "replace"))
        elif event.type == X.SelectionRequest:
            self._serve(event)

    def _serve(self, request: Any) -> None:
        prop = request.property
        if request.target == self.targets:
            request.requestor.change_property(
                prop, Xatom.ATOM, 32, [self.targets, self.utf8, Xatom.STRING]
            )
        elif request.target in (self.utf8, Xatom.STRING):
            request.requestor.change_property(prop, request.target, 8, self.offered)
        else:
            prop = X.NONE
        request.requestor.send_event(xevent.SelectionNotify(
            time=request.time, requestor=request.requestor, selection=request.selection,
            target=request.target, property=prop,
        ))


def start_server(**extra: str) -> tuple[ServerProcess, ExitStack]:
    """A server for a fixture that outlives one `with` block; `stop_server` ends it."""
    stack = ExitStack()
    return stack.enter_context(running_server(**extra)), stack


def stop_server(server: ServerProcess, stack: ExitStack) -> None:
    stack.close()


@dataclass
class Desktop:
    app: XTestApp
    server: ServerProcess
    browser: Any
    context: Any
    page: Any


@pytest.fixture(scope="module")
def desktop() -> Iterator[Desktop]:
    from playwright.sync_api import sync_playwright

    with running_xvfb(1920, 1080) as display:
        app = XTestApp(display)
        server, reader = start_server(DISPLAY=display)
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                context = browser.new_context(viewport={"width": 1280, "height": 720})
                context.grant_permissions(["clipboard-read", "clipboard-write"],
                                          origin=server.url)
                page = context.new_page()
                page.on("console", lambda m: server.log.append(f"[console] {m.text}\n"))
                page.on("pageerror", lambda e: server.log.append(f"[pageerror] {e}\n"))
                page.goto(server.url + "/")
                try:
                    yield Desktop(app, server, browser, context, page)
                finally:
                    browser.close()
        finally:
            stop_server(server, reader)
            app.stop()


def artifact(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"client_{name}.png"))


# Resolves once `check(client)` is truthy, re-checking on every client update.
WAIT_CLIENT = """([check, timeout]) => new Promise((resolve, reject) => {
  const test = new Function("client", `return (${check});`);
  const client = window.selkiesClient;
  const timer = setTimeout(() => reject(new Error(`timed out: ${check}; status ${client.status}`)), timeout);
  const previous = client.onUpdate;
  const probe = () => {
    let value;
    try { value = test(client); } catch (error) { value = undefined; }
    if (value) { clearTimeout(timer); client.onUpdate = previous; resolve(value); }
  };
  client.onUpdate = () => { if (previous) previous(); probe(); };
  probe();
})"""

# Resolves on the video's own frame callbacks once `count` more frames were presented.
WAIT_FRAMES = """(count) => new Promise((resolve, reject) => {
  const video = document.getElementById("stream");
  const timer = setTimeout(() => reject(new Error("no frames")), 30000);
  let first = null;
  const onFrame = (now, metadata) => {
    if (first === null) first = metadata.presentedFrames;
    if (metadata.presentedFrames - first >= count) { clearTimeout(timer); resolve(metadata.presentedFrames); }
    else video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
})"""

# Resolves when the decoded video shows a (mostly) green pixel at remote (x, y).
WAIT_GREEN_PIXEL = """([x, y]) => new Promise((resolve, reject) => {
  const video = document.getElementById("stream");
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let last = null;
  const timer = setTimeout(() => reject(new Error(`pixel stayed ${last}`)), 30000);
  const onFrame = () => {
    canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    context.drawImage(video, 0, 0);
    const [r, g, b] = context.getImageData(x, y, 1, 1).data;
    last = [r, g, b];
    if (g > 200 && r < 80 && b < 80) { clearTimeout(timer); resolve(last); }
    else video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
})"""

FRAMES_DECODED = """async () => {
  const stats = await window.selkiesClient.pc.getStats();
  let frames = 0;
  stats.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames = s.framesDecoded || 0; });
  return frames;
}"""

# Page coordinates of remote pixel (x, y): the inverse of the client's own mapping.
PAGE_POINT = """([x, y]) => {
  const video = document.getElementById("stream");
  const rect = video.getBoundingClientRect();
  const scale = Math.min(rect.width / video.videoWidth, rect.height / video.videoHeight);
  const left = rect.left + (rect.width - video.videoWidth * scale) / 2;
  const top = rect.top + (rect.height - video.videoHeight * scale) / 2;
  return [left + (x + 0.5) * scale, top + (y + 0.5) * scale];
}"""

SIZE_SETTLED = (
    "client.requestedSize && client.remoteSize && client.connectionState === 'connected'"
    " && client.remoteSize.width === client.requestedSize.width"
    " && client.remoteSize.height === client.requestedSize.height"
)


def wait_client(page: Any, check: str, timeout_ms: int = 30000) -> Any:
    return page.evaluate(WAIT_CLIENT, [check, timeout_ms])


def settled_page(desktop: Desktop) -> Any:
    """The controller page, connected, with the remote screen at the size it asked for."""
    page = desktop.page
    try:
        wait_client(page, SIZE_SETTLED)
    except Exception as error:
        artifact(page, "failure")
        # Which side stopped: did the page ask, and did the X screen change?
        client = page.evaluate(
            "() => { const c = window.selkiesClient; return JSON.stringify({requested:"
            " c.requestedSize, remote: c.remoteSize, sent: c.sent, mkAccess: c.mkAccess,"
            " settings: Boolean(c.serverSettings), status: c.status}); }"
        )
        raise AssertionError(
            f"page never settled; client {client}; X screen {desktop.app.screen_size};"
            " server log:\n" + "".join(desktop.server.log)
        ) from error
    return page


def test_video_plays_and_the_stats_panel_shows_a_bitrate(desktop: Desktop) -> None:
    page = settled_page(desktop)
    # A static desktop sends no frames (damage-driven capture), so animate a corner.
    desktop.app.animating = True
    desktop.app.call(lambda: None)
    try:
        page.evaluate(WAIT_FRAMES, 10)
        before = page.evaluate(FRAMES_DECODED)
        page.evaluate(WAIT_FRAMES, 10)
        # getStats() may lag the frame callbacks by a frame or two; rising is the point.
        assert page.evaluate(FRAMES_DECODED) > before > 0
    finally:
        desktop.app.animating = False
    bitrate = wait_client(
        page, "Number(document.getElementById('stat-bitrate').dataset.value) > 0"
        " && document.getElementById('stat-bitrate').textContent"
    )
    assert re.fullmatch(r"[0-9.]+ (k|M)?bit/s", bitrate)
    assert page.locator("#connection").text_content() == "connected"
    assert page.locator("#role").text_content() == "controller"
    artifact(page, "desktop")


def test_click_and_typed_text_reach_x_and_the_click_shows_in_the_video(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app
    width, height = page.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]")
    target = (width // 3, height // 2)
    x, y = page.evaluate(PAGE_POINT, list(target))
    pressed_before = len(app.buttons)
    page.mouse.click(x, y)
    app.wait_for(lambda: len(app.buttons) >= pressed_before + 2, "the click in X")
    press = app.buttons[pressed_before]
    assert press[:2] == (True, 1) and app.buttons[pressed_before + 1][:2] == (False, 1)
    assert abs(press[2] - target[0]) <= 1 and abs(press[3] - target[1]) <= 1
    page.evaluate(WAIT_GREEN_PIXEL, list(target))

    typed_before = len(app.keys)
    text = "Hi é ж!"
    page.keyboard.type(text)
    page.keyboard.press("Enter")
    app.wait_for(lambda: "\n" in "".join(k.char or "" for k in app.keys[typed_before:]),
                 f"{text!r} typed into X")
    assert "".join(k.char or "" for k in app.keys[typed_before:]) == text + "\n"
    counters = page.evaluate("() => window.selkiesClient.input.counters")
    assert counters["pointer"] >= 2 and counters["keyboard"] >= len(text)
    artifact(page, "clicked")


def test_clipboard_from_x_reaches_the_page_and_back(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app
    app.own_clipboard("from X: ünïcødé ✓")
    shown = wait_client(page, "client.serverClipboard === 'from X: ünïcødé ✓' && client.serverClipboard")
    assert shown == "from X: ünïcødé ✓"
    assert page.locator("#clipboard-text").input_value() == "from X: ünïcødé ✓"

    seen_before = len(app.clipboard_seen)
    page.locator("#clipboard-text").fill("from the page: жук")
    page.locator("#clipboard-send").click()
    app.wait_for(lambda: "from the page: жук" in app.clipboard_seen[seen_before:],
                 "the page's clipboard in X")


def test_resizing_the_window_resizes_the_x_screen(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app
    try:
        page.set_viewport_size({"width": 1000, "height": 600})
        stage = page.evaluate(
            "() => [document.getElementById('stage').clientWidth, document.getElementById('stage').clientHeight]"
        )
        expected = (stage[0] // 2 * 2, stage[1] // 2 * 2)
        app.wait_for(lambda: app.screen_size == expected, f"X screen {expected}")
        wait_client(page, SIZE_SETTLED)
        assert page.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]") == list(expected)
        artifact(page, "resized")
    finally:
        page.set_viewport_size({"width": 1280, "height": 720})


def test_a_shared_viewer_sees_video_and_cannot_drive_the_desktop(desktop: Desktop) -> None:
    controller = settled_page(desktop)
    app = desktop.app
    viewer = desktop.context.new_page()
    try:
        viewer.goto(desktop.server.url + "/#shared")
        wait_client(viewer, "client.connectionState === 'connected' && client.remoteSize")
        app.animating = True
        app.call(lambda: None)
        try:
            viewer.evaluate(WAIT_FRAMES, 5)
        finally:
            app.animating = False
        assert viewer.locator("#role").text_content() == "viewer (view only)"
        for hidden in ("#section-video", "#section-screen", "#section-sharing", "#pointer-lock",
                       "#clipboard-send"):
            assert viewer.locator(hidden).is_hidden(), hidden
        buttons_before = len(app.buttons)
        keys_before = len(app.keys)
        vx, vy = viewer.evaluate(PAGE_POINT, [20, 20])
        viewer.mouse.move(vx + 30, vy + 30)
        viewer.mouse.click(vx, vy)
        viewer.keyboard.type("no")
        assert viewer.evaluate("() => window.selkiesClient.input.counters") == {
            "pointer": 0, "keyboard": 0,
        }
        # A hostile viewer writing verbs on its channel itself is refused by the server.
        for verb in ("m,40,40,1,0", "m,40,40,0,0", "kd,97", "ku,97", "kr"):
            viewer.evaluate("(text) => window.selkiesClient.channels.get('input').send(text)",
                            verb)
        # The answer to a pong comes after the server handled everything before it.
        viewer.evaluate("() => { window.selkiesClient.lastLatency = undefined; }")
        viewer.evaluate("() => window.selkiesClient.channels.get('input').send('pong,1')")
        wait_client(viewer, "client.lastLatency !== undefined")
        # A probe from the controller arrives; nothing from the viewer came before it.
        width, height = controller.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]")
        probe = (width // 2, height // 3)
        controller.mouse.click(*controller.evaluate(PAGE_POINT, list(probe)))
        app.wait_for(lambda: len(app.buttons) >= buttons_before + 2, "the controller's probe")
        assert [b[2:] for b in app.buttons[buttons_before:]] == [probe, probe]
        assert len(app.keys) == keys_before
        artifact(viewer, "shared_viewer")
    finally:
        viewer.close()


def test_post_messages_from_other_origins_are_ignored(desktop: Desktop) -> None:
    page = settled_page(desktop)
    result = page.evaluate("""() => new Promise((resolve) => {
      const client = window.selkiesClient;
      const before = client.lastClipboardSent;
      window.dispatchEvent(new MessageEvent("message", {
        origin: "https://evil.example", data: { type: "selkies-clipboard", text: "evil" },
      }));
      const foreign = client.lastClipboardSent;
      window.addEventListener("message", () => {
        // Listeners run in order: ours already handled this same-origin message.
        resolve({ before, foreign, own: client.lastClipboardSent });
      }, { once: true });
      window.postMessage({ type: "selkies-clipboard", text: "own origin" }, location.origin);
    })""")
    assert result["foreign"] == result["before"] != "evil"
    assert result["own"] == "own origin"


def test_sharing_links_for_enabled_roles_without_the_token(desktop: Desktop) -> None:
    page = settled_page(desktop)
    links = page.evaluate(
        "() => [...document.querySelectorAll('#sharing-links a')].map(a => a.href)"
    )
    assert [link.rsplit("#", 1)[1] for link in links] == ["shared", "player2", "player3", "player4"]
    assert all(link.startswith(desktop.server.url + "/") for link in links)
    assert not any("token" in link for link in links)
    # Settings came from server_settings: ranges as sliders, enums as menus, locked ones hidden.
    assert page.locator("[data-setting='framerate'] input[type=range]").count() == 1
    assert page.locator("[data-setting='scaling_dpi'] select").count() == 1
    # The encoder is fixed while the server runs: server_settings locks it.
    assert page.locator("[data-setting='encoder']").count() == 0
    assert page.locator("[data-setting='ui_title']").count() == 0
    assert page.locator("[data-setting='mode']").count() == 0


def test_wheel_pulses_reach_x_as_buttons_4_and_5(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app
    width, height = page.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]")
    page.mouse.move(*page.evaluate(PAGE_POINT, [width // 2, height // 2]))
    before = len(app.buttons)
    page.mouse.wheel(0, 100)
    app.wait_for(lambda: len(app.buttons) >= before + 2, "a wheel-down click")
    page.mouse.wheel(0, -200)
    app.wait_for(lambda: len(app.buttons) >= before + 6, "two wheel-up clicks")
    assert [b[:2] for b in app.buttons[before:]] == [
        (True, 5), (False, 5), (True, 4), (False, 4), (True, 4), (False, 4),
    ]


def test_dead_keys_and_altgr_type_the_composed_characters(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app
    # Give the desktop the keyboard the way a user does: click it.
    width, height = page.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]")
    page.mouse.click(*page.evaluate(PAGE_POINT, [width // 4, height // 4]))
    cdp = page.context.new_cdp_session(page)
    before = len(app.keys)
    # A dead acute, then 'e': the browser composes "é" and the client types it once.
    cdp.send("Input.dispatchKeyEvent", {"type": "rawKeyDown", "key": "Dead", "code": "Quote",
                                        "windowsVirtualKeyCode": 222})
    cdp.send("Input.imeSetComposition", {"text": "\u00b4", "selectionStart": 1, "selectionEnd": 1})
    cdp.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": "Dead", "code": "Quote",
                                        "windowsVirtualKeyCode": 222})
    cdp.send("Input.insertText", {"text": "é"})
    # AltGr+E on a European layout: ISO_Level3_Shift held, the key types "€".
    for kind, key, code in (("rawKeyDown", "AltGraph", "AltRight"), ("keyDown", "€", "KeyE"),
                            ("keyUp", "€", "KeyE"), ("keyUp", "AltGraph", "AltRight")):
        cdp.send("Input.dispatchKeyEvent", {"type": kind, "key": key, "code": code,
                                            **({"text": key} if kind == "keyDown" else {})})
    app.wait_for(lambda: "€" in app.typed()[-2:], "é and € typed into X")
    new = app.keys[before:]
    assert "".join(k.char or "" for k in new) == "é€"
    assert 0xFE03 in [k.keysym for k in new]
    cdp.detach()


def test_the_desktop_cursor_becomes_the_videos_css_cursor(desktop: Desktop) -> None:
    page = settled_page(desktop)
    app = desktop.app

    def hand_cursor() -> None:
        font = app.display.open_font("cursor")
        # Glyph 60 of the X cursor font is "hand2".
        cursor = font.create_glyph_cursor(font, 60, 61, (0, 0, 0), (0xFFFF, 0xFFFF, 0xFFFF))
        app.window.change_attributes(cursor=cursor)

    handle_before = page.evaluate("() => window.selkiesClient.cursor?.handle ?? null")
    width, height = page.evaluate("() => [window.selkiesClient.remoteSize.width, window.selkiesClient.remoteSize.height]")
    page.mouse.move(*page.evaluate(PAGE_POINT, [width // 2 + 7, height // 2 + 7]))
    app.call(hand_cursor)
    wait_client(page, f"client.cursor && client.cursor.handle !== {handle_before or 'null'}"
                      " && client.cursor.width > 0")
    css = page.evaluate("() => document.getElementById('stream').style.cursor")
    hot = page.evaluate("() => [window.selkiesClient.cursor.hotx, window.selkiesClient.cursor.hoty]")
    assert css.startswith('url("data:image/png;base64,iVBORw0KGgo')
    assert css.endswith(f'") {hot[0]} {hot[1]}, auto')
