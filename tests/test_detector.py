"""YoloMicroModel on tiny synthetic clips: 96x64 frames, 64 px input, 1-3 short epochs."""

from __future__ import annotations

import os
import socket
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from mm_widgets import Frames, LabelSet, MicroModel, NoLabelsError, NotFittedError
from mm_widgets.errors import MMError, UnknownClassError
from mm_widgets.labels import BOX_COLUMNS, Box
from mm_widgets.models.detector import (
    AUTO_BATCH,
    YoloMicroModel,
    auto_imgsz,
    input_size,
    is_class_row,
)

from .conftest import moving_square_frames

# Small and quick: 2 steps of 8 images per epoch at 64x32 pixels.
FAST = dict(imgsz=64, batch_size=8, steps_per_epoch=2, weights=None, progress=False)


@pytest.fixture(scope="module")
def clip():
    arrays, boxes = moving_square_frames(n=24)
    frames = Frames.from_arrays(arrays)
    labels = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    for i, x1, y1, x2, y2 in boxes:
        if i in (0, 8, 16, 23):
            labels.set_boxes(i, [Box(x1, y1, x2, y2, "square")])
    labels.set_boxes(4, [])  # a looked-at negative (the square is there, but that is fine)
    return frames, labels


@pytest.fixture(scope="module")
def fitted(clip):
    frames, labels = clip
    return YoloMicroModel(epochs=2, **FAST).fit(frames, labels)


def test_fit_sets_learned_attributes(fitted, clip):
    frames, labels = clip
    assert fitted.classes_ == ["square"]
    assert len(fitted.history_) == 2 and all(np.isfinite(fitted.history_))
    assert fitted.train_seconds_ > 0
    assert fitted.domain_ == labels.looked_at == [0, 4, 8, 16, 23]
    assert fitted.imgsz_ == 64 and fitted.input_size_ == (64, 32)
    assert "square" in repr(fitted)


def test_predict_columns_and_indices(fitted, clip):
    frames, _ = clip
    df = fitted.predict(frames, indices=[1, 2, 5], conf=0.0)
    assert list(df.columns) == [*BOX_COLUMNS, "track"]
    assert set(df["frame"]) <= {1, 2, 5} and len(df) > 0
    assert (df["source"] == "model").all() and (df["label"] == "square").all()
    assert df["frame"].dtype == np.int64 and df["score"].dtype == float
    w, h = frames.size
    assert (df.x1 >= 0).all() and (df.x2 <= w).all() and (df.y2 <= h).all()
    assert (df.x2 > df.x1).all() and (df.y2 > df.y1).all()
    # the default threshold keeps the column layout even when nothing passes
    empty = fitted.predict(frames, indices=[1], conf=1.0)
    assert list(empty.columns) == [*BOX_COLUMNS, "track"] and empty.empty


def test_predict_accepts_plain_arrays(fitted, clip):
    frames, _ = clip
    arrays = [frames[i] for i in range(3)]
    a = fitted.predict(arrays, conf=0.0)
    b = fitted.predict(frames, indices=[0, 1, 2], conf=0.0)
    pd.testing.assert_frame_equal(a, b)


def test_same_seed_same_predictions(clip, fitted):
    frames, labels = clip
    again = YoloMicroModel(epochs=2, **FAST).fit(frames, labels)
    assert again.history_ == fitted.history_
    pd.testing.assert_frame_equal(again.predict(frames, conf=0.0), fitted.predict(frames, conf=0.0))
    other = YoloMicroModel(epochs=1, seed=1, **FAST).fit(frames, labels)
    assert other.history_[0] != fitted.history_[0]


def test_save_load_round_trip(fitted, clip, tmp_path):
    frames, _ = clip
    path = fitted.save(tmp_path / "m.pt")
    loaded = MicroModel.load(path)
    assert isinstance(loaded, YoloMicroModel)
    assert loaded.classes_ == fitted.classes_ and loaded.history_ == fitted.history_
    assert loaded.domain_ == fitted.domain_ and loaded.input_size_ == fitted.input_size_
    pd.testing.assert_frame_equal(loaded.predict(frames, conf=0.0), fitted.predict(frames, conf=0.0))


def test_unfitted_predict_and_save_fail(clip, tmp_path):
    frames, _ = clip
    with pytest.raises(NotFittedError, match="not trained"):
        YoloMicroModel().predict(frames)
    with pytest.raises(NotFittedError):
        YoloMicroModel().save(tmp_path / "x.pt")


def test_zero_labels(clip):
    frames, _ = clip
    only_negatives = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    only_negatives.set_boxes(3, [])
    with pytest.raises(NoLabelsError, match="no boxes"):
        YoloMicroModel(**FAST).fit(frames, only_negatives)


def test_unknown_class(clip):
    frames, labels = clip
    bad = labels.copy()
    # a journal replay does not re-check classes: the model must
    bad.apply_frame_state({"frame": 2, "looked_at": True,
                           "boxes": [[1, 1, 9, 9, "cat", None, "human", 0]]}, notify=False)
    with pytest.raises(UnknownClassError, match="cat"):
        YoloMicroModel(**FAST).fit(frames, bad)


