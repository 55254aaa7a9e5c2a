"""The timm frame classifier: small synthetic frames, one to three epochs, a few seconds."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.errors import LabelError, NoLabelsError, NotFittedError, UnknownClassError
from mm_widgets.models import MicroModel, make_model
from mm_widgets.models import classifier as clf
from mm_widgets.models.classifier import TimmMicroModel

CLASSES = ["sky", "grass"]
N = 24


def two_kinds(n=N, seed=0):
    """Even frames: bluish with horizontal stripes; odd frames: greenish with vertical ones."""
    rng = np.random.default_rng(seed)
    frames, truth = [], []
    for i in range(n):
        img = rng.integers(0, 60, (48, 64, 3)).astype(np.uint8)
        if i % 2 == 0:
            img[::8] = (90, 140, 240)
            img[:, :, 2] = np.maximum(img[:, :, 2], 180)
            truth.append("sky")
        else:
            img[:, ::8] = (60, 200, 60)
            img[:, :, 1] = np.maximum(img[:, :, 1], 150)
            truth.append("grass")
        frames.append(img)
    return mm.Frames.from_arrays(frames), truth


def labelled(truth, frames=(0, 1, 2, 3), classes=CLASSES):
    labels = mm.LabelSet(classes, "classes")
    for f in frames:
        labels.set_class(f, truth[f])
    return labels


def small(**kw):
    """A fast classifier: 32 px input, few epochs, no pretrained lookup, silent."""
    settings = {"imgsz": 32, "epochs": 2, "weights": "scratch", "progress": False, "seed": 0}
    return make_model("timm", **{**settings, **kw})


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: these tiny networks gain nothing from two, and the CPU is shared."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return two_kinds()


@pytest.fixture(scope="module")
def fitted(data):
    frames, truth = data
    return small(epochs=3).fit(frames, labelled(truth))


def test_registered_as_timm():
    model = make_model("timm", epochs=1, seed=3)
    assert isinstance(model, TimmMicroModel)
    assert model.kind == "timm" and model.task == "classes"
    assert model.epochs == 1 and model.seed == 3 and model.imgsz == "auto"  # stored as given


def test_predict_shapes_and_columns(data, fitted):
    frames, _ = data
    pred = fitted.predict(frames)
    assert list(pred.columns) == ["frame", "label", "score", "source", "round"]
    assert pred["frame"].tolist() == list(range(N))
    assert set(pred["label"]) <= set(CLASSES)
    assert (pred["source"] == "model").all() and (pred["round"] == 0).all()
    assert pred["score"].between(0, 1).all()

    some = fitted.predict(frames, indices=[5, 2])
    assert some["frame"].tolist() == [5, 2]

    proba = fitted.predict_proba(frames, indices=[0, 1, 7])
    assert list(proba.columns) == CLASSES and proba.index.name == "frame"
    assert proba.index.tolist() == [0, 1, 7]
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(proba.max(axis=1).to_numpy(), some_scores(fitted, frames, [0, 1, 7]))


def some_scores(model, frames, indices):
    return model.predict(frames, indices=indices)["score"].to_numpy()


def test_learned_attributes(fitted):
    assert fitted.classes_ == CLASSES
    assert len(fitted.history_) == 3 and all(np.isfinite(fitted.history_))
    assert fitted.train_seconds_ > 0
    assert fitted.domain_ == [0, 1, 2, 3]


def test_learns_an_easy_two_class_problem(data, fitted):
    frames, truth = data
    pred = fitted.predict(frames)
    unseen = pred[~pred["frame"].isin(fitted.domain_)]
    accuracy = (unseen["label"].to_numpy() == np.array(truth)[unseen["frame"]]).mean()
    assert accuracy >= 0.9
    assert fitted.history_[-1] < fitted.history_[0]


def test_same_seed_same_model(data):
    frames, truth = data
    a = small().fit(frames, labelled(truth)).predict_proba(frames)
    b = small().fit(frames, labelled(truth)).predict_proba(frames)
    pd.testing.assert_frame_equal(a, b)


def test_fit_leaves_global_rng_alone(data):
    import torch

    frames, truth = data
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    small(epochs=1).fit(frames, labelled(truth))
    assert torch.equal(torch.rand(3), expected)


def test_save_load_round_trip(data, fitted, tmp_path):
    frames, _ = data
    path = fitted.save(tmp_path / "clf.pt")
    loaded = MicroModel.load(path)
    assert isinstance(loaded, TimmMicroModel)
    pd.testing.assert_frame_equal(loaded.predict(frames), fitted.predict(frames))
    assert loaded.classes_ == fitted.classes_ and loaded.domain_ == fitted.domain_
    assert loaded.history_ == pytest.approx(fitted.history_)
    assert loaded.epochs == 3 and loaded.imgsz == 32


def test_unfitted_predict_is_a_clear_error(data):
    frames, _ = data
    with pytest.raises(NotFittedError, match="not trained"):
        make_model("timm").predict(frames)
    with pytest.raises(NotFittedError):
        make_model("timm").save("never.pt")


def test_zero_labels_is_a_clear_error(data):
    frames, _ = data
    with pytest.raises(NoLabelsError, match="no frame has a class"):
        small().fit(frames, mm.LabelSet(CLASSES, "classes"))


def test_unknown_class_is_a_clear_error(data):
    frames, truth = data
    labels = labelled(truth)
    labels.classes = ["sky"]  # a class list edited after labelling: "grass" is now unknown
    with pytest.raises(UnknownClassError, match="'grass'"):
        small().fit(frames, labels)


def test_box_labels_are_refused(data):
    frames, _ = data
    labels = mm.LabelSet(["cat"], "boxes")
    labels.add_box(0, mm.Box(1, 1, 10, 10, "cat"))
    with pytest.raises(LabelError, match="yolo"):
        small().fit(frames, labels)


def test_from_scratch_is_said_exactly_once_per_session(data, monkeypatch, capsys):
    from mm_widgets.models import progress

    monkeypatch.setattr(progress, "_SAID", set())
    monkeypatch.setattr(progress, "_PENDING", [])
    frames, truth = data
    monkeypatch.setattr(clf, "_cached_pretrained_file", lambda backbone: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        small(weights="auto", epochs=1).fit(frames, labelled(truth))
        small(weights="auto", epochs=1).fit(frames, labelled(truth))
    assert capsys.readouterr().out.count("from scratch") == 1


@pytest.mark.parametrize("how", ["cache", "path"])
def test_pretrained_weights_on_disk(data, monkeypatch, tmp_path, how):
    import timm
    import torch

    frames, truth = data
    on_disk = tmp_path / "resnet10t.pth"  # ImageNet-shaped: its 1000-class head is dropped
    torch.save(timm.create_model("resnet10t", pretrained=False).state_dict(), on_disk)
    monkeypatch.setattr(clf, "_cached_pretrained_file", lambda backbone: str(on_disk))
    weights = "auto" if how == "cache" else str(on_disk)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "from scratch" warning when weights exist
        model = small(weights=weights, epochs=1).fit(frames, labelled(truth))
    assert model.started_from_ == ("pretrained" if how == "cache" else "file")


def test_weights_path_of_a_saved_model_warm_starts(data, fitted, tmp_path):
    frames, truth = data
    path = fitted.save(tmp_path / "previous.model")
    model = small(weights=str(path), epochs=1).fit(frames, labelled(truth))
    assert model.started_from_ == "warm_start"


def test_warm_start_from_previous_model(data, fitted):
    frames, truth = data
    # one more labelled frame and a new class: shared classes keep their classifier rows
    labels = labelled(truth, frames=(0, 1, 2, 3, 4), classes=[*CLASSES, "sand"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warm = small(weights="auto", epochs=1, imgsz="auto", warm_start=fitted).fit(frames, labels)
    assert warm.started_from_ == "warm_start"
    assert warm.input_size_ == fitted.input_size_  # imgsz="auto" keeps the previous size
    assert warm.classes_ == [*CLASSES, "sand"]
    pred = warm.predict(frames)
    assert (pred["label"].to_numpy() == np.array(truth)).mean() >= 0.9


def test_warm_start_needs_the_same_backbone(data, fitted):
    frames, truth = data
    with pytest.raises(mm.MMError, match="warm-start"):
        small(backbone="resnet18", warm_start=fitted).fit(frames, labelled(truth))


def test_ctrl_c_returns_the_model_trained_so_far(data):
    frames, truth = data
    seen = []

    def interrupt(epoch, loss):
        seen.append((epoch, loss))
        raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after 1 epoch"):
        model = small(epochs=3, on_epoch=interrupt).fit(frames, labelled(truth))
    assert len(seen) == 1 and len(model.history_) == 1
    assert model.history_[0] == pytest.approx(seen[0][1])
    assert len(model.predict(frames)) == N


def test_progress_false_is_silent(data, capsys):
    frames, truth = data
    small(epochs=1, progress=False).fit(frames, labelled(truth))
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_progress_true_draws_one_tqdm_line(data, capsys):
    frames, truth = data
    small(epochs=2, progress=True).fit(frames, labelled(truth))
    err = capsys.readouterr().err
    assert "training resnet10t on 4 frames" in err and "2/2" in err


class Recorder:
    """A progress reporter (the protocol overfit() hands to every model) that keeps the calls."""

    def __init__(self):
        self.calls = []

    def start(self, total, desc=""):
        self.calls.append(("start", total))

    def update(self, epoch, loss, elapsed):
        self.calls.append(("update", epoch, loss, elapsed))

    def close(self, message=None):
        self.calls.append(("close", message))


def test_progress_reporter_hears_every_epoch(data, tmp_path):
    frames, truth = data
    recorder = Recorder()
    model = small(epochs=2, progress=recorder).fit(frames, labelled(truth))
    assert [c[0] for c in recorder.calls] == ["start", "update", "update", "close"]
    assert recorder.calls[0] == ("start", 2) and recorder.calls[-1] == ("close", None)
    assert [c[2] for c in recorder.calls[1:3]] == pytest.approx(model.history_)
    assert MicroModel.load(model.save(tmp_path / "m.pt")).progress is True  # not the object


def test_auto_epochs_stop_on_a_plateau(data):
    frames, truth = data
    recorder = Recorder()
    model = small(epochs="auto", progress=recorder).fit(frames, labelled(truth))
    assert len(model.history_) < clf.MAX_AUTO_EPOCHS
    assert recorder.calls[-1][0] == "close" and recorder.calls[-1][1].startswith("loss plateaued")


def test_pretrained_lookup_never_downloads():
    # runs with sockets blocked: a download attempt would raise, not return
    found = clf._cached_pretrained_file("resnet10t")
    assert found is None or Path(found).exists()


def test_unknown_backbone_is_a_clear_error(data):
    frames, truth = data
    with pytest.raises(mm.MMError, match="unknown timm backbone 'no_such_net'"):
        small(backbone="no_such_net").fit(frames, labelled(truth))
