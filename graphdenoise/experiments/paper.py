r"""The TIL paper's Table 1 (Wu et al., "Adapting Triplet Importance of Implicit Feedback for
Personalized Recommendation", CIKM 2022, https://arxiv.org/abs/2208.01709), transcribed from the paper:
Recall@20 and NDCG@20 in percent.

Only Gowalla is the same data here (same totals as the paper's Table 2); this package's Amazon-CD and
Last.fm are other subsets, so for them only the relative improvement over BPR is comparable.
"""
from __future__ import annotations

from typing import Dict, Optional

#: Column order of the paper's Table 1.
PAPER_METHODS = ("bpr", "aobpr", "wbpr", "pris", "tce", "rce", "tce-bpr", "rce-bpr", "til-ui", "til-mi")

_ROWS = """
amazon-cd mf R 9.99 10.03 10.01 10.32 8.90 9.70 9.03 9.71 10.88 12.03
amazon-cd mf N 5.81 5.83 5.92 6.04 5.03 5.69 5.36 5.73 6.30 7.11
amazon-cd neumf R 11.03 11.08 11.05 11.93 10.64 10.05 11.77 11.42 11.85 13.33
amazon-cd neumf N 6.40 6.43 6.62 7.22 6.24 5.87 6.86 6.77 7.01 7.83
amazon-cd mgccf R 13.80 13.86 14.01 14.24 13.34 13.16 13.82 13.94 14.30 14.67
amazon-cd mgccf N 8.02 8.08 8.07 8.24 7.72 7.44 8.20 8.11 8.43 8.68
amazon-cd lightgcn R 13.40 13.44 13.52 13.77 12.94 12.86 13.52 13.45 13.92 14.21
amazon-cd lightgcn N 7.90 7.95 7.96 8.15 7.59 7.21 8.12 7.98 8.34 8.61
gowalla mf R 12.19 12.22 13.02 14.88 13.05 12.83 13.94 13.82 15.80 16.42
gowalla mf N 7.76 7.80 7.92 9.49 8.06 7.82 8.53 8.25 9.77 10.09
gowalla neumf R 13.55 13.59 14.35 15.83 13.62 13.15 14.80 14.76 16.89 17.32
gowalla neumf N 8.47 8.52 8.60 9.23 8.42 8.37 8.96 8.87 10.90 11.17
gowalla mgccf R 15.75 15.84 15.83 16.35 15.94 15.76 15.93 15.80 17.33 18.25
gowalla mgccf N 9.70 9.81 9.82 9.94 9.86 9.73 10.00 9.79 10.24 11.06
gowalla lightgcn R 17.73 17.75 17.78 18.03 17.82 17.72 17.99 17.82 18.01 18.61
gowalla lightgcn N 11.16 11.21 11.18 11.30 11.24 11.12 11.21 11.15 11.27 11.62
lastfm mf R 17.35 17.38 18.99 20.28 19.99 19.00 20.30 18.50 20.70 21.63
lastfm mf N 10.47 10.52 11.43 12.07 11.91 11.46 12.15 11.13 12.48 13.22
lastfm neumf R 19.17 19.18 20.80 21.15 19.21 18.96 21.50 21.46 22.86 23.15
lastfm neumf N 11.63 11.67 12.15 12.26 11.78 11.65 13.07 12.99 14.10 14.21
lastfm mgccf R 21.26 21.32 21.28 21.97 20.44 20.12 21.80 21.22 23.14 23.44
lastfm mgccf N 13.06 13.33 13.30 13.50 11.73 11.45 13.47 13.19 14.19 14.35
lastfm lightgcn R 23.31 23.33 23.35 23.92 22.36 22.05 23.82 23.30 24.14 24.85
lastfm lightgcn N 14.25 14.28 14.26 14.68 12.59 12.08 14.51 14.20 14.82 15.35
"""

#: ``TABLE1[dataset][backbone][metric][method]`` in percent; metric is ``recall@20`` or ``ndcg@20``.
TABLE1: Dict[str, Dict[str, Dict[str, Dict[str, float]]]] = {}
for _line in _ROWS.strip().splitlines():
    _dataset, _backbone, _metric, *_values = _line.split()
    _metric = "recall@20" if _metric == "R" else "ndcg@20"
    TABLE1.setdefault(_dataset, {}).setdefault(_backbone, {})[_metric] = dict(
        zip(PAPER_METHODS, map(float, _values)))

#: Datasets of this package that are the paper's own data (not only the same source).
SAME_DATA_AS_PAPER = ("gowalla",)


def paper_value(dataset: str, backbone: str, metric: str, method: str) -> Optional[float]:
    """The paper's Table 1 entry in percent, or None."""
    return TABLE1.get(dataset, {}).get(backbone, {}).get(metric, {}).get(method)
