"""A clip with a known ground truth for OCR cascades (issue 18): white boards with black printed
text moving across a photo, each entering the frame on one side and leaving on the other,
rendered to H.264 with PyAV (B-frames, as a camera sends it).

    truth = text_signs_clip(tmp_path / "signs.mp4", signs=("AB 123", "CX 4471"))
    for frame in truth.frames:          # one tuple per frame, a SignInFrame per sign on screen
        for sign in frame:
            sign.text, sign.text_box, sign.fully_visible

Sign i moves along its own row; odd signs go right to left. Each sign's crossing is spread
over `seconds`, the signs' crossings staggered by `stagger_s`.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tests.conftest import photo

__all__ = ["SignInFrame", "TextSignsClip", "sign_board", "text_signs_clip"]

_FONT = cv2.FONT_HERSHEY_DUPLEX
_SCALE = 2.0  # capitals about 40 px high
_THICKNESS = 3
_MARGIN = 18


@dataclass(frozen=True)
class SignInFrame:
    """One sign in one frame, boxes `(x0, y0, x1, y1)` in frame pixels clipped to the frame
    (exclusive ends). `text_box` is the printed text's own box (its ink), None while the board's
    edge alone is on screen."""

    text: str
    board_box: tuple[int, int, int, int]
    text_box: tuple[int, int, int, int] | None
    fully_visible: bool


@dataclass(frozen=True)
class TextSignsClip:
    path: Path
    fps: int
    size: tuple[int, int]
    frames: tuple[tuple[SignInFrame, ...], ...]


def sign_board(text: str) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The board image (BGR: white, thin grey frame, black text) and its text box in it."""
    (tw, th), baseline = cv2.getTextSize(text, _FONT, _SCALE, _THICKNESS)
    w, h = tw + 2 * _MARGIN, th + baseline + 2 * _MARGIN
    board = np.full((h, w, 3), 255, np.uint8)
    cv2.rectangle(board, (0, 0), (w - 1, h - 1), (120, 120, 120), 2)
    origin = (_MARGIN, _MARGIN + th)
    cv2.putText(board, text, origin, _FONT, _SCALE, (0, 0, 0), _THICKNESS, cv2.LINE_AA)
    ys, xs = np.nonzero(board[3:-3, 3:-3].min(axis=2) < 128)
    return board, (int(xs.min()) + 3, int(ys.min()) + 3, int(xs.max()) + 4, int(ys.max()) + 4)


def text_signs_clip(
    path: Path,
    *,
    signs: tuple[str, ...] = ("AB 123", "CX 4471"),
    size: tuple[int, int] = (640, 480),
    fps: int = 10,
    seconds: float = 4.0,
    stagger_s: float = 0.5,
    background: str = "coffee",
) -> TextSignsClip:
    """Render the clip to `path` and return what is where in each frame."""
    width, height = size
    boards = [sign_board(text) for text in signs]
    rows = np.linspace(0, height, len(signs) + 2)[1:-1]
    # one frame more than the crossings last, so the last frame shows none of the signs
    n_frames = round((seconds + stagger_s * (len(signs) - 1)) * fps) + 1
    scene = cv2.resize(photo(background), size, interpolation=cv2.INTER_AREA)
    truth: list[tuple[SignInFrame, ...]] = []
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"crf": "20", "g": "12", "bf": "2", "preset": "veryfast"}
        stream.time_base = Fraction(1, fps * 512)
        for i in range(n_frames):
            image = scene.copy()
            on_screen = []
            for k, (text, (board, text_box)) in enumerate(zip(signs, boards)):
                progress = (i / fps - k * stagger_s) / seconds
                x = _crossing_x(progress, width, board.shape[1], leftward=k % 2 == 1)
                y = int(rows[k]) - board.shape[0] // 2
                placed = _paste(image, board, x, y)
                if placed is not None:
                    on_screen.append(_truth(text, placed, text_box, x, y, board.shape[:2]))
            truth.append(tuple(on_screen))
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode())
    return TextSignsClip(path, fps, size, tuple(truth))


def _crossing_x(progress: float, width: int, board_w: int, *, leftward: bool) -> int:
    """The board's left edge: just off screen at progress 0, just off the other side at 1."""
    start, stop = -board_w, width
    if leftward:
        start, stop = stop, start
    return round(start + (stop - start) * min(max(progress, 0.0), 1.0))


def _paste(image: np.ndarray, board: np.ndarray, x: int, y: int) -> tuple[int, int, int, int] | None:
    """Draw `board` with its top-left at (x, y), clipped; its visible box, or None if off screen."""
    h, w = board.shape[:2]
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + w, image.shape[1]), min(y + h, image.shape[0])
    if x0 >= x1 or y0 >= y1:
        return None
    image[y0:y1, x0:x1] = board[y0 - y : y1 - y, x0 - x : x1 - x]
    return x0, y0, x1, y1


def _truth(
    text: str,
    placed: tuple[int, int, int, int],
    text_box: tuple[int, int, int, int],
    x: int,
    y: int,
    board_hw: tuple[int, ...],
) -> SignInFrame:
    bx0, by0, bx1, by1 = placed
    tx0, ty0, tx1, ty1 = text_box
    clipped = (max(tx0 + x, bx0), max(ty0 + y, by0), min(tx1 + x, bx1), min(ty1 + y, by1))
    inked = clipped if clipped[0] < clipped[2] and clipped[1] < clipped[3] else None
    full = (bx1 - bx0, by1 - by0) == (board_hw[1], board_hw[0])
    return SignInFrame(text, placed, inked, full)
