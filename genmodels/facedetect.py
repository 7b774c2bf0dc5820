"""MTCNN (Zhang et al. 2016, "Joint Face Detection and Alignment using Multi-task Cascaded Convolutional Networks"):
three small CNNs in a cascade. P-Net slides over an image pyramid and proposes face boxes, R-Net rejects most of
them at 24x24, O-Net scores the rest at 48x48 and places five landmarks. Each stage refines the boxes with its
regression output, and non-maximum suppression merges overlapping ones.

The weights are those facenet-pytorch 2.6.0 ships in its wheel (MIT), converted once to safetensors by
`python -m train.convert_mtcnn`; nothing is unpickled here. The layer names follow that package so its state
dicts load unchanged.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.configuration_utils import register_to_config
from torch import nn

from .base import GenerativeModel

NORMALISE = (127.5, 0.0078125)  # pixels -> (pixel - 127.5) / 128, as the networks were trained


class PNet(nn.Module):
    """Proposal net, fully convolutional: each 12x12 window (stride 2) -> face probability and box offsets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.pool1 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1, self.conv4_2 = nn.Conv2d(32, 2, 1), nn.Conv2d(32, 4, 1)

    def forward(self, x):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), self.conv4_1(x).softmax(1)[:, 1]


class RNet(nn.Module):
    """Refinement net: a 24x24 crop -> face probability and box offsets."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1, self.dense5_2 = nn.Linear(128, 2), nn.Linear(128, 4)

    def forward(self, x):
        x = self.pool(self.prelu1(self.conv1(x)))
        x = self.pool(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x)).permute(0, 3, 2, 1).flatten(1)  # the converted weights read (W, H, C) order
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.dense5_1(x).softmax(1)[:, 1]


class ONet(nn.Module):
    """Output net: a 48x48 crop -> face probability, box offsets and five landmarks (x1..x5, y1..y5 in the box)."""

    def __init__(self):
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.pool, self.pool3 = nn.MaxPool2d(3, 2, ceil_mode=True), nn.MaxPool2d(2, 2, ceil_mode=True)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1, self.dense6_2, self.dense6_3 = nn.Linear(256, 2), nn.Linear(256, 4), nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool(self.prelu1(self.conv1(x)))
        x = self.pool(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x)).permute(0, 3, 2, 1).flatten(1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.dense6_1(x).softmax(1)[:, 1]


def nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float, by_min: bool = False) -> torch.Tensor:
    """Indices of the boxes (x1, y1, x2, y2) kept by greedy non-maximum suppression, best first: a box goes when
    its overlap with a better kept one is above `threshold` (intersection over union, or over the smaller box)."""
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    order, keep = scores.argsort(descending=True), []
    while order.numel():
        best, rest = order[0], order[1:]
        keep.append(best)
        top_left = torch.maximum(boxes[best, :2], boxes[rest, :2])
        bottom_right = torch.minimum(boxes[best, 2:], boxes[rest, 2:])
        inter = (bottom_right - top_left + 1).clamp(min=0).prod(1)
        union = torch.minimum(area[best], area[rest]) if by_min else area[best] + area[rest] - inter
        order = rest[inter / union <= threshold]
    return torch.stack(keep) if keep else torch.zeros(0, dtype=torch.long)


def refine(boxes: torch.Tensor, offsets: torch.Tensor, plus_one: bool = True) -> torch.Tensor:
    """Boxes moved by a stage's regression output (offsets per box side, in box widths and heights)."""
    size = (boxes[:, 2:4] - boxes[:, :2] + (1 if plus_one else 0)).repeat(1, 2)
    return boxes[:, :4] + offsets * size


def squared(boxes: torch.Tensor) -> torch.Tensor:
    """Each box grown to the square of its longer side about the same centre (the next stage's input is square)."""
    size = (boxes[:, 2:4] - boxes[:, :2]).max(1, keepdim=True).values
    corner = (boxes[:, :2] + boxes[:, 2:4]) / 2 - size / 2
    return torch.cat([corner, corner + size], 1)