def test_class_labels_refused(clip):
    frames, _ = clip
    classes = LabelSet(["a", "b"], task="classes", n_frames=len(frames))
    classes.set_class(0, "a")
    with pytest.raises(MMError, match="frame classes"):
        YoloMicroModel(**FAST).fit(frames, classes)


def test_warm_start_keeps_weights_and_adds_class(fitted, clip):
    frames, labels = clip
    more = LabelSet(["square", "blob"], size=frames.size, n_frames=len(frames))
    for f in labels.looked_at:
        more.set_boxes(f, labels.boxes(f))
    more.set_boxes(10, [Box(2, 2, 20, 20, "blob")])
    warm = YoloMicroModel(warm_start=fitted, epochs=1, lr=0.0, **FAST).fit(frames, more)
    assert warm.started_from_ == "warm_start" and warm.round_ == 1
    assert warm.classes_ == ["square", "blob"]  # old class ids stay as they were
    assert warm.input_size_ == fitted.input_size_
    old, new = fitted.net_.state_dict(), warm.net_.state_dict()
    conv = [k for k in old if k.endswith("conv.weight") and old[k].shape == new[k].shape]
    assert conv and all(np.allclose(old[k], new[k]) for k in conv)  # lr=0: nothing moved
    # The new class got new head rows; the old class kept what it learned.
    rows = [k for k in old if is_class_row(k)]
    assert rows and all(new[k].shape[0] == 2 and np.allclose(new[k][:1], old[k]) for k in rows)
    assert set(warm.predict(frames, conf=0.0)["round"]) == {1}


def test_weights_auto_says_from_scratch_once_per_session_and_scratch_is_silent(
        clip, tmp_path, monkeypatch, capsys):
    from mm_widgets.models import progress

    monkeypatch.setattr(progress, "_SAID", set())  # a fresh session
    monkeypatch.setattr(progress, "_PENDING", [])
    frames, labels = clip
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))  # certainly no cached weights here
    settings = {**FAST, "weights": "auto"}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plain line, not a warning
        YoloMicroModel(epochs=1, **settings).fit(frames, labels)
        YoloMicroModel(epochs=1, **settings).fit(frames, labels)
        YoloMicroModel(epochs=1, **FAST).fit(frames, labels)
    captured = capsys.readouterr()
    assert captured.out.count("from scratch") == 1 and "from scratch" not in captured.err


def test_weights_from_own_checkpoint(fitted, clip, tmp_path):
    frames, labels = clip
    path = fitted.save(tmp_path / "m.pt")
    model = YoloMicroModel(epochs=1, **{**FAST, "weights": path}).fit(frames, labels)
    assert model.started_from_ == "file"
    with pytest.raises(MMError, match="not found"):
        YoloMicroModel(epochs=1, **{**FAST, "weights": tmp_path / "missing.pt"}).fit(frames, labels)


def test_weights_auto_uses_cached_pretrained_weights(clip, tmp_path, monkeypatch):
    import torch

    from mm_widgets.models.yolo_net import architecture, build_network

    frames, labels = clip
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    # An ultralytics-style checkpoint (a pickled DetectionModel, 80 classes) in our cache.
    net = build_network(architecture(80, 0.25))
    del net.args
    (tmp_path / "mm_widgets" / "weights").mkdir(parents=True)
    torch.save({"model": net}, tmp_path / "mm_widgets" / "weights" / "yolo11n.pt")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "from scratch" warning
        model = YoloMicroModel(epochs=1, lr=0.0, **{**FAST, "weights": "auto"}).fit(frames, labels)
    assert model.started_from_ == "pretrained" and model.cfg_["scales"]["n"][1] == 0.25
    first_conv = "model.0.conv.weight"  # lr=0: the pretrained weights are still there
    assert torch.equal(model.net_.state_dict()[first_conv], net.state_dict()[first_conv])


def test_ctrl_c_returns_best_model_so_far(clip):
    frames, labels = clip

    def interrupt(epoch, loss):
        if epoch == 1:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted after 1 epochs"):
        model = YoloMicroModel(epochs=3, on_epoch=interrupt, **FAST).fit(frames, labels)
    assert len(model.history_) == 1
    assert list(model.predict(frames, indices=[0], conf=0.0).columns) == [*BOX_COLUMNS, "track"]


def test_ctrl_c_inside_a_step(clip, monkeypatch):
    from mm_widgets.models import detector

    frames, labels = clip
    real_loss = detector.detection_loss
    calls = []

    def loss(net, batch):
        calls.append(1)
        if len(calls) == 3:  # in the middle of epoch 2
            raise KeyboardInterrupt
        return real_loss(net, batch)

    monkeypatch.setattr(detector, "detection_loss", loss)
    with pytest.warns(UserWarning, match="interrupted"):
        model = YoloMicroModel(epochs=3, **FAST).fit(frames, labels)
    assert len(model.history_) == 1 and model.is_fitted


