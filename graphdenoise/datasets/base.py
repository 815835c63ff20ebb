r"""The :class:`~torch_geometric.data.InMemoryDataset` base shared by all graphdenoise loaders.

It owns what every loader needs around its own ``read_interactions()``: where the data lives
(:func:`default_root`), where raw files come from (download, or a local folder given by
``data_dir=`` / ``$GRAPHDENOISE_DATA``), sha256 checks of every raw file, the split options that
name the processed file, atomic writes, and a processed cache that never runs code: it holds
tensors and plain containers only, is read with ``weights_only=True`` (PyG's own reader falls back
to ``weights_only=False``; these overrides never do), and carries a sha256 sidecar checked before
every load, so a changed, truncated or empty cache is rebuilt from the checked raw files.
"""
from __future__ import annotations

import os
import os.path as osp
import re
import shutil
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Callable, ClassVar, Dict, List, Optional, Sequence, Tuple

from torch_geometric.data import HeteroData, InMemoryDataset, download_url

from graphdenoise.datasets.interactions import Interactions, build_heterodata
from graphdenoise.datasets.split import check_ratios
from graphdenoise.files import (CorruptFileError, atomic_copy, atomic_save, safe_torch_load, sha256_file,
                                verify_checksum, write_checksum)

DATA_ENV = "GRAPHDENOISE_DATA"
PROCESSED_VERSION = "v2"  # v2: a dict of plain containers with a sha256 sidecar (v1 pickled the data class)
PROCESSED_FORMAT = "graphdenoise-dataset-2"


def default_root(name: str) -> str:
    r"""Where dataset ``name`` is stored when no ``root`` is given.

    ``<checkout>/datasets/<name>`` when graphdenoise runs from a source checkout (the folder
    ``datasets/`` beside the ``graphdenoise`` package directory exists, and that directory holds a
    ``.git`` or ``pyproject.toml``, so an installed copy in ``site-packages`` never writes into an
    unrelated ``site-packages/datasets``), else ``~/.cache/graphdenoise/<name>``.
    """
    checkout = Path(__file__).resolve().parents[2]
    folder = checkout / "datasets"
    is_checkout = (checkout / ".git").exists() or (checkout / "pyproject.toml").exists()
    if is_checkout and folder.is_dir() and not (folder / "__init__.py").exists():
        return str(folder / name)
    return osp.join(osp.expanduser("~"), ".cache", "graphdenoise", name)


def resolve_data_dir(data_dir: Optional[str]) -> Tuple[Optional[str], str]:
    r"""``(folder, where it came from)``: the ``data_dir`` argument, else ``$GRAPHDENOISE_DATA``,
    else ``(None, "")`` (download). A folder that does not exist is a :class:`FileNotFoundError`
    naming where it came from, also when the dataset is already cached (a mistyped folder must
    never be silently ignored)."""
    if data_dir is not None:
        folder, origin = osp.expanduser(str(data_dir)), "data_dir"
    elif os.environ.get(DATA_ENV):
        folder, origin = osp.expanduser(os.environ[DATA_ENV]), f"${DATA_ENV}"
    else:
        return None, ""
    if not osp.isdir(folder):
        what = "is not a folder" if osp.exists(folder) else "does not exist"
        raise FileNotFoundError(f"the raw-data folder {folder!r} (from {origin}) {what}")
    return folder, origin


sha256sum = sha256_file


def check_sha256(path: str, expected: str, name: Optional[str] = None) -> None:
    r"""Raises a :class:`ValueError` naming the file and both hashes if ``path`` does not hash to
    ``expected``."""
    actual = sha256sum(path)
    if actual != expected.lower():
        raise ValueError(
            f"sha256 mismatch for raw file {name or osp.basename(path)!r} at {path!r}: expected "
            f"{expected.lower()}, got {actual}. The file is corrupt or not the expected version; "
            "delete it (or fix the data folder) and load again."
        )


def _repr(transform) -> str:
    r"""How ``processed/pre_transform.pt`` records a transform (PyG's convention: no memory addresses)."""
    return "None" if transform is None else re.sub(r"(<.*?)\s.*(>)", r"\1\2", str(transform))


