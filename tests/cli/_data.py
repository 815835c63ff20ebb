"""A small ratings file in the user's own ids (large, sparse raw ids; a header with custom names)."""
from pathlib import Path

import numpy as np


def write_ratings(path: Path, num_users: int = 40, num_items: int = 60, rows: int = 1500, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    pairs = rng.choice(num_users * num_items, size=rows, replace=False)  # no duplicate (user, item)
    users = 1000 + 7 * (pairs // num_items)
    items = 5 + 3 * (pairs % num_items)
    stars = rng.integers(1, 6, rows)
    lines = ["userId,movieId,stars"] + [f"{u},{i},{s}" for u, i, s in zip(users, items, stars)]
    path.write_text("\n".join(lines) + "\n")
    return path


FILE_FLAGS = ["--user-col", "userId", "--item-col", "movieId", "--rating-col", "stars", "--rating-threshold", "2"]
