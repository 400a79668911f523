"""Peak resident memory of this process over a block of code, from /proc (no psutil).

Linux keeps the peak RSS as ``VmHWM``; writing ``5`` to ``/proc/self/clear_refs`` resets it
to the current RSS, which gives an exact peak for the block. Where that is not allowed, a
sampling thread reads ``VmRSS`` every few milliseconds instead (a lower bound on the peak;
it only runs in that case, since it competes for the GIL).
Child processes (Prefect's temporary API server) are not counted.
"""

from __future__ import annotations

import gc
import threading
from dataclasses import dataclass

MB = 1024 * 1024


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes() -> int:
    return _status_kb("VmRSS") * 1024


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


@dataclass
class Peak:
    baseline: int = 0
    peak: int = 0
    method: str = ""

    @property
    def delta(self) -> int:
        return max(0, self.peak - self.baseline)

    def to_json(self) -> dict:
        return {
            "baseline_mb": round(self.baseline / MB, 1),
            "peak_mb": round(self.peak / MB, 1),
            "delta_mb": round(self.delta / MB, 1),
            "method": self.method,
        }


class PeakMemory:
    """``with PeakMemory() as peak: ...``; then ``peak.delta`` is the growth over the start."""

    def __init__(self, interval: float = 0.005):
        self.interval = interval
        self.result = Peak()
        self._stop = threading.Event()
        self._sampled = 0
        self._thread: threading.Thread | None = None
        self._exact = False

    def __enter__(self) -> Peak:
        gc.collect()
        self.result.baseline = rss_bytes()
        self._exact = _reset_peak()
        self._sampled = self.result.baseline
        if not self._exact:  # the sampler takes the GIL now and then: only when needed
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self.result

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._sampled = max(self._sampled, rss_bytes())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        sampled = max(self._sampled, rss_bytes())
        if self._exact:
            self.result.peak = max(_status_kb("VmHWM") * 1024, sampled)
            self.result.method = "VmHWM reset via /proc/self/clear_refs"
        else:
            self.result.peak = sampled
            self.result.method = f"VmRSS sampled every {self.interval * 1000:.0f} ms"
