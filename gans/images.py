"""What people look at: sample grids (PNG), the progress GIF, the loss plot, and metrics.csv."""
import csv
import os

import numpy as np
from PIL import Image


def to_uint8(images, value_range=(-1.0, 1.0)):
    """float images (N, 1, H, W) or (N, H, W) in value_range -> uint8 (N, H, W), clipped;
    colour images (N, 3, H, W) -> uint8 (N, H, W, 3)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 4:
        images = images[:, 0] if images.shape[1] == 1 else images.transpose(0, 2, 3, 1)
    low, high = value_range
    pixels = np.clip(np.rint((images - low) / (high - low) * 255.0), 0, 255)
    return np.nan_to_num(pixels, nan=0.0).astype(np.uint8)      # a NaN pixel (--nan-policy warn) is black


def grid(images, nrow=8, padding=2, value_range=(-1.0, 1.0)):
    """One uint8 picture (rows*(H+p)+p, nrow*(W+p)+p) tiling the images left to right, top to bottom
    (with a last axis of 3 for colour images)."""
    tiles = to_uint8(images, value_range)
    n, h, w = tiles.shape[:3]
    ncol = min(nrow, n)
    nrows = -(-n // ncol)
    canvas = np.full((nrows * (h + padding) + padding, ncol * (w + padding) + padding) + tiles.shape[3:], 255,
                     np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, ncol)
        top, left = padding + r * (h + padding), padding + c * (w + padding)
        canvas[top:top + h, left:left + w] = tile
    return canvas


def save_grid(images, path, nrow=8, scale=4, value_range=(-1.0, 1.0), caption=None):
    """Save a grid PNG, each pixel drawn as a scale x scale block so 28x28 images are easy to see."""
    picture = Image.fromarray(grid(images, nrow, value_range=value_range))
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    if caption:
        from PIL import ImageDraw
        framed = Image.new(picture.mode, (picture.width, picture.height + 16), "white")
        framed.paste(picture, (0, 16))
        ImageDraw.Draw(framed).text((4, 2), caption, fill=0)
        picture = framed
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    picture.save(path)
    return path


def save_gif(png_paths, path, duration_ms=400):
    """An animated GIF of the PNGs in order (the last frame held twice as long), looping forever."""
    frames = [Image.open(p) for p in png_paths]
    mode = "RGB" if any(f.mode == "RGB" for f in frames) else "L"          # grey grids stay grey
    frames = [f.convert(mode) for f in frames]
    if not frames:
        return None
    durations = [duration_ms] * (len(frames) - 1) + [2 * duration_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)
    return path


# ----------------------------------------------------------------------------- metrics.csv and the loss plot

class MetricsCSV:
    """metrics.csv: a header, then one row per training step, flushed as it is written.

    On resume from step s the rows after s (written after the last checkpoint, before a crash)
    are dropped first, so the file always tells the history of the run that is going on.
    """

    def __init__(self, path, fields, resume_step=None):
        self.path, self.fields = path, list(fields)
        rows = read_metrics(path) if resume_step is not None and os.path.exists(path) else []
        rows = [r for r in rows if int(r["step"]) <= (resume_step or 0)]
        self._file = open(path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self.fields)
        self._writer.writeheader()
        for row in rows:
            self._writer.writerow({k: row.get(k, "") for k in self.fields})
        self._file.flush()

    def write(self, row):
        self._writer.writerow({k: _format(row.get(k, "")) for k in self.fields})
        self._file.flush()

    def close(self):
        self._file.close()


def _format(value):
    return f"{value:.6g}" if isinstance(value, float) else value


def read_metrics(path):
    """The rows of a metrics.csv as dicts of strings."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_losses(csv_path, out_path, columns=("loss_d", "loss_g"), smooth=50):
    """losses.png: each loss per step (faint) and its running mean over `smooth` steps (bold)."""
    import matplotlib
    matplotlib.use("Agg")                     # draw to files only; no display needed
    import matplotlib.pyplot as plt

    rows = read_metrics(csv_path)
    if not rows:
        return None
    steps = np.array([int(r["step"]) for r in rows])
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    for name in columns:
        values = np.array([float(r[name]) for r in rows])
        line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
        k = max(1, min(smooth, len(values)))
        running = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], running, color=line.get_color(), linewidth=2, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("binary cross-entropy")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out_path)
    plt.close(fig)
    return out_path
