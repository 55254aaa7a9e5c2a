"""The one training loop every micro-model kind uses.

A micro-model sees a handful of frames, so an "epoch" here is a fixed number of optimiser
steps on augmented copies of them, not a pass over a data set. The loop is built from
torch's own parts: ``torch.optim.lr_scheduler.LambdaLR`` for warm-up and cosine decay,
``torch.optim.swa_utils.AveragedModel`` for an exponential moving average of the weights,
and ``torch.optim.swa_utils.update_bn`` to re-estimate BatchNorm statistics for the
weights that are kept. What differs between model kinds (the batches, the loss) comes in
as two functions; everything else (schedule, averaging, stopping, Ctrl-C, progress) is
decided here, once, under one set of names.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from ..errors import warn
from .progress import as_progress, flush_notices


def resolve_device(device):
    """A ``torch.device``: ``"auto"`` (or None) is CUDA when available, else the CPU."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class Plateau:
    """When ``epochs="auto"`` stops: the loss has stopped falling, or is low enough.

    The epoch loss is smoothed (``smoothing`` is the weight of the newest epoch; 1 means
    no smoothing). Training stops once the smoothed loss has not fallen ``min_gain``
    (relative) below its last improvement for ``patience`` epochs, or once it is below
    ``floor``; never before ``min_epochs``.
    """

    patience: int = 8
    min_gain: float = 0.01
    smoothing: float = 0.3
    min_epochs: int = 1
    floor: float | None = None
    _smooth: float | None = field(default=None, init=False, repr=False)
    _best: float = field(default=math.inf, init=False, repr=False)
    _since: int = field(default=0, init=False, repr=False)

    def reached(self, epoch: int, loss: float) -> bool:
        """Record one epoch's loss; True when training should stop."""
        a = self.smoothing
        self._smooth = loss if self._smooth is None else (1 - a) * self._smooth + a * loss
        if self._smooth < (1 - self.min_gain) * self._best:
            self._best, self._since = self._smooth, 0
        else:
            self._since += 1
        if epoch < self.min_epochs:
            return False
        return self._since >= self.patience or (self.floor is not None and loss < self.floor)


@dataclass
class Settled:
    """When ``epochs="auto"`` stops: predictions on frames nobody labelled stopped changing.

    Every ``every`` epochs, ``look(module)`` predicts a fixed sample of unlabelled frames
    (``what`` says which, e.g. "12 unlabelled frames") with the weights that would be kept,
    in eval mode and without gradients; ``changes(before, now)`` compares two such
    predictions and returns ``(changed, total)``: how many predictions differ, of how many.
    Training stops once ``patience`` checks in a row changed at most ``tolerance``
    predictions while predicting something (``total > 0``: a model that finds nothing yet
    has not settled) and, when ``taught`` is given, while ``taught(module)`` holds (asked
    only at such a calm check: the model does what it was taught, e.g. finds its own
    labelled boxes; a model stuck finding a few of them steadily has not learned);
    never before ``min_epochs``. The loss may still be falling then, but the boxes a
    person would review no longer move.
    """

    look: Callable
    changes: Callable
    what: str
    every: int = 4
    patience: int = 2
    tolerance: int = 0
    min_epochs: int = 1
    taught: Callable | None = None
    #: What ``taught`` holding means, said in the stop reason ("it finds every labelled box").
    taught_text: str = ""
    #: ``(epoch, changed, total)`` per check after the first, and the seconds the checks took.
    log: list = field(default_factory=list, init=False, repr=False)
    seconds: float = field(default=0.0, init=False, repr=False)
    _last: object = field(default=None, init=False, repr=False)
    _calm: int = field(default=0, init=False, repr=False)

    def reached(self, epoch: int, module) -> bool:
        """Check ``module``'s predictions when ``epoch`` is a check; True when training
        should stop."""
        import torch

        if epoch % self.every:
            return False
        started = time.perf_counter()
        was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                now = self.look(module)
                if self._last is not None:
                    changed, total = self.changes(self._last, now)
                    self.log.append((epoch, int(changed), int(total)))
                    calm = total > 0 and changed <= self.tolerance
                    if calm and self.taught is not None:
                        calm = bool(self.taught(module))
                    self._calm = self._calm + 1 if calm else 0
        finally:
            module.train(was_training)
        self._last = now
        self.seconds += time.perf_counter() - started
        return epoch >= self.min_epochs and self._calm >= self.patience

    def reason(self) -> str:
        """Why training stopped, from the last checks: the sentence the progress line shows."""
        calm = self.log[-self.patience:]
        epochs = [calm[0][0] - self.every] + [e for e, _, _ in calm]
        when = ", ".join(map(str, epochs[:-1])) + f" and {epochs[-1]}"
        most = max(c for _, c, _ in calm)
        also = f"; {self.taught_text}" if self.taught is not None and self.taught_text else ""
        if most == 0:
            return (f"predictions on {self.what} stopped changing after {epochs[-1]} epochs "
                    f"(the same at epochs {when}{also})")
        return (f"predictions on {self.what} settled after {epochs[-1]} epochs (at most "
                f"{most} of {max(t for _, _, t in calm)} changed between epochs {when}{also})")


