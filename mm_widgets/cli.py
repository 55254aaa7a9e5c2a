"""``mm-widgets demo``: the whole first-pass story, headless, on the bundled bunny clip.

Pick 5 diverse frames, take their boxes from the shipped ground truth (standing in for
a person), ``overfit()`` a micro-model, predict every frame, compare with the truth and
write a self-contained HTML report (plotly.js inline: it opens offline).
"""

from __future__ import annotations

import argparse
import base64
import html
import io
import sys
import time
from pathlib import Path

import numpy as np

STRIP_FRAMES = 8
PRED_COLOUR, TRUTH_COLOUR, LABELLED_COLOUR = "#e4572e", "#17bebb", "#ffc914"


def run_demo(out: str | Path, *, first_labels: int = 5, seed: int = 0, progress: bool = True) -> dict:
    """Run the demo and write the report to ``out``.

    Parameters
    ----------
    out
        Path of the HTML report to write.
    first_labels
        Number of frames "labelled" first (boxes taken from the ground truth).
    seed
        Seed for frame selection and training.
    progress
        Show a tqdm line while training.

    Returns
    -------
    dict
        The measured figures (recall, precision, mean IoU, seconds, ...) and the summary.
    """
    from .interpolate import interpolate
    from .metrics import evaluate
    from .overfit import overfit
    from .samples import load_sample, load_sample_truth
    from .select import select_frames

    frames = load_sample("bunny")
    truth = load_sample_truth("bunny")
    picks = select_frames(frames, first_labels, strategy="diverse", seed=seed)
    labels = truth.subset(picks)

    started = time.perf_counter()
    model = overfit(frames, labels, seed=seed, progress=progress)
    trained = time.perf_counter()
    predictions = model.predict(frames)
    predicted = time.perf_counter()

    unseen = [f for f in range(len(frames)) if f not in set(picks)]
    figures = evaluate(predictions, truth, range(len(frames)))
    figures_unseen = evaluate(predictions, truth, unseen)
    keyframes = evaluate(interpolate(frames, labels).predict(frames), truth, range(len(frames)))
    result = {
        "frames": len(frames), "labelled": picks, "train_seconds": trained - started,
        "predict_seconds": predicted - trained,
        "frames_per_second": len(frames) / max(predicted - trained, 1e-9),
        "recall": figures["recall"], "precision": figures["precision"],
        "mean_iou": figures["mean_iou"], "actions": figures["actions"],
        "recall_unseen": figures_unseen["recall"], "precision_unseen": figures_unseen["precision"],
        "interpolation": keyframes, "model": repr(model), "epochs": len(model.history_),
        "input_size": model.input_size_, "started_from": model.started_from_,
    }
    result["summary"] = summary(result)
    write_report(out, frames, truth, predictions, model, result)
    return result


def summary(r: dict) -> str:
    """One paragraph with the measured figures."""
    w, h = r["input_size"]
    return (
        f"Labelled {len(r['labelled'])} of {r['frames']} bunny frames (frames "
        f"{', '.join(map(str, r['labelled']))}, chosen for diversity; boxes from the shipped "
        f"ground truth). A YOLO micro-model ({r['started_from']} start, {w}x{h} input) trained for "
        f"{r['epochs']} epochs in {r['train_seconds']:.1f} s and labelled all {r['frames']} "
        f"frames in {r['predict_seconds']:.1f} s ({r['frames_per_second']:.0f} frames/s, "
        f"decoding included). Against the truth at IoU 0.5: recall {r['recall']:.3f}, "
        f"precision {r['precision']:.3f}, mean IoU {r['mean_iou']:.3f} (on the "
        f"{r['frames'] - len(r['labelled'])} frames it never saw: recall "
        f"{r['recall_unseen']:.3f}, precision {r['precision_unseen']:.3f}); a reviewer would "
        f"need {r['actions']} corrections. Keyframe interpolation from the same frames: recall "
        f"{r['interpolation']['recall']:.3f}, precision {r['interpolation']['precision']:.3f}, "
        f"mean IoU {r['interpolation']['mean_iou']:.3f}, {r['interpolation']['actions']} "
        f"corrections."
    )