def crops(image: torch.Tensor, boxes: torch.Tensor, side: int) -> torch.Tensor:
    """The part of each box inside the image (1, 3, H, W), resized to side x side (area averaging)."""
    height, width = image.shape[2:]
    out = []
    for x1, y1, x2, y2 in boxes.trunc().int().tolist():
        x1, y1, x2, y2 = max(x1, 1) - 1, max(y1, 1) - 1, min(x2, width), min(y2, height)
        out.append(F.interpolate(image[:, :, y1:y2, x1:x2], size=(side, side), mode="area"))
    return torch.cat(out)


class FaceDetector(GenerativeModel):
    """MTCNN face detector. `detect(pixels)` -> boxes (x1, y1, x2, y2), scores and landmarks, best first."""

    @register_to_config
    def __init__(
        self,
        min_face: int = 20,  # smallest face side searched for, in pixels of the image given
        thresholds: list[float] = (0.6, 0.7, 0.7),  # least face probability kept after P-, R- and O-Net
        pyramid_factor: float = 0.709,  # scale step of P-Net's image pyramid (area halves every two steps)
    ):
        super().__init__()
        self.pnet, self.rnet, self.onet = PNet(), RNet(), ONet()

    @torch.no_grad()
    def detect(self, pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Faces in an (H, W, 3) uint8 RGB image: boxes (N, 4) as x1, y1, x2, y2 in its pixels, scores (N,) and
        landmarks (N, 5, 2) (eyes, nose, mouth corners), highest score first."""
        image = torch.tensor(np.asarray(pixels), dtype=torch.float32, device=self.device)
        image = ((image - NORMALISE[0]) * NORMALISE[1]).permute(2, 0, 1)[None]
        t1, t2, t3 = self.config.thresholds
        empty = np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2))

        boxes = self.propose(image, t1)
        if not len(boxes):
            return empty
        offsets, scores = self.rnet(crops(image, boxes, 24))
        keep = scores > t2
        boxes, scores, offsets = boxes[keep], scores[keep], offsets[keep]
        keep = nms(boxes, scores, 0.7)
        boxes = squared(refine(boxes[keep], offsets[keep]))
        if not len(boxes):
            return empty

        offsets, points, scores = self.onet(crops(image, boxes, 48))
        keep = scores > t3
        boxes, scores, offsets, points = boxes[keep], scores[keep], offsets[keep], points[keep]
        size = boxes[:, 2:4] - boxes[:, :2] + 1
        landmarks = torch.stack([points[:, :5], points[:, 5:]], 2) * size[:, None] + boxes[:, None, :2] - 1
        boxes = refine(boxes, offsets)
        keep = nms(boxes, scores, 0.7, by_min=True)
        return boxes[keep].cpu().numpy(), scores[keep].cpu().numpy(), landmarks[keep].cpu().numpy()

    def propose(self, image: torch.Tensor, threshold: float) -> torch.Tensor:
        """P-Net over the image pyramid: candidate boxes, squared, after per-scale and global suppression."""
        height, width = image.shape[2:]
        scale = 12 / self.config.min_face
        candidates = []
        while min(height, width) * scale >= 12:
            offsets, probs = self.pnet(F.interpolate(image, size=(int(height * scale + 1), int(width * scale + 1)), mode="area"))
            ys, xs = torch.nonzero(probs[0] >= threshold, as_tuple=True)
            if len(ys):
                cells = torch.stack([xs, ys], 1).float()
                boxes = torch.cat([((2 * cells + 1) / scale).floor(), ((2 * cells + 12) / scale).floor()], 1)
                found = torch.cat([boxes, probs[0, ys, xs, None], offsets[0, :, ys, xs].T], 1)
                candidates.append(found[nms(found[:, :4], found[:, 4], 0.5)])
            scale *= self.config.pyramid_factor
        if not candidates:
            return torch.zeros(0, 4)
        found = torch.cat(candidates)
        found = found[nms(found[:, :4], found[:, 4], 0.7)]
        return squared(refine(found[:, :4], found[:, 5:], plus_one=False))
