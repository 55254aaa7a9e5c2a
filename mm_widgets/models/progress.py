"""Training progress reporters: one tqdm line in a script, silence, or a notebook display.

Every micro-model reports through the same three calls. ``progress=True`` asks the
registered displays (:func:`register_display`) for a reporter, newest first, and falls back
to a tqdm line. The package root registers the notebook display (a bar and a live loss
curve, in ``mm_widgets.widgets.progress``), so the core never imports a widget::

    reporter.start(total_epochs, desc)
    reporter.update(epoch, loss, elapsed_seconds)   # once per finished epoch
    reporter.close(message)                         # message: why it stopped, or None

and, optionally, ``reporter.note(text)`` for a plain line of information (what is being
trained and why, how long it will take).
"""

from __future__ import annotations

from collections.abc import Callable

#: Factories tried for ``progress=True``, newest first; each returns a reporter, or None
#: when it does not fit the place the code runs in.
DISPLAYS: list[Callable[[], object | None]] = []


def register_display(factory: Callable[[], object | None]) -> Callable[[], object | None]:
    """Offer ``factory`` as the display for ``progress=True`` (returns it, so it decorates)."""
    if factory not in DISPLAYS:
        DISPLAYS.append(factory)
    return factory


class SilentProgress:
    """Reports nothing (``progress=False``)."""

    def start(self, total: int, desc: str = "") -> None:
        pass

    def update(self, epoch: int, loss: float, elapsed: float) -> None:
        pass

    def close(self, message: str | None = None) -> None:
        pass

    def note(self, text: str) -> None:
        pass


class ConsoleProgress:
    """One tqdm line: epochs done, current loss, time left (estimated from the epoch maximum)."""

    def __init__(self):
        self._bar = None

    def start(self, total: int, desc: str = "") -> None:
        from tqdm import tqdm

        self._bar = tqdm(total=total, desc=desc or "training", unit="epoch", leave=True,
                         dynamic_ncols=True)

    def update(self, epoch: int, loss: float, elapsed: float) -> None:
        if self._bar is not None:
            self._bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self._bar.update(epoch - self._bar.n)

    def note(self, text: str) -> None:
        import sys

        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)  # above the bar, on the bar's stream

    def close(self, message: str | None = None) -> None:
        if self._bar is None:
            return
        if message:
            # The epoch maximum was not reached (loss plateau, Ctrl-C): say why on the bar.
            self._bar.set_postfix_str(message, refresh=False)
            self._bar.total = self._bar.n
            self._bar.refresh()
        self._bar.close()
        self._bar = None


def as_progress(progress):
    """A reporter for ``progress``: ``True`` -> a registered display or a tqdm line, ``False``/``None`` -> silent,
    anything with ``start``/``update``/``close`` -> used as given."""
    if progress is True:
        for factory in reversed(DISPLAYS):
            reporter = factory()
            if reporter is not None:
                return reporter
        return ConsoleProgress()
    if progress is False or progress is None:
        return SilentProgress()
    if all(hasattr(progress, name) for name in ("start", "update", "close")):
        return progress
    raise TypeError(
        f"progress must be True, False or an object with start/update/close; got {progress!r}"
    )