def strip_figure(frames, truth, predictions, labelled, n: int = STRIP_FRAMES):
    """A plotly figure: ``n`` frames spread over the clip with true and predicted boxes."""
    import plotly.graph_objects as go
    from PIL import Image
    from plotly.subplots import make_subplots

    shown = sorted(set(np.linspace(0, len(frames) - 1, n).round().astype(int).tolist()))
    cols = 4
    rows = -(-len(shown) // cols)
    fig = make_subplots(rows=rows, cols=cols, horizontal_spacing=0.01, vertical_spacing=0.06,
                        subplot_titles=[f"frame {f}" + (" (labelled)" if f in labelled else "")
                                        for f in shown])
    max_side = 320
    for n_, f in enumerate(shown):
        r, c = n_ // cols + 1, n_ % cols + 1
        thumb = frames.thumbnail(f, max_side)
        scale = thumb.shape[1] / frames.size[0]
        buffer = io.BytesIO()
        Image.fromarray(thumb).save(buffer, format="JPEG", quality=80)
        uri = "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()
        fig.add_trace(go.Image(source=uri, hoverinfo="skip"), row=r, col=c)
        boxes = [(b.x1, b.y1, b.x2, b.y2, TRUTH_COLOUR, "dot") for b in truth.boxes(f)]
        for p in predictions[predictions["frame"] == f].itertuples():
            boxes.append((p.x1, p.y1, p.x2, p.y2, PRED_COLOUR, "solid"))
        for x1, y1, x2, y2, colour, dash in boxes:
            fig.add_shape(type="rect", x0=x1 * scale, y0=y1 * scale, x1=x2 * scale,
                          y1=y2 * scale, line=dict(color=colour, width=2, dash=dash),
                          row=r, col=c)
        fig.update_xaxes(visible=False, row=r, col=c)
        fig.update_yaxes(visible=False, row=r, col=c)
    fig.update_layout(title="Predicted (solid) and true (dotted) boxes", height=230 * rows,
                      margin=dict(l=10, r=10, t=70, b=10), template="plotly_white")
    return fig


def per_frame_figure(predictions, truth, labelled, n_frames: int):
    """Best IoU with the truth and top score on every frame; labelled frames marked."""
    import plotly.graph_objects as go

    from .labels import box_iou

    ious, scores = [], []
    for f in range(n_frames):
        p = predictions[predictions["frame"] == f]
        t = [b.xyxy for b in truth.boxes(f)]
        ious.append(float(box_iou(p[["x1", "y1", "x2", "y2"]].to_numpy(), t).max())
                    if len(p) and t else 0.0)
        scores.append(float(p["score"].max()) if len(p) else 0.0)
    fig = go.Figure([
        go.Scatter(x=list(range(n_frames)), y=ious, mode="lines", name="IoU with truth"),
        go.Scatter(x=list(range(n_frames)), y=scores, mode="lines", name="top score"),
        go.Scatter(x=list(labelled), y=[1.02] * len(labelled), mode="markers",
                   marker=dict(symbol="triangle-down", size=10, color=LABELLED_COLOUR),
                   name="labelled frames"),
    ])
    fig.add_hline(y=0.5, line=dict(color="grey", dash="dash"))
    fig.update_layout(title="Every frame: IoU of the best prediction with the truth",
                      xaxis_title="frame", yaxis_range=[0, 1.08], template="plotly_white",
                      height=320)
    return fig


def write_report(out, frames, truth, predictions, model, result: dict) -> Path:
    """Write the self-contained HTML report (plotly.js embedded once, no CDN)."""
    from .plots import loss_figure

    figs = [strip_figure(frames, truth, predictions, result["labelled"]),
            loss_figure(model.history_, "Training loss per epoch"),
            per_frame_figure(predictions, truth, result["labelled"], result["frames"])]
    parts = [fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figs)]
    kf = result["interpolation"]
    rows = [
        ("seconds to train", f"{result['train_seconds']:.1f}", ""),
        ("seconds to predict all frames", f"{result['predict_seconds']:.1f}", ""),
        ("frames per second (decoding included)", f"{result['frames_per_second']:.0f}", ""),
        ("recall (IoU 0.5)", f"{result['recall']:.3f}", f"{kf['recall']:.3f}"),
        ("precision", f"{result['precision']:.3f}", f"{kf['precision']:.3f}"),
        ("mean IoU of matched boxes", f"{result['mean_iou']:.3f}", f"{kf['mean_iou']:.3f}"),
        ("corrections a reviewer would make", str(result["actions"]), str(kf["actions"])),
    ]
    table = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td>"
                    f"<td>{html.escape(c)}</td></tr>" for a, b, c in rows)
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>mm_widgets demo: a micro-model from five labels</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
td, th {{ border-bottom: 1px solid #ddd; padding: 4px 12px; text-align: left; }}
p.summary {{ line-height: 1.5; }}
</style></head><body>
<h1>A micro-model from five labelled frames</h1>
<p class="summary">{html.escape(result["summary"])}</p>
<table><tr><th>measured</th><th>micro-model</th><th>keyframe interpolation</th></tr>{table}</table>
<p>{html.escape(result["model"])}</p>
{"".join(parts)}
</body></html>
"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``mm-widgets`` command."""
    parser = argparse.ArgumentParser(prog="mm-widgets", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="label 5 bunny frames, overfit, predict, write a report")
    demo.add_argument("--out", default="mm_demo_report.html", help="HTML report to write")
    demo.add_argument("--first-labels", type=int, default=5, help="frames to label first (default 5)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--quiet", action="store_true", help="no progress line")
    args = parser.parse_args(argv)
    if args.command == "demo":
        result = run_demo(args.out, first_labels=args.first_labels, seed=args.seed, progress=not args.quiet)
        print(result["summary"])
        print(f"Report: {Path(args.out).resolve()}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
