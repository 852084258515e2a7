r"""`gsm8k`: the 1,319 grade-school math problems of GSM8K's test split (openai/gsm8k, "main").

The parquet file is fetched with huggingface_hub into its usual cache the first time, and read
from there afterwards, offline included. The reference is the number after `####` in the
dataset's answer. The prompt is the question followed by the instruction Qwen2.5-Math (the base
of VibeThinker-1.5B) was tuned with, asking for the final answer in `\boxed{}`.
"""

from __future__ import annotations

from pathlib import Path

from ...errors import CorruptDownloadError, DownloadError, InvalidRequestError, OfflineError
from .answers import NumberJudge, parse_number
from .base import TaskItem, first

REPO = "openai/gsm8k"
FILENAME = "main/test-00000-of-00001.parquet"
INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."


class Gsm8kTask(NumberJudge):
    """GSM8K test split, scored by exact match of the final number."""

    name = "gsm8k"

    def __init__(self) -> None:
        self._items: list[TaskItem] | None = None
        self.source = f"{REPO} ({FILENAME})"

    def items(self, limit: int | None = None) -> list[TaskItem]:
        """The test problems in dataset order.

        Raises:
            OfflineError: not cached, and the Hub is off (HF_HUB_OFFLINE) or unreachable.
            DownloadError: the Hub refused (repository or file not found).
            InvalidRequestError: pyarrow is not installed.
            CorruptDownloadError: the cached file is not GSM8K's parquet.
        """
        if self._items is None:
            _require_pyarrow()  # before the download, not after it
            path = fetch_test_split()
            self._items = read_items(path)
            self.source = f"{REPO}@{_commit_of(path)} ({FILENAME})"
        return first(self._items, limit)


def fetch_test_split() -> Path:
    """The test parquet: from the Hugging Face cache if it is there, else downloaded into it.

    Cache first, so a benchmark never waits on the network once the file is here and every run
    reads the same data; the commit it came from is part of the task's `source`.
    """
    from huggingface_hub import HfApi, constants, hf_hub_download, try_to_load_from_cache

    from quantize.hub_errors import explain, hub_errors

    cached = try_to_load_from_cache(REPO, FILENAME, repo_type="dataset")
    if isinstance(cached, str):
        return _checked(Path(cached))
    advice = ("run the benchmark once with a network connection; the file is kept in the "
              "Hugging Face cache and used offline after that")
    if constants.HF_HUB_OFFLINE:
        raise OfflineError(f"GSM8K's test set ({REPO}) is not in the Hugging Face cache and "
                           f"HF_HUB_OFFLINE is set; {advice}")
    try:  # one quick request first: the download itself retries for half a minute when offline
        HfApi().dataset_info(REPO, timeout=constants.HF_HUB_ETAG_TIMEOUT)
        path = Path(hf_hub_download(REPO, FILENAME, repo_type="dataset"))  # records refs/main
    except hub_errors() as exc:
        failure = explain(exc, REPO, filename=FILENAME)
        if failure.offline:
            raise OfflineError(f"cannot download GSM8K's test set: {failure.cause}; {advice}"
                               ) from None
        raise DownloadError(f"{failure.cause}; update vibe-local") from None
    return _checked(path)


def _checked(path: Path) -> Path:
    """`path`, unless it no longer matches the checksum the Hub sent with it (then it is removed
    from the cache). A copy not stored under its checksum is still read: the parquet and its
    answer lines are checked as they are read."""
    from quantize.hub import cached_copy_matches, evict

    if cached_copy_matches(path) is False:
        evict(path)
        raise CorruptDownloadError(f"GSM8K's test set in the Hugging Face cache ({path}) is "
                                   "corrupted (its checksum does not match the Hub's); it was "
                                   "removed, run again to download it afresh")
    return path


def _require_pyarrow() -> None:
    """pyarrow reads the parquet file; it comes with the `bench` extra.

    Raises:
        InvalidRequestError: pyarrow is not installed.
    """
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise InvalidRequestError("the gsm8k task reads parquet and needs pyarrow: "
                                  "pip install 'vibe-local[bench]'") from None


def read_items(path: Path) -> list[TaskItem]:
    """TaskItems from the parquet's `question` and `answer` columns."""
    _require_pyarrow()
    import pyarrow.parquet as pq

    try:
        rows = pq.read_table(path, columns=["question", "answer"]).to_pylist()
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds for a bad file
        raise CorruptDownloadError(f"{path} is not GSM8K's parquet ({type(exc).__name__}: "
                                   f"{exc}); delete it and run again to download it afresh"
                                   ) from None
    return [TaskItem(f"gsm8k/{i}", f"{row['question']}\n\n{INSTRUCTION}", _reference(row, path))
            for i, row in enumerate(rows)]


def _reference(row: dict, path: Path):
    """The number after `####` in the dataset's worked answer."""
    _, marker, final = (row.get("answer") or "").rpartition("####")
    value = parse_number(final) if marker else None
    if value is None:
        raise CorruptDownloadError(f"a GSM8K answer in {path} has no '#### N' line; delete the "
                                   "file and run again to download it afresh")
    return value


def _commit_of(path: Path) -> str:
    """The dataset commit the cached file came from (…/snapshots/<commit>/main/…)."""
    parts = path.parts
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "snapshots":
            return parts[i + 1][:12]
    return "unknown"