def _format_number(value: float) -> str:
    return f"{value:g}"


class InteractionDataset(InMemoryDataset):
    r"""Base class of the implicit-feedback datasets: one
    :class:`~torch_geometric.data.HeteroData` in the layout of ``docs/data-schema.md``.

    Subclasses set the class attributes below and implement :meth:`read_interactions`.

    * ``name``: folder name, both under ``root`` and in a data folder;
    * ``raw_file_names``: the raw files (in ``root/raw``);
    * ``urls``: raw file name -> upstream URL; a URL ending in ``.zip`` is an archive from which
      the file of the same base name is extracted (several files may share one archive);
    * ``sha256``: raw file name -> expected sha256, checked for every raw file before it is read;
    * ``splits`` / ``default_split``: the accepted values of ``split``.

    Raw files already in ``root/raw`` are never fetched again. Otherwise, if ``data_dir`` (or the
    environment variable ``GRAPHDENOISE_DATA``) names a folder laid out like the shared data folder
    (one sub-folder per dataset: ``gowalla/``, ``amazon-cd/``, ``lastfm/``, ``ml-100k/``), the files
    are checked and copied from ``<data_dir>/<name>/`` and nothing is downloaded; else they are
    downloaded with :func:`torch_geometric.data.download_url`. A checksum mismatch is a
    :class:`ValueError` naming the file and both hashes, never a silent re-download.

    The processed file name encodes every option that changes the data (split, ratios, seed,
    ``min_interactions``, ``rating_threshold``, ...), so differently processed versions live side
    by side in ``root/processed``. Files written here are written to a temporary name and renamed.

    Args:
        root (str, optional): Root directory; :func:`default_root` if :obj:`None`.
            (default: :obj:`None`)
        split (str, optional): ``"ratio"`` (per-user random split) or ``"given"`` (the upstream
            split, where there is one); the dataset's ``default_split`` if :obj:`None`.
            (default: :obj:`None`)
        ratios (tuple of float, optional): ``(train, val, test)`` shares for ``split="ratio"``.
            (default: :obj:`(0.8, 0.1, 0.1)`)
        seed (int, optional): Seed of the random split. (default: :obj:`0`)
        min_interactions (int, optional): Iterative k-core filter: users and items with fewer
            interactions are removed until none is left (the TIL paper uses ``10``).
            (default: :obj:`None`)
        data_dir (str, optional): Local folder of raw files to use instead of downloading;
            ``$GRAPHDENOISE_DATA`` if :obj:`None`. (default: :obj:`None`)
        transform (callable, optional): Applied to the data object on every access.
            (default: :obj:`None`)
        pre_transform (callable, optional): Applied once before saving. (default: :obj:`None`)
        force_reload (bool, optional): Re-process even if a processed file exists.
            (default: :obj:`False`)
        log (bool, optional): Print progress while downloading/processing. (default: :obj:`True`)
    """

    name: ClassVar[str] = ""
    raw_file_names: ClassVar[Tuple[str, ...]] = ()
    urls: ClassVar[Dict[str, str]] = {}
    sha256: ClassVar[Dict[str, str]] = {}
    splits: ClassVar[Tuple[str, ...]] = ("ratio",)
    default_split: ClassVar[str] = "ratio"

    def __init__(
        self,
        root: Optional[str] = None,
        split: Optional[str] = None,
        ratios: Sequence[float] = (0.8, 0.1, 0.1),
        seed: int = 0,
        min_interactions: Optional[int] = None,
        data_dir: Optional[str] = None,
        transform: Optional[Callable] = None,
        pre_transform: Optional[Callable] = None,
        force_reload: bool = False,
        log: bool = True,
    ) -> None:
        split = self.default_split if split is None else split
        if split not in self.splits:
            raise ValueError(
                f"{type(self).__name__} supports split in {list(self.splits)}, got {split!r}"
            )
        if min_interactions is not None and (
            int(min_interactions) != min_interactions or min_interactions < 1
        ):
            raise ValueError(
                f"min_interactions must be a positive integer, got {min_interactions!r}"
            )
        self.split = split
        self.ratios = check_ratios(ratios)
        self.seed = int(seed)
        self.min_interactions = int(min_interactions) if min_interactions else None
        self.data_dir, self._data_dir_origin = (
            resolve_data_dir(data_dir) if self.raw_file_names else (None, "")  # synthetic: no files
        )
        super().__init__(
            root if root is not None else default_root(self.name),
            transform,
            pre_transform,
            log=log,
            force_reload=force_reload,
        )
        self.load(self.processed_paths[0], data_cls=HeteroData)

    # ------------------------------------------------------------------ naming
    def options(self) -> List[str]:
        r"""The parts of the processed file name; subclasses append their own options."""
        parts = [self.split]
        if self.split == "ratio":
            parts.append("ratios" + "-".join(_format_number(r) for r in self.ratios))
            parts.append(f"seed{self.seed}")
        if self.min_interactions:
            parts.append(f"core{self.min_interactions}")
        return parts

    @property
    def processed_file_names(self) -> List[str]:
        return [f"data_{PROCESSED_VERSION}_{'_'.join(self.options())}.pt"]

    # ------------------------------------------------------------------ raw files
    def download(self) -> None:
        missing = [f for f in self.raw_file_names if not osp.exists(osp.join(self.raw_dir, f))]
        if not missing:
            return
        os.makedirs(self.raw_dir, exist_ok=True)
        if self.data_dir is not None:
            self._copy_from_data_dir(missing)
            return
        by_url: Dict[str, List[str]] = {}
        for file_name in missing:
            by_url.setdefault(self.urls[file_name], []).append(file_name)
        for url, file_names in by_url.items():
            self._download_and_check(url, file_names)

    def _copy_from_data_dir(self, file_names: Sequence[str]) -> None:
        folder = osp.join(self.data_dir, self.name)
        for file_name in file_names:
            source = osp.join(folder, file_name)
            if not osp.isfile(source):
                raise FileNotFoundError(
                    f"raw file {file_name!r} of {type(self).__name__} not found at {source!r} "
                    f"(data folder {self.data_dir!r} from {self._data_dir_origin}; it must hold "
                    f"one sub-folder per dataset, here {self.name!r})"
                )
            check_sha256(source, self.sha256[file_name], f"{self.name}/{file_name}")
            atomic_copy(source, osp.join(self.raw_dir, file_name))

    def _download_and_check(self, url: str, file_names: Sequence[str]) -> None:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=self.raw_dir) as staging:
            try:
                path = download_url(url, staging, log=self.log)
            except OSError as error:
                raise RuntimeError(
                    f"could not download {url} for {type(self).__name__}: {error}. Without "
                    f"internet access, point data_dir= or ${DATA_ENV} at a folder with the raw "
                    f"files ({self.name}/{', '.join(self.raw_file_names)})"
                ) from error
            if url.split("?")[0].endswith(".zip"):
                path_of = self._extract_members(path, file_names, staging)
            else:
                path_of = {file_names[0]: path}
            for file_name, staged in path_of.items():
                check_sha256(staged, self.sha256[file_name], f"{file_name} from {url}")
            for file_name, staged in path_of.items():
                os.replace(staged, osp.join(self.raw_dir, file_name))

    @staticmethod
    def _extract_members(archive: str, file_names: Sequence[str], folder: str) -> Dict[str, str]:
        r"""Extracts the members whose base names are ``file_names`` (flat, no path traversal)."""
        found: Dict[str, str] = {}
        with zipfile.ZipFile(archive) as zipped:
            members = {osp.basename(m): m for m in zipped.namelist() if not m.endswith("/")}
            for file_name in file_names:
                if file_name not in members:
                    raise ValueError(
                        f"archive {osp.basename(archive)!r} has no member {file_name!r} "
                        f"(members: {sorted(members)})"
                    )
                target = osp.join(folder, f"extracted-{file_name}")
                with zipped.open(members[file_name]) as source, open(target, "wb") as sink:
                    shutil.copyfileobj(source, sink)
                found[file_name] = target
        return found

    def check_raw_files(self) -> None:
        r"""Checks every raw file in ``root/raw`` against its sha256."""
        for file_name, path in zip(self.raw_file_names, self.raw_paths):
            check_sha256(path, self.sha256[file_name], file_name)

    # ------------------------------------------------------------------ processing
    def read_interactions(self) -> Interactions:
        r"""Reads the (checked) raw files into :class:`Interactions`, with split labels for
        ``split="given"``."""
        raise NotImplementedError

    def build_options(self) -> Dict:
        r"""Keyword arguments of :func:`~graphdenoise.datasets.interactions.build_heterodata`."""
        return dict(
            split=self.split,
            ratios=self.ratios,
            seed=self.seed,
            min_interactions=self.min_interactions,
        )

    def build(self) -> HeteroData:
        return build_heterodata(self.read_interactions(), **self.build_options())

    def process(self) -> None:
        self.check_raw_files()
        data = self.build()
        if self.pre_transform is not None:
            data = self.pre_transform(data)
        self.save([data], self.processed_paths[0])

    # ------------------------------------------------------------------ processed cache
    def _process(self) -> None:
        r"""PyG's :meth:`~torch_geometric.data.Dataset._process` with code-free reads and a checksummed
        cache: a processed file that is missing, changed, truncated or empty is rebuilt (with a warning
        unless it was simply missing)."""
        for name, value in (("pre_transform", self.pre_transform), ("pre_filter", self.pre_filter)):
            self._check_recorded_repr(name, value)
        path = self.processed_paths[0]
        problem = None if self.force_reload else verify_checksum(path)
        if problem is None and not self.force_reload:
            return
        if problem not in (None, "missing"):
            warnings.warn(f"processed cache {path} is not intact: {problem}; rebuilding it from the checksummed "
                          f"raw files", stacklevel=3)
        if self.log and "PYTEST_CURRENT_TEST" not in os.environ:
            print("Processing...", file=sys.stderr)
        os.makedirs(self.processed_dir, exist_ok=True)
        self.process()
        for name, value in (("pre_transform", self.pre_transform), ("pre_filter", self.pre_filter)):
            recorded = osp.join(self.processed_dir, f"{name}.pt")
            atomic_save(_repr(value), recorded)
            write_checksum(recorded)
        if self.log and "PYTEST_CURRENT_TEST" not in os.environ:
            print("Done!", file=sys.stderr)

    def _check_recorded_repr(self, name: str, value) -> None:
        r"""Warns, as PyG does, when ``processed/<name>.pt`` records another ``pre_transform`` /
        ``pre_filter``; reads it without running code (an unsafe file is an error naming it)."""
        path = osp.join(self.processed_dir, f"{name}.pt")
        if self.force_reload or not osp.exists(path) or verify_checksum(path) is not None:
            return  # absent or not intact: rewritten with the next processing
        if safe_torch_load(path, f"processed {name} record") != _repr(value):
            warnings.warn(f"The `{name}` argument differs from the one used in the pre-processed version of this "
                          f"dataset ({path}). Pass `force_reload=True` to process the data again.", stacklevel=3)

    @classmethod
    def save(cls, data_list, path: str) -> None:
        r"""Writes the collated ``data_list`` as tensors and plain containers (atomic), then its sha256 sidecar."""
        data, slices = cls.collate(data_list)
        atomic_save({"format": PROCESSED_FORMAT, "data": data.to_dict(), "slices": slices}, path)
        write_checksum(path)

    def load(self, path: str, data_cls=HeteroData) -> None:
        r"""Reads a file written by :meth:`save` with ``weights_only=True`` (never PyG's pickle fallback)."""
        out = safe_torch_load(path, "processed dataset")
        if not isinstance(out, dict) or out.get("format") != PROCESSED_FORMAT:
            raise CorruptFileError(f"processed dataset {path} is not in the format {PROCESSED_FORMAT!r}; delete it "
                                   f"or pass force_reload=True")
        self.data = data_cls.from_dict(out["data"])
        self.slices = out["slices"]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(self.options())})"