@dataclass
class Schedule:
    """Learning rate per optimiser step, as a factor of the base rate.

    Linear warm-up over ``warmup`` steps, then cosine decay to ``final`` x the base rate
    at the last step; ``final=1`` and ``warmup=0`` is a constant rate.
    """

    total_steps: int
    warmup: int = 0
    final: float = 0.05

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return (step + 1) / self.warmup
        t = (step - self.warmup) / max(self.total_steps - self.warmup, 1)
        return self.final + (1 - self.final) * 0.5 * (1 + math.cos(math.pi * min(t, 1.0)))


def ema_decay(averaged, current, num_averaged):
    """Exponential moving average with a short memory at first: the ``n``-th optimiser step
    is mixed in with decay ``min(0.9, (1 + n) / (10 + n))``, so the starting weights (the
    average's first member) fade fast."""
    import torch

    if not averaged.is_floating_point():
        return current
    n = float(num_averaged)
    d = min(0.9, (1 + n) / (10 + n))
    return torch.add(averaged * d, current, alpha=1 - d)


@dataclass
class TrainResult:
    """What :func:`train` hands back: the kept weights, the loss per epoch, why it stopped."""

    state: dict
    history: list[float]
    stop_reason: str


def train(net, optimizer, *, batches: Callable[[int], Iterable], loss: Callable,
          epochs: int, schedule: Schedule | None = None,
          average: bool = False, plateau: Plateau | None = None,
          settled: Settled | None = None, clip_grad: float | None = None,
          bn_batches: Callable[[], Iterable] | None = None, progress=True,
          on_epoch: Callable[[int, float], object] | None = None, desc: str = "training",
          plan: str | None = None) -> TrainResult:
    """Train ``net`` in place and return the weights to keep.

    Parameters
    ----------
    net
        The ``torch.nn.Module`` to train (already on its device).
    optimizer
        A ``torch.optim`` optimiser over ``net``'s parameters.
    batches
        ``batches(epoch)`` yields that epoch's batches, already on the device.
    loss
        ``loss(net, batch) -> (tensor to minimise, loss per sample as a float)``; the
        epoch loss is the mean of the latter over the epoch's steps.
    epochs
        The most epochs to run.
    schedule
        Learning-rate factor per step (a ``LambdaLR``); None: constant.
    average
        Keep an exponential moving average of the weights (``AveragedModel``) and hand
        that back instead of the raw weights: it smooths out the noise of tiny batches.
    plateau
        Stop early when the loss stops falling; None: run every epoch.
    settled
        Stop early when predictions on frames nobody labelled stop changing (checked on
        the weights that would be kept); None: no such check. With ``plateau`` too,
        whichever comes first stops training.
    clip_grad
        Clip the gradient norm to this value; None: no clipping.
    bn_batches
        ``bn_batches()`` yields network inputs; when given, BatchNorm statistics of the
        kept weights are re-estimated on them (``update_bn``): the running statistics of a
        short run still remember the random start and lag the averaged weights.
    progress
        ``True``, ``False`` or a reporter (see :mod:`mm_widgets.models.progress`).
    on_epoch
        Called as ``on_epoch(epoch, loss)`` after every epoch; raising
        ``KeyboardInterrupt`` in it stops training as Ctrl-C does.
    plan
        A sentence saying what will be trained and why (input size, crops), shown by the
        progress display before the first step. After the first epoch the display also
        gets about how long training will take at that epoch's pace (see
        :func:`estimate_seconds`: an estimate, not a bound: a machine that gets busier
        takes longer).

    Returns
    -------
    TrainResult
        The weights with the lowest epoch loss (of the average when ``average``), loaded
        into ``net`` as well. Ctrl-C after the first epoch keeps them with a warning; before
        it, there is nothing to keep and the ``KeyboardInterrupt`` propagates.
    """
    import torch
    from torch.optim.lr_scheduler import LambdaLR
    from torch.optim.swa_utils import AveragedModel, update_bn

    scheduler = LambdaLR(optimizer, schedule) if schedule is not None else None
    averaged = None
    if average:
        averaged = AveragedModel(net, avg_fn=ema_decay, use_buffers=True)
        averaged.update_parameters(net)  # the starting weights are the average's first member
    kept_module = averaged.module if averaged is not None else net

    reporter = as_progress(progress)
    reporter.start(epochs, desc)
    flush_notices(reporter)  # e.g. "training from scratch", said once, in this display
    if plan:
        tell(reporter, plan)
    history: list[float] = []
    step_seconds: list[float] = []
    best_loss, best_state = math.inf, None
    stop_reason = None
    started = time.perf_counter()
    try:
        for epoch in range(1, epochs + 1):
            net.train()
            total, steps = 0.0, 0
            for batch in batches(epoch):
                step_started = time.perf_counter()
                value, per_sample = loss(net, batch)
                optimizer.zero_grad(set_to_none=True)
                value.backward()
                if clip_grad is not None:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), max_norm=clip_grad)
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                if averaged is not None:
                    averaged.update_parameters(net)
                total += per_sample
                steps += 1
                if epoch == 1:
                    step_seconds.append(time.perf_counter() - step_started)
            epoch_loss = total / max(steps, 1)
            history.append(epoch_loss)
            if epoch_loss < best_loss:
                best_loss = epoch_loss
                best_state = {k: v.detach().clone() for k, v in kept_module.state_dict().items()}
            reporter.update(epoch, epoch_loss, time.perf_counter() - started)
            if epoch == 1 and epochs > 1:
                seconds = estimate_seconds(time.perf_counter() - started, step_seconds, epochs)
                tell(reporter, f"{desc}: about {seconds:.0f} s for {epochs} epochs at the first "
                               "epoch's pace (less if the loss levels off sooner, more if the "
                               "machine gets busier)")
            if on_epoch is not None:
                on_epoch(epoch, epoch_loss)
            if plateau is not None and plateau.reached(epoch, epoch_loss) and epoch < epochs:
                stop_reason = f"loss plateaued after {epoch} epochs"
                break
            if settled is not None and epoch < epochs and settled.reached(epoch, kept_module):
                stop_reason = settled.reason()
                break
    except KeyboardInterrupt:
        stop_reason = f"interrupted after {len(history)} epochs"
        if best_state is None:
            raise  # not one epoch finished: there is no trained model to hand back
        warn(f"training {stop_reason}: keeping the weights with the lowest loss so "
             f"far ({best_loss:.4f})")
    finally:
        reporter.close(stop_reason)

    net.load_state_dict(best_state)
    if bn_batches is not None:
        with torch.no_grad():
            update_bn(bn_batches(), net)
    net.eval()
    return TrainResult(best_state, history, stop_reason or "reached the epoch maximum")


