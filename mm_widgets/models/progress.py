"""Training progress reporters: one tqdm line in a script, silence, or a notebook display.

Every micro-model reports through the same three calls. ``progress=True`` asks the
registered displays (:func:`register_display`) for a reporter, newest first, and falls back
to a tqdm line. The package root registers the notebook display (a bar and a live loss
curve, in ``mm_widgets.widgets.progress``), so the core never imports a widget::

    reporter.start(total_epochs, desc)
    reporter.update(epoch, loss, elapsed_seconds)   # once per finished epoch
    reporter.close(message)                         # message: why it stopped, or None

and, where a reporter has them, ``note(text)`` (a plain line of information in the
display: what is being trained and why, how long it will take) and
``stage(done, total, text)`` (the steps of a long call: rounds, domains).

A long call (``simulate()``, ``AssemblyLine.fit()``) opens :func:`long_call`: one display
for the whole call, whose steps it reports; every training inside it that asks for
``progress=True`` gets that same display, so a cell shows one display, not one per model.
:func:`notice` says a thing once per session (the from-scratch notice), as a plain line in
the display of the training that follows (or printed, when there is none).
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable

#: Factories tried for ``progress=True``, newest first; each returns a reporter, or None
#: when it does not fit the place the code runs in.
DISPLAYS: list[Callable[[], object | None]] = []


def register_display(factory: Callable[[], object | None]) -> Callable[[], object | None]:
    """Offer ``factory`` as the display for ``progress=True`` (returns it, so it decorates)."""
    if factory not in DISPLAYS:
        DISPLAYS.append(factory)
    return factory


#: Reporters of the long calls open now, outermost first.
_OPEN: list = []
#: Notices already said in this session, and those waiting for a display.
_SAID: set[str] = set()
_PENDING: list[str] = []


def notice(text: str) -> bool:
    """Say ``text`` once per session: in the open long call's display, else in the display
    of the next training that starts (:func:`flush_notices`). Returns False when it was said before."""
    if text in _SAID:
        return False
    _SAID.add(text)
    if _OPEN:
        say(_OPEN[-1], text)
    else:
        _PENDING.append(text)
    return True


def say(reporter, text: str) -> None:
    """A notice as a plain line in ``reporter``'s display; printed when the reporter shows
    nothing (``progress=False``): a notice is said once a session, and must be heard."""
    if hasattr(reporter, "notice"):
        reporter.notice(text)  # a display that keeps notices apart from a training's notes
    elif hasattr(reporter, "note") and not isinstance(reporter, SilentProgress):
        reporter.note(text)
    else:
        print(text, file=sys.stdout)


def flush_notices(reporter) -> None:
    """Show the notices waiting for a display in ``reporter``'s (a training just started)."""
    while _PENDING:
        say(reporter, _PENDING.pop(0))


class LongCall:
    """The steps of one long call, reported to its display (see :func:`long_call`)."""

    def __init__(self, reporter, total: int, desc: str, parent: LongCall | None = None):
        self.reporter, self.total, self.desc, self.parent = reporter, int(total), desc, parent
        self.done, self.text = 0, ""
        self.started = time.perf_counter()
        self.stopped: str | None = None  # why the call ended before its last step

    def label(self) -> str:
        own = f"{self.desc} {self.done + 1 if self.done < self.total else self.done} of " \
              f"{self.total}" + (f" · {self.text}" if self.text else "")
        return f"{self.parent.label()} · {own}" if self.parent is not None else own

    def step(self, done: int, text: str = "") -> None:
        """``done`` of :attr:`total` steps finished; ``text`` says what runs now."""
        self.done, self.text = int(done), text
        root = self
        while root.parent is not None:  # a long call inside another: the outer bar counts
            root = root.parent
        if hasattr(self.reporter, "stage"):
            self.reporter.stage(root.done, root.total, self.label())

    def stop(self, text: str) -> None:
        """The call ends here, before its last step (Ctrl-C): its display says ``text``
        and how long it ran, not "done"."""
        self.stopped = text


#: The long calls open now, outermost first.
_CALLS: list[LongCall] = []


@contextlib.contextmanager
def long_call(progress, total: int, desc: str):
    """One progress display for a long call of ``total`` steps; yields a :class:`LongCall`.

    Inside it, ``as_progress(True)`` gives the same display, so trainings report their
    epochs there. A long call inside another reports into the outer one's display.
    """
    if _CALLS:
        call = LongCall(_CALLS[-1].reporter, total, desc, parent=_CALLS[-1])
        _CALLS.append(call)
        try:
            call.step(0)
            yield call
        finally:
            _CALLS.remove(call)
        return
    reporter = as_progress(progress)
    call = LongCall(reporter, total, desc)
    _CALLS.append(call)
    _OPEN.append(reporter)
    flush_notices(reporter)
    try:
        call.step(0)
        yield call
        took = f"{time.perf_counter() - call.started:.0f} s"
        if call.stopped:
            call.step(call.done, f"{call.stopped} after {took}")
        else:
            call.step(call.total, f"done in {took}")
    finally:
        _CALLS.remove(call)
        _OPEN.remove(reporter)


class SilentProgress:
    """Reports nothing (``progress=False``); a once-per-session :func:`notice` is still
    printed as one plain line (see :func:`say`)."""

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
        from tqdm import tqdm

        tqdm.write(text, file=sys.stderr)  # above the bar, on the bar's stream

    def stage(self, done: int, total: int, text: str) -> None:
        from tqdm import tqdm

        tqdm.write(f"[{done}/{total}] {text}", file=sys.stderr)

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
        if _OPEN:  # inside a long call: its display
            return _OPEN[-1]
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
