r"""Dataset statistics in the style of the TIL paper's dataset table (Table 2 of `"Adapting Triplet
Importance of Implicit Feedback for Personalized Recommendation"
<https://arxiv.org/abs/2208.01709>`__: #User, #Item, #Interac(tions), Density)."""
from __future__ import annotations

from typing import IO, Any, Dict, Mapping, Optional, Union

import torch
from torch_geometric.data import HeteroData

from graphdenoise.datasets.graph import INTERACTS, NOISY_SPLITS, SPLITS, split_key


def describe(data: HeteroData, name: Optional[str] = None,
             file: Optional[IO[str]] = None) -> Dict[str, Any]:
    r"""Counts of a dataset in the shared layout; with ``file``, also writes them there as the
    table of :func:`format_stats` (column ``name``).

    Args:
        data (HeteroData): The dataset.
        name (str, optional): Column title when printing. (default: :obj:`None`)
        file (file-like, optional): Where to print the table; nothing is printed if :obj:`None`.
            (default: :obj:`None`)

    Returns:
        dict: ``users``, ``items``, ``interactions`` (train + val + test as stored, injected noise
        included), ``train``, ``val``, ``test``, ``density`` (interactions / (users * items), a
        fraction), and where present ``val_noisy`` / ``test_noisy`` (every held-out interaction of
        natural-noise data; ``interactions`` then counts the distinct pairs of all splits),
        ``noisy`` (``is_noise`` edges), ``flipped`` (true positives
        removed by :class:`~graphdenoise.datasets.noise.AddNoisyNegatives`) and
        ``duplicates_collapsed``.
    """
    store = data[INTERACTS]
    users, items = int(data["user"].num_nodes), int(data["item"].num_nodes)
    out: Dict[str, Any] = {"users": users, "items": items}
    counts = {}
    for split in SPLITS:
        key = split_key(split)
        counts[split] = int(store[key].size(1)) if key in store else 0
    total = sum(counts.values())
    noisy_splits = [split for split in NOISY_SPLITS if split_key(split) in store]
    if noisy_splits:
        edges = torch.cat([store[split_key(split)] for split in SPLITS + tuple(noisy_splits)], dim=1)
        total = int(torch.unique(edges[0] * items + edges[1]).numel())
        counts.update({split: int(store[split_key(split)].size(1)) for split in noisy_splits})
    out["interactions"] = total
    out.update(counts)
    out["density"] = total / (users * items) if users and items else 0.0
    if "is_noise" in store:
        out["noisy"] = int(store.is_noise.sum())
    if "flipped_edge_index" in store:
        out["flipped"] = int(store.flipped_edge_index.size(1))
    if "num_duplicates_collapsed" in data:
        out["duplicates_collapsed"] = int(data.num_duplicates_collapsed)
    if file is not None:
        print(format_stats({name or "dataset": out}), file=file)
    return out


def format_stats(datasets: Mapping[str, Union[HeteroData, Mapping[str, Any]]]) -> str:
    r"""A plain-text table with one column per dataset (``{name: data or describe(data)}``) and the
    rows of the TIL paper's table (#User, #Item, #Interactions, Density) plus the split sizes.

    Example::

        >>> print(format_stats({"Gowalla": data}))
                        Gowalla
        #User            29,858
        #Item            40,981
        #Interactions  1,027,370
        #Train          719,081
        #Valid           91,047
        #Test           217,242
        Density          0.084%
    """
    described = {
        name: describe(value) if isinstance(value, HeteroData) else dict(value)
        for name, value in datasets.items()
    }
    rows = [
        ("#User", "users"), ("#Item", "items"), ("#Interactions", "interactions"),
        ("#Train", "train"), ("#Valid", "val"), ("#Test", "test"),
    ]
    for label, key in (("#Valid+noisy", "val_noisy"), ("#Test+noisy", "test_noisy")):
        if any(key in d for d in described.values()):
            rows.append((label, key))
    if any("noisy" in d for d in described.values()):
        rows.append(("#Noisy", "noisy"))
    if any("flipped" in d for d in described.values()):
        rows.append(("#Flipped", "flipped"))
    table = [[""] + list(described)]
    for label, key in rows:
        table.append([label] + [f"{d[key]:,}" if key in d else "-" for d in described.values()])
    table.append(["Density"] + [f"{100 * d['density']:.3f}%" for d in described.values()])
    widths = [max(len(row[k]) for row in table) for k in range(len(table[0]))]
    lines = []
    for row in table:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def print_stats(datasets: Mapping[str, Union[HeteroData, Mapping[str, Any]]]) -> None:
    r"""Prints :func:`format_stats`."""
    print(format_stats(datasets))
