"""The garbage collector of a serving process, set once what lives as long as the process is loaded.

Two measures, both for the tail latency of requests that build many objects (a 1,000-item
`/v1/allocate` answer builds tens of thousands of dicts, lists and floats):

* `gc.freeze()` moves everything loaded so far (libraries, models, forecast arrays) out of the
  collector's reach: a full collection over it took ~200 ms and stalled every request in flight.
* The young generation's threshold goes from CPython's 700 net allocations to `YOUNG_THRESHOLD`.
  At 700 a request's own objects, alive while it is built, were collected mid-request and
  promoted to the older generations, where they died later, and that triggered a full
  collection every few requests, each also walking the one timer per request that the server's
  HTTP layer keeps for its 60-second timeout. At 50,000 a request's objects are freed by
  reference counting before a collection sees them. Cyclic garbage still goes, a little later.
  The measurements (collections counted in the served process, p99 before and after, memory)
  are in the README's serving benchmark.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
"""Net allocations of tracked objects between young-generation collections (CPython: 700)."""
OLDER_THRESHOLDS = (20, 100)
"""Young collections per middle one, middle per full one (CPython: 10, 10)."""


def settle() -> None:
    """Collect once, freeze what survives, and raise the thresholds: call after loading."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
