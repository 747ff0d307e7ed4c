"""A one-line progress bar with rate and ETA that survives resumes (counts from the resumed step)."""
import sys
import time


def _hms(seconds):
    seconds = int(seconds)
    h, rem = divmod(seconds, 3600)
    return f"{h}:{rem // 60:02d}:{rem % 60:02d}" if h else f"{rem // 60:02d}:{rem % 60:02d}"


class Progress:
    def __init__(self, total, start=0, stream=None, width=24, min_interval=0.5):
        self.total, self.start, self.width = total, start, width
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.min_interval = min_interval if self.tty else 30.0
        self.t0 = time.perf_counter()
        self.last = 0.0
        self.shown = None

    def line(self, step, logs):
        done = step - self.start
        elapsed = time.perf_counter() - self.t0
        rate = done / elapsed if elapsed > 0 and done else 0.0
        eta = (self.total - step) / rate if rate else float("nan")
        filled = int(self.width * step / max(self.total, 1))
        bar = "=" * filled + "." * (self.width - filled)
        metrics = " ".join(f"{k}={float(v):.4g}" for k, v in logs.items())
        eta_text = _hms(eta) if eta == eta else "?"
        return f"[{bar}] {step}/{self.total} {rate:.2f} step/s ETA {eta_text} {metrics}"

    def update(self, step, logs, force=False):
        now = time.perf_counter()
        if step == self.shown or (not force and now - self.last < self.min_interval
                                  and step < self.total):
            return
        self.last, self.shown = now, step
        text = self.line(step, logs)
        if self.tty:
            self.stream.write("\r" + text + "\x1b[K")
            if step >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
