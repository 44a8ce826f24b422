"""What reading a dataset found: errors that would break a search, and warnings that would not."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from merauto.data.sample_index import SampleIndex
from merauto.errors import MerautoError

# Kinds of finding, as `merauto datasets check` groups them.
NO_DATA = "dataset not found"
BAD_SHEET = "unusable coding sheet"
MISSING_ROW = "not in coding sheet"
MISSING_FOLDER = "missing folder"
MISSING_FILE = "missing file"
TOO_FEW_FRAMES = "too few frames"
DUPLICATE_FRAME = "duplicate frame number"
UNREADABLE_FRAME = "unreadable frame"
FRAME_SIZES = "frames differ in size"
BAD_RANGE = "onset not before offset"
BAD_LABEL = "unknown label"
SIMILAR_LABEL = "label looks misspelt"
LONE_CLASS = "class of one subject"
BAD_FPS = "unusable fps"
TOO_FEW_CLASSES = "too few classes"
TOO_FEW_SUBJECTS = "too few subjects"
DUPLICATE_SAMPLE = "duplicate sample"
CLIPPED_RANGE = "clipped range"
ESTIMATED_APEX = "estimated apex"
LABEL_MISMATCH = "label differs from coding"
OTHER_FOLDER_NAME = "folder under another name"
EXTRA_FILE = "unexpected file"

SHOWN_ERRORS = 8  # errors spelled out in the message of a refused dataset


@dataclass(frozen=True)
class Finding:
    """One thing a person should know about a dataset: what, where (the file) and how to fix it."""

    source: str
    sample: str  # sample id, or "" when the finding concerns the whole source
    kind: str
    message: str
    fix: str = ""
    error: bool = False  # True when a search on this dataset would break

    def line(self, with_fix: bool = True) -> str:
        """One readable line: sample, message and (unless ``with_fix`` is false) fix."""
        text = f"{self.sample}: {self.message}" if self.sample else f"{self.source}: {self.message}"
        return f"{text} (fix: {self.fix})" if self.fix and with_fix else text


@dataclass(frozen=True)
class LoadedDataset:
    """A dataset as read: its usable samples, what was found on the way, and where it came from.

    ``expected`` counts the samples each source should have (when its definition says so, as
    the composite's csv does); ``origins`` says where each source's files were read from.
    """

    index: SampleIndex
    findings: tuple[Finding, ...] = ()
    origins: dict[str, str] = field(default_factory=dict)
    expected: dict[str, int] = field(default_factory=dict)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.error]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if not f.error]

    def with_findings(self, more: Iterable[Finding]) -> LoadedDataset:
        """This dataset with ``more`` findings; samples with a new error leave the index."""
        more = tuple(more)
        broken = {f.sample for f in more if f.error}
        index = self.index.subset([i for i, s in enumerate(self.index) if s.id not in broken]) if broken else self.index
        return LoadedDataset(index, self.findings + more, self.origins, self.expected)

    def require(self) -> SampleIndex:
        """The index, or a :class:`MerautoError` naming every file that would break a search."""
        errors = self.errors
        if not errors:
            return self.index
        fixes = {f.fix for f in errors}
        lines = "\n".join(f"  - {f.line(with_fix=len(fixes) > 1)}" for f in errors[:SHOWN_ERRORS])
        more = f"\n  ... and {len(errors) - SHOWN_ERRORS} more" if len(errors) > SHOWN_ERRORS else ""
        fix = next(iter(fixes)) if len(fixes) == 1 else "fix each file named above (`merauto datasets check` lists every problem)"
        raise MerautoError(f"dataset {self.index.name}: {len(errors)} problem(s) would break a search:\n{lines}{more}", fix)
