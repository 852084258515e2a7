"""What a failed huggingface_hub call means for a person: one mapping for every caller.

The client raises its own classes for a gated, unknown or private repo, a missing revision or
file, and offline mode; its transport (httpx, requests) or the OS raise theirs when there is
no network. The converter, the pull, the GGUF download and the benchmarks' datasets all need
the same sentence for each; they differ only in the project exception they raise, so this
returns the sentence and whether the network is the cause. It lives in `quantize` (the lower
package) so that both packages can use it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HubFailure:
    """Why a Hub call failed (`cause`), what to do (`fix`), and whether it is the network."""

    cause: str
    fix: str
    offline: bool  # no network or offline mode: the same command works once online

    @property
    def message(self) -> str:
        return f"{self.cause}; {self.fix}"


def hub_errors() -> tuple[type[BaseException], ...]:
    """Every exception a Hub call or transfer raises: the client's, its transport's, OSError."""
    from huggingface_hub import errors as hf_errors

    errors: list[type[BaseException]] = [hf_errors.HfHubHTTPError, hf_errors.EntryNotFoundError,
                                         OSError]
    for module, name in (("httpx2", "TransportError"), ("httpx", "TransportError"),
                         ("requests", "RequestException")):
        try:
            errors.append(getattr(__import__(module), name))
        except (ImportError, AttributeError):
            continue
    return tuple(errors)


def explain(exc: BaseException, repo: str, *, revision: str | None = None,
            filename: str | None = None) -> HubFailure:
    """The person's version of `exc`, raised by a call about `repo` (and `filename`)."""
    from huggingface_hub import constants
    from huggingface_hub import errors as hf_errors

    what = f"{filename} from {repo}" if filename else repo
    online = "connect to the network and run the command again"
    if isinstance(exc, hf_errors.OfflineModeIsEnabled):
        return HubFailure(f"HF_HUB_OFFLINE is set, so {what} cannot be downloaded",
                          "unset it and run the command again when online", True)
    if isinstance(exc, hf_errors.GatedRepoError):
        return HubFailure(f"{repo} is gated",
                          "accept its license on the Hub and log in (`hf auth login`)", False)
    if isinstance(exc, hf_errors.RepositoryNotFoundError):
        return HubFailure(f"repository {repo!r} (revision {revision or 'main'}) was not found "
                          "on the Hub", "check the name, or log in if it is private", False)
    if isinstance(exc, hf_errors.RevisionNotFoundError):
        return HubFailure(f"revision {revision!r} of {repo} does not exist on the Hub",
                          "check the revision (a branch, tag or commit)", False)
    if isinstance(exc, hf_errors.LocalEntryNotFoundError):
        return HubFailure(f"{what} is not in the local cache and the Hub cannot be reached",
                          f"{online} (and unset HF_HUB_OFFLINE)", True)
    if isinstance(exc, hf_errors.EntryNotFoundError):
        return HubFailure(f"the Hub has no {filename or 'such file'} in {repo}",
                          "check the name, or update vibe-local", False)
    if isinstance(exc, hf_errors.HfHubHTTPError):  # the Hub answered, with an error
        return HubFailure(f"the Hugging Face Hub at {constants.ENDPOINT} refused {what} ({exc})",
                          "run the command again later", True)
    return HubFailure(f"cannot reach the Hugging Face Hub at {constants.ENDPOINT} "
                      f"({type(exc).__name__}: {exc})", online, True)
