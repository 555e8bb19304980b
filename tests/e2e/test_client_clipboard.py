"""The browser's clipboard and the client, in Chromium against the synthetic source:
a paste into the desktop carries the pasted text, and a desktop copy made while the
page is in the background reaches the browser when the user comes back. (The X side
of the clipboard is in test_client_desktop.py.)"""

from __future__ import annotations

import base64
from typing import Any

from .test_client_connection import INJECT, TAP
from .test_client_desktop import wait_client

CONTROL_L = 0xFFE3
LETTER_V = 0x76


def test_ctrl_v_sends_the_pasted_text_then_the_keys(server: Any, browser: Any) -> None:
    # Only writing is allowed: reading the clipboard on focus is not possible, the paste is.
    context = browser.new_context()
    context.grant_permissions(["clipboard-write"], origin=server.url)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        wait_client(page, "client.connectionState === 'connected' && client.remoteSize"
                          " && client.input.enabled")
        pasted = "pasted from the browser: жук ✓"
        page.evaluate("(text) => navigator.clipboard.writeText(text)", pasted)
        box = page.locator("#stream").bounding_box()
        page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        page.evaluate(TAP)
        page.keyboard.press("Control+v")
        page.wait_for_function(
            f"() => window.tapped.some(([, text]) => text === 'ku,{CONTROL_L}')", timeout=10000)
        sent = [text for _label, text in page.evaluate("() => window.tapped")]
        clipboard = "cw," + base64.b64encode(pasted.encode()).decode()
        # The desktop has the text before the keys that make its application paste it.
        assert sent == [f"kd,{CONTROL_L}", clipboard, f"kd,{LETTER_V}", f"ku,{LETTER_V}",
                        f"ku,{CONTROL_L}"]
        # Nothing landed in the hidden textarea that takes the keyboard.
        assert page.evaluate("() => document.getElementById('keyboard-sink').value") == ""
    finally:
        context.close()


def test_a_desktop_copy_reaches_the_browser_when_the_page_gets_focus_back(
        server: Any, browser: Any) -> None:
    context = browser.new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    page = context.new_page()
    try:
        page.goto(server.url + "/")
        wait_client(page, "client.connectionState === 'connected'"
                          " && client.channels.get('input')?.readyState === 'open'")
        page.evaluate("() => navigator.clipboard.writeText('before')")
        # The user is in another window when the desktop's clipboard changes.
        page.evaluate("() => { document.hasFocus = () => false; }")
        copied = "copied on the desktop ✓"
        content = base64.b64encode(copied.encode()).decode()
        page.evaluate(INJECT, {"type": "clipboard-msg", "data": {
            "content": content, "mime_type": "text/plain", "is_binary_data": False,
            "total_size": len(copied.encode())}})
        assert page.evaluate("() => window.selkiesClient.clipboardToWrite") == copied
        assert page.evaluate("() => navigator.clipboard.readText()") == "before"

        page.evaluate("() => { delete document.hasFocus; window.dispatchEvent(new Event('focus')); }")
        wait_client(page, "client.clipboardToWrite === null")
        assert page.evaluate("() => navigator.clipboard.readText()") == copied
        # The text came from the desktop: it is not sent back.
        assert page.evaluate("() => window.selkiesClient.lastClipboardSent") == copied
    finally:
        context.close()
