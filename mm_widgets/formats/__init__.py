"""Label files other tools read and write, one module per format.

=================  ====================================  ===========================
name               writer / reader                       read by
=================  ====================================  ===========================
``"coco"``         :func:`to_coco` / :func:`from_coco`   pycocotools, torchvision
``"yolo"``         :func:`to_yolo` / :func:`from_yolo`   ultralytics
``"cvat"``         :func:`to_cvat` / :func:`from_cvat`   CVAT (video 1.1), datumaro
``"mot"``          :func:`to_mot` / :func:`from_mot`     MOT Challenge tools, datumaro
``"label-studio"`` :func:`to_label_studio`               Label Studio
=================  ====================================  ===========================

Instance masks (``LabelSet(..., "masks")``) go to COCO (polygons or RLE), YOLO
(segmentation lines) and CVAT (polygon tracks), and come back from each as the same pixels.

Boxes and masks convert themselves (:meth:`Box.to_coco`, :meth:`Mask.from_yolo`, ...); these
modules lay out the files. ``Project.export(name, path)`` writes any of them in one line. Nothing
here imports a third-party reader: those are only the tests' judges.
"""

from __future__ import annotations

from .coco import from_coco, to_coco
from .cvat import from_cvat, to_cvat
from .label_studio import label_config, to_label_studio
from .mot import from_mot, to_mot
from .yolo import from_yolo, to_yolo

#: Export names and what ``Project.export`` writes for each: ``(writer, wants images,
#: file name inside the export folder or None for the folder itself)``.
EXPORTS = {
    "coco": (to_coco, True, "annotations.json"),
    "yolo": (to_yolo, True, None),
    "cvat": (to_cvat, False, "annotations.xml"),
    "mot": (to_mot, False, None),
    "label-studio": (to_label_studio, True, "tasks.json"),
}
#: Import names: the reader of each format that can be read back.
IMPORTS = {"coco": from_coco, "yolo": from_yolo, "cvat": from_cvat, "mot": from_mot}

__all__ = ["EXPORTS", "IMPORTS", "from_coco", "from_cvat", "from_mot", "from_yolo", "label_config",
           "to_coco", "to_cvat", "to_label_studio", "to_mot", "to_yolo"]
