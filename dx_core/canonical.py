"""The one canonical JSON encoding: every hashed document (manifests, job specs, log entries) uses it."""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8 (not ASCII-escaped), no NaN or infinities.

    The browser console's `canonical.js` produces the same bytes, so it can recompute every hash.
    Raises TypeError or ValueError for a value JSON cannot hold.
    """
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8")
