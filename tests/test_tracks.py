"""Track ids: linked across frames, kept through a person's corrections, stored and reloaded,
absent (not invented) in tables and projects from before tracks."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import mm_widgets as mm
from mm_widgets.actions import ActionLog, diff_boxes
from mm_widgets.labels import BOX_COLUMNS, Box, LabelSet
from mm_widgets.project import write_snapshot
from mm_widgets.simulate import Oracle
from mm_widgets.temporal import smooth_predictions

P = Box(10, 10, 50, 50, "a", 0.8, "model", 7)
Q = Box(100, 100, 150, 160, "a", 0.6, "model", 8)


def test_a_corrected_box_keeps_its_track_and_a_drawn_one_has_none():
    boxes, actions = diff_boxes([P, Q], [P, Box(104, 100, 150, 160, "a"), Box(300, 10, 340, 50, "a")])
    assert [a for a, _ in actions] == ["adjust", "draw"]
    assert [(b.source, b.track) for b in boxes] == [("model", 7), ("corrected", 8), ("human", None)]
    # dragged clear of where it was, still the same object
    boxes, _ = diff_boxes([P], [Box(500, 500, 540, 540, "a")])
    assert boxes[0].track == 7


@pytest.mark.parametrize("new, why", [
    ([Box(10, 10, 30, 50, "a"), Box(30, 10, 50, 50, "a")], "split: one box became two"),
    ([Box(10, 10, 150, 160, "a")], "merge: two boxes became one"),
    ([Box(10, 10, 50, 50, "b")], "another class is another object"),
])
def test_a_split_merge_or_relabel_is_a_new_object(new, why):
    old = [P, Q] if "merge" in why else [P]
    boxes, actions = diff_boxes(old, new)
    assert all(b.track is None for b in boxes), why
    assert "adjust" in [a for a, _ in actions]  # counted as before: tracks change no count


def test_linking_gives_untracked_boxes_ids_after_the_existing_ones():
    ls = LabelSet(["a", "b"], size=(200, 100))
    for f in range(5):  # one object moving right, unlinked
        ls.add_box(f, Box(10 + 4 * f, 10, 30 + 4 * f, 30, "a"))
    ls.add_box(2, Box(150, 50, 170, 70, "b"))  # another, alone
    ls.add_box(4, Box(100, 60, 120, 80, "a", None, "human", 3))  # already tracked
    assert ls.next_track == 4 and ls.df["track"].isna().sum() == 6
    tracked = ls.tracked()
    ids = {f: [b.track for b in tracked.boxes(f)] for f in range(5)}
    assert len({ids[f][0] for f in range(5)}) == 1 and ids[0][0] >= 4  # one track, a new id
    assert ids[4][1] == 3 and ids[2][1] not in (3, ids[0][0])
    assert ls.df["track"].isna().sum() == 6  # the original is left as it was
    assert tracked.tracked().equals(tracked)  # nothing left to link


def test_predicted_tracks_are_moved_past_the_labels_ids():
    ls = LabelSet(["a"])
    ls.add_box(0, Box(0, 0, 5, 5, "a", None, "human", 4))
    table = pd.DataFrame([(1, 0.0, 0.0, 5.0, 5.0, "a", 0.9, "model", 1, 0),
                          (2, 0.0, 0.0, 5.0, 5.0, "a", 0.9, "model", 1, 2)],
                         columns=[*BOX_COLUMNS, "track"])
    assert ls.fresh_tracks(table)["track"].tolist() == [5, 7]
    assert table["track"].tolist() == [0, 2]


def test_smoothed_predictions_carry_the_links_they_were_smoothed_along():
    rows = [(f, 10.0 + f, 10.0, 30.0 + f, 30.0, "a", 0.9, "model", 1) for f in range(6)]
    rows += [(f, 80.0, 50.0, 95.0, 70.0, "a", 0.8, "model", 1) for f in (1, 2, 3)]
    out = smooth_predictions(pd.DataFrame(rows, columns=BOX_COLUMNS), predicted=range(6))
    assert str(out["track"].dtype) == "Int64"
    assert out.groupby("track")["frame"].apply(list).tolist() == [[0, 1, 2, 3, 4, 5], [1, 2, 3]]


def test_the_oracle_keeps_the_track_of_predictions_it_accepts_or_adjusts():
    truth = LabelSet(["a"], size=(200, 200))
    truth.set_boxes(0, [Box(10, 10, 50, 50, "a"), Box(100, 100, 150, 150, "a"),
                        Box(160, 10, 190, 40, "a")])
    proposed = [Box(10, 10, 50, 50, "a", 0.9, "model", 1),      # right: accepted
                Box(112, 112, 150, 150, "a", 0.9, "model", 2)]  # IoU 0.58: adjusted
    labels, log = LabelSet(["a"], size=(200, 200)), ActionLog()
    Oracle(truth).review(0, proposed, labels, log, round=1)
    assert sorted((b.source, b.track) for b in labels.boxes(0)) == [
        ("corrected", 2), ("human", None), ("model", 1)]


def test_tables_without_tracks_open_unchanged(tmp_path):
    (tmp_path / "old.csv").write_text("frame,x1,y1,x2,y2,label\n0,1,2,10,20,a\n3,1,2,10,20,a\n")
    ls = LabelSet.from_csv(tmp_path / "old.csv")
    assert len(ls) == 2 and ls.df["track"].isna().all()
    df = ls.tracked().df
    df.loc[1, "track"] = pd.NA
    df.to_csv(tmp_path / "new.csv", index=False)
    back = LabelSet.from_csv(tmp_path / "new.csv")  # an empty cell is "no track"
    assert back.df["track"].tolist()[0] == df["track"].tolist()[0] and back.df["track"].isna()[1]
    pytest.importorskip("pyarrow")
    ls.df.drop(columns="track").to_parquet(tmp_path / "old.parquet")
    assert LabelSet.from_df(pd.read_parquet(tmp_path / "old.parquet")).equals(ls)
    ls.tracked().df.to_parquet(tmp_path / "new.parquet")
    assert LabelSet.from_df(pd.read_parquet(tmp_path / "new.parquet")).equals(ls.tracked())


def test_a_project_keeps_tracks_and_opens_one_from_before_tracks(tmp_path):
    frames = mm.Frames.from_arrays([np.zeros((40, 60, 3), np.uint8)] * 4)
    p = mm.Project(tmp_path / "p", ["a"], frames=frames)
    p.labels.set_boxes(0, [Box(1, 1, 9, 9, "a", None, "human", 5), Box(20, 1, 29, 9, "a")])
    p.close()
    assert mm.Project(tmp_path / "p").labels.boxes(0)[0].track == 5  # from the journal
    q = mm.Project(tmp_path / "p")
    q.save()
    q.close()
    again = mm.Project(tmp_path / "p")  # from the snapshot
    assert [b.track for b in again.labels.boxes(0)] == [5, None]
    again.close()
    # files written before tracks: a snapshot without a track array, 8-field journal lines
    write_snapshot(tmp_path / "p" / "labels.npz", again.labels)
    with np.load(tmp_path / "p" / "labels.npz") as z:
        arrays = {k: z[k] for k in z.files if k != "track"}
    np.savez(tmp_path / "p" / "labels.npz", **arrays)
    line = {"frame": 2, "looked_at": True, "boxes": [[3, 3, 8, 8, "a", None, "human", 0]]}
    (tmp_path / "p" / "labels.journal").write_text(json.dumps(line) + "\n")
    old = mm.Project(tmp_path / "p")
    assert len(old.labels) == 3 and old.labels.df["track"].isna().all()
    old.close()


def test_blocks_predicted_apart_never_share_a_track_id():
    from mm_widgets.labels import link_tracks
    from mm_widgets.models.base import MicroModel
    from mm_widgets.predictions import Predictions

    class Linking(MicroModel):
        """One still box a frame, linked within each call, as the detector does."""

        kind = "linking-test"
        classes_ = ["a"]

        def predict(self, frames, indices=None):
            rows = [(i, 2.0, 2.0, 12.0, 12.0, "a", 0.9, "model", 1) for i in indices]
            table = pd.DataFrame(rows, columns=BOX_COLUMNS)
            return table.assign(track=pd.array(link_tracks(table), dtype="Int64"))

    frames = mm.Frames.from_arrays([np.zeros((16, 16, 3), np.uint8)] * 12)
    preds = Predictions(Linking(), frames, block=4, first_track=10)
    preds.predict_all()
    ids = {f: [b.track for b in preds.boxes(f)] for f in range(12)}
    assert [ids[f][0] for f in range(12)] == [10] * 4 + [11] * 4 + [12] * 4