def test_offline_no_network_no_stall_no_files(clip, tmp_path, monkeypatch, capsys):
    frames, labels = clip
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network use in a test")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse, raising=False)
    monkeypatch.chdir(tmp_path)
    started = time.perf_counter()
    model = YoloMicroModel(epochs=1, **FAST).fit(frames, labels)
    model.predict(frames)
    seconds = time.perf_counter() - started
    assert attempts == []
    # A network timeout (fonts, hub, update checks) would show as a multi-second stall.
    assert seconds < 15, f"tiny fit + predict took {seconds:.1f} s"
    assert os.listdir(tmp_path) == []  # nothing written into the working directory
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""  # no ultralytics console output
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert not os.environ["YOLO_CONFIG_DIR"].startswith(str(tmp_path))


def test_progress_bar_in_a_script(clip, capsys):
    frames, labels = clip
    YoloMicroModel(epochs=2, **{**FAST, "progress": True}).fit(frames, labels)
    err = capsys.readouterr().err
    assert "overfit YOLO" in err and "2/2" in err
    assert "training on whole frames" in err and "epoch's pace" in err  # plan and estimate


def test_image_size_rules():
    assert input_size((1280, 720), 192) == (192, 96)
    assert input_size((720, 1280), 192) == (96, 192)
    assert input_size((96, 64), 64) == (64, 32)
    big = np.array([[0, 0, 400, 500]], float)
    small = np.array([[0, 0, 40, 50]], float)
    # the box's short side (400 px) keeps ~64 px at the input: 1280 * 64 / 400 -> 224
    assert auto_imgsz(big, (1280, 720)) == 224
    assert auto_imgsz(big, (1280, 720), min_side=40) == 128
    assert auto_imgsz(small, (1280, 720)) == 640
    assert auto_imgsz(small, (1280, 720)) % 32 == 0


def test_mirror_twins_are_averaged_and_lone_mirror_boxes_dropped():
    from mm_widgets.models.detector import fuse_boxes, mirror_boxes

    a = np.array([[10.0, 10, 50, 50, 0.9, 0], [100, 10, 120, 40, 0.5, 1]], dtype=np.float32)
    seen_mirrored = np.array([[200 - 54.0, 10, 200 - 12, 52, 0.9, 0],  # twin of a[0]
                              [200 - 120.0, 10, 200 - 100, 40, 0.5, 0],  # other class
                              [0.0, 0, 5, 5, 0.9, 0]], dtype=np.float32)  # only in the mirror
    b = mirror_boxes(seen_mirrored, 200.0)
    np.testing.assert_allclose(b[0, :4], [12.0, 10, 54, 52])
    fused = fuse_boxes(a, b, 0.5)
    assert len(fused) == 2
    np.testing.assert_allclose(fused[0, :4], [11.0, 10, 52, 51])
    np.testing.assert_allclose(fused[1], a[1])  # its mirror box had another class: kept as found


def test_frames_a_person_fixed_weigh_more_than_accepted_ones():
    table = pd.DataFrame({"frame": [0, 1, 2, 2], "source": ["human", "model", "model", "corrected"]})
    assert YoloMicroModel._frame_weights([0, 1, 2, 3], table) == [3.0, 1.0, 3.0, 1.0]
    first = pd.DataFrame({"frame": [0, 1], "source": ["human", "human"]})
    assert YoloMicroModel._frame_weights([0, 1, 2], first) is None  # frame 2: a negative


def test_batch_size_auto_and_given():
    assert YoloMicroModel()._batch_size() == AUTO_BATCH == 16
    assert YoloMicroModel(batch_size=4)._batch_size() == 4
    with pytest.raises(MMError, match="batch_size"):
        YoloMicroModel(batch_size=0)._batch_size()


def test_learns_the_square_on_frames_it_never_saw():
    """Held-out recall and precision, not just "some boxes came out": four labelled frames
    of the moving square, the rest of the clip judged against its exact truth (~13 s).

    Input 96 px, where the 16-px square keeps 16 px: at 64 px (11 px, under the smallest
    stride's comfort) the same run found every square with two torch threads and none with
    one, a coin toss on rounding; at 96 it finds them all with one or two threads and seeds
    0-1."""
    from mm_widgets.metrics import evaluate

    arrays, boxes = moving_square_frames(n=24)
    frames = Frames.from_arrays(arrays)
    truth = LabelSet(["square"], size=frames.size, n_frames=len(frames))
    for i, x1, y1, x2, y2 in boxes:
        truth.set_boxes(i, [Box(x1, y1, x2, y2, "square")])
    seen = [0, 8, 16, 23]
    rest = [f for f in range(len(frames)) if f not in seen]
    model = YoloMicroModel(epochs=30, imgsz=96, batch_size=8, steps_per_epoch=4, weights=None,
                           progress=False, seed=0).fit(frames, truth.subset(seen))
    q = evaluate(model.predict(frames, indices=rest), truth, rest)
    assert q["truth"] == len(rest)
    assert q["recall"] >= 0.9 and q["precision"] >= 0.9, q
    assert q["mean_iou"] >= 0.75, q
