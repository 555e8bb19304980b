"""Reassembly of multipart clipboard uploads (`cws/cwd/cwe`, `cbs/cbd/cbe`).

Pure state: the start frame announces a size, data frames append, the end frame
yields the whole payload as a `ClipboardText` or `ClipboardBinary`. One transfer
at a time per client; a new start abandons an unfinished one (the client gave up).
Payloads beyond the cap, or beyond their announced size, are dropped whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import events as ev
from .protocol import InputProtocolError


@dataclass
class _Transfer:
    transfer_id: str
    total_size: int
    mime_type: str | None
    parts: list[bytes] = field(default_factory=list)
    received: int = 0


class ClipboardAssembler:
    def __init__(self, max_bytes: int) -> None:
        self._max_bytes = max_bytes
        self._current: _Transfer | None = None

    def receive(
        self,
        event: ev.ClipboardMultipartStart | ev.ClipboardMultipartData | ev.ClipboardMultipartEnd,
    ) -> ev.ClipboardText | ev.ClipboardBinary | None:
        """Feed one multipart frame; returns the payload when the end frame completes it.

        Raises InputProtocolError for frames that do not fit the current transfer;
        the transfer is abandoned in that case.
        """
        if isinstance(event, ev.ClipboardMultipartStart):
            if event.total_size > self._max_bytes:
                self._current = None
                raise InputProtocolError(
                    f"clipboard of {event.total_size} bytes exceeds the {self._max_bytes} cap"
                )
            self._current = _Transfer(event.transfer_id, event.total_size, event.mime_type)
            return None
        transfer = self._current
        if transfer is None or transfer.transfer_id != event.transfer_id:
            raise InputProtocolError(f"clipboard frame for unknown transfer {event.transfer_id!r}")
        if event.binary != (transfer.mime_type is not None):
            self._current = None
            raise InputProtocolError("clipboard frame mixes text and binary verbs")
        if isinstance(event, ev.ClipboardMultipartData):
            transfer.received += len(event.chunk)
            if transfer.received > transfer.total_size:
                self._current = None
                raise InputProtocolError("clipboard data exceeds its announced size")
            transfer.parts.append(event.chunk)
            return None
        self._current = None
        payload = b"".join(transfer.parts)
        if len(payload) != transfer.total_size:
            raise InputProtocolError(
                f"clipboard ended at {len(payload)} of {transfer.total_size} bytes"
            )
        if transfer.mime_type is None:
            try:
                return ev.ClipboardText(payload.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise InputProtocolError("multipart clipboard text is not UTF-8") from exc
        return ev.ClipboardBinary(transfer.mime_type, payload)