def estimate_seconds(first_epoch: float, step_seconds: list[float], epochs: int) -> float:
    """Seconds ``epochs`` epochs take, from the first one: its own time plus, for every
    later step, its typical step. The first step of a run pays one-time costs (memory,
    kernel choice; several times a later step on a CPU), so it is left out of the typical
    step when there are others."""
    steady = step_seconds[1:] or step_seconds
    if not steady:
        return first_epoch * epochs
    per_step = sorted(steady)[len(steady) // 2]
    return first_epoch + (epochs - 1) * len(step_seconds) * per_step


def adamw(net, lr: float, weight_decay: float = 5e-4):
    """AdamW over ``net``'s parameters with weight decay on the weights only: biases and
    norm parameters (anything of one dimension) are not decayed."""
    import torch

    decay, no_decay = [], []
    for name, p in net.named_parameters():
        (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
    return torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                              {"params": no_decay, "weight_decay": 0.0}], lr=lr)


def tell(reporter, text: str) -> None:
    """Show ``text`` as one plain line in a progress display (reporters without ``note``
    show nothing)."""
    note = getattr(reporter, "note", None)
    if note is not None:
        note(text)


def copy_weights(net, state: dict, *, old_classes=None, classes=None,
                 is_head: Callable[[str], bool] = lambda name: False) -> None:
    """Start ``net`` from ``state``: every tensor whose name and shape match is copied.

    Tensors for which ``is_head(name)`` holds have one row per class; when ``old_classes``
    and ``classes`` are given, each class that both know gets its old row, whatever its
    position (a class added in a later round must not erase what the old ones learned),
    and new classes keep their fresh initialisation.
    """
    import torch

    own = net.state_dict()
    with torch.no_grad():
        for name, value in own.items():
            old = state.get(name)
            if old is None:
                continue
            if is_head(name) and old_classes is not None and classes is not None:
                for row, c in enumerate(classes):
                    if c in old_classes and old_classes.index(c) < old.shape[0]:
                        value[row] = old[old_classes.index(c)]
            elif old.shape == value.shape:
                value.copy_(old)
    net.load_state_dict(own)
