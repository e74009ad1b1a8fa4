"""Bounded audit rows: truncated fields and a rate limit on refused requests.

An operator's action and every refused attempt to act go to the audit log. A hostile or broken
client must not fill the disk through it, so:

- every string (actor, action, result, and each string inside the payload) is cut to
  ``MAX_FIELD_CHARS`` and marked ``…[truncated, N chars]``; a payload whose JSON is still over
  ``MAX_PAYLOAD_BYTES`` is replaced by ``{"truncated": true, "bytes": N, "head": ...}``;
- ``RefusalAudit`` writes at most ``max_rows`` refused requests per principal (or client) per
  ``window_s`` [s, monotonic clock]; the rest are counted, and one summary row
  ("N more refused requests suppressed") is written when that window has ended (checked at the
  principal's next refusal and by ``flush``, which the API calls every tick).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_FIELD_CHARS = 200
MAX_PAYLOAD_BYTES = 2048

AuditWriter = Callable[[str, str, str, dict[str, Any], str], None]  # actor, role, action, payload, result


def clip(text: str, max_chars: int = MAX_FIELD_CHARS) -> str:
    """``text`` cut to ``max_chars`` characters, marked when cut."""
    if len(text) <= max_chars:
        return text
    return f"{text[:max_chars]}…[truncated, {len(text)} chars]"


def _clip_all(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return clip(value)
    if depth > 4:
        return clip(repr(value))
    if isinstance(value, dict):
        return {clip(str(k)): _clip_all(v, depth + 1) for k, v in list(value.items())[:50]}
    if isinstance(value, list | tuple):
        return [_clip_all(v, depth + 1) for v in value[:50]]
    return value


def bounded_payload(payload: dict[str, Any], max_bytes: int = MAX_PAYLOAD_BYTES
                    ) -> dict[str, Any]:
    """The payload with each string clipped; replaced by its head if still over ``max_bytes``."""
    clipped = _clip_all(payload)
    text = json.dumps(clipped, default=str)
    if len(text.encode()) <= max_bytes:
        return clipped
    return {"truncated": True, "bytes": len(text.encode()), "head": text[:max_bytes // 2]}


@dataclass
class _Window:
    start_s: float
    written: int = 0
    suppressed: int = 0
    role: str = ""


class RefusalAudit:
    """Audit rows for refused requests, at most ``max_rows`` per key per ``window_s``."""

    def __init__(self, write: AuditWriter, *, max_rows: int = 20, window_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = 10_000) -> None:
        self.write, self.max_rows, self.window_s, self.clock = write, max_rows, window_s, clock
        self.max_keys = max_keys
        self._windows: dict[str, _Window] = {}

    def refused(self, actor: str, role: str, action: str, payload: dict[str, Any],
                result: str) -> bool:
        """Audit one refused request; False if the rate limit suppressed it."""
        now = self.clock()
        key = clip(actor)
        w = self._windows.get(key)
        if w is not None and now - w.start_s >= self.window_s:
            self._close(key, w)
            w = None
        if w is None:
            if len(self._windows) >= self.max_keys:
                self.flush()
                if len(self._windows) >= self.max_keys:
                    self._close(*next(iter(self._windows.items())))
            w = self._windows[key] = _Window(now, role=role)
        if w.written >= self.max_rows:
            w.suppressed += 1
            return False
        w.written += 1
        self.write(key, clip(role), clip(action), bounded_payload(payload), clip(result))
        return True

    def _close(self, key: str, w: _Window) -> None:
        del self._windows[key]
        if w.suppressed:
            self.write(key, clip(w.role), "refused.suppressed",
                       {"suppressed": w.suppressed, "window_s": self.window_s},
                       f"{w.suppressed} more refused requests suppressed")

    def flush(self, force: bool = False) -> None:
        """Close the windows that have ended (all of them with ``force``), writing summaries."""
        now = self.clock()
        for key, w in list(self._windows.items()):
            if force or now - w.start_s >= self.window_s:
                self._close(key, w)
