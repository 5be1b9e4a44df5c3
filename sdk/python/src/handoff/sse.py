"""A Server-Sent Events line parser (the WHATWG event stream format), shared by both clients."""

from __future__ import annotations

import json
from typing import List, Optional

from .models import Event


class SSEParser:
    """Feed it lines (without their line ending); it returns each event as it completes."""

    def __init__(self) -> None:
        self._data: List[str] = []
        self._event = ""
        self._id: Optional[str] = None
        self.last_event_id: Optional[str] = None
        self.retry_ms: Optional[int] = None

    def feed(self, line: str) -> Optional[Event]:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment: keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isdigit():
                self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Optional[Event]:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._event = ""
            return None
        raw = "\n".join(self._data)
        event = self._event or "message"
        self._data, self._event = [], ""
        try:
            data = json.loads(raw)
        except ValueError:
            data = raw
        return Event(id=self.last_event_id, event=event, data=data, raw_data=raw)
