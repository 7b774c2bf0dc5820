"""The face detector's weights: MTCNN's three networks as facenet-pytorch's wheel ships them (pickled state dicts),
converted once to a Hub model folder (config.json + safetensors + card). This is the only place they are unpickled,
with `torch.load(weights_only=True)`, which rebuilds tensors and refuses any other object.

    pip download --no-deps facenet-pytorch==2.6.0 -d /tmp/fp
    python -m train.convert_mtcnn --wheel /tmp/fp/facenet_pytorch-2.6.0-py3-none-any.whl --out weights/face-detector
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genmodels.facedetect import FaceDetector

from .card import METRICS_END, METRICS_START
from .config import command_line, parse

CARD = """\
---
license: mit
library_name: diffusers
tags: [face-detection, mtcnn]
---
# MTCNN face detector

The face finder of the Anime <-> Real and Faces tabs: MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment
using Multi-task Cascaded Convolutional Networks"), three small CNNs in a cascade (`genmodels.facedetect`).

- Weights: the P-, R- and O-Net state dicts shipped inside the `{wheel}` wheel (MIT licence, (c) 2019 Timothy Esler,
  `LICENSE` here), which ported them from David Sandberg's `facenet` (MIT), itself converted from the authors' Caffe
  models. sha256 of the wheel: `{digest}`.
- Converted to safetensors by `{command}`; the runtime never unpickles anything.
- Settings (config.json): smallest face {config.min_face} px in the searched copy, thresholds {thresholds} for P-, R-
  and O-Net, pyramid factor {config.pyramid_factor}.
- Measured on our held-out faces pasted into photos, and on face-free photos, by `python -m train.face_detection`
  (below, and in the README).

## Metrics
{start}
{end}
"""


@dataclass
class Config:
    """MTCNN weights from the facenet-pytorch wheel into a Hub model folder."""

    wheel: str = ""  # facenet_pytorch-*.whl (from `pip download --no-deps facenet-pytorch==2.6.0`)
    out: str = "weights/face-detector"  # output folder
    min_face: int = 20  # smallest face side searched for, in pixels of the searched copy
    thresholds: list[float] = field(default_factory=lambda: [0.6, 0.7, 0.95])  # P-, R-, O-Net face probability (O-Net: 0.95, not 0.7, for <= 1% false alarms)


def main(argv=None):
    config = parse(Config, argv)
    if not config.wheel:
        raise SystemExit("--wheel: the facenet-pytorch wheel file")
    detector = FaceDetector(min_face=config.min_face, thresholds=config.thresholds)
    with zipfile.ZipFile(config.wheel) as wheel:
        for net in ("pnet", "rnet", "onet"):
            state = torch.load(io.BytesIO(wheel.read(f"facenet_pytorch/data/{net}.pt")), weights_only=True)
            getattr(detector, net).load_state_dict(state)
        licence = wheel.read(next(n for n in wheel.namelist() if n.endswith("dist-info/LICENSE.md")))
    out = Path(config.out)
    detector.save_pretrained(out)
    (out / "LICENSE").write_bytes(licence)
    digest = hashlib.sha256(Path(config.wheel).read_bytes()).hexdigest()
    (out / "README.md").write_text(CARD.format(wheel=Path(config.wheel).name, digest=digest, config=detector.config,
                                               thresholds=", ".join(map(str, config.thresholds)),
                                               start=METRICS_START, end=METRICS_END,
                                               command=command_line(__spec__.name, argv)), encoding="utf-8")  # fmt: skip
    print(f"MTCNN weights -> {out}")


if __name__ == "__main__":
    main()
