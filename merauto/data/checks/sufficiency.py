"""Whether a dataset can be evaluated at all: at least two classes and three subjects among its usable clips."""

from __future__ import annotations

from collections import Counter

from merauto.data.checks import findings as kinds
from merauto.data.checks.findings import Finding
from merauto.data.sample_index import SampleIndex

MIN_SUBJECTS = 3  # leave-one-subject-out with a subject-disjoint inner validation: one test, one validation, one training


def sufficiency_findings(index: SampleIndex) -> list[Finding]:
    """Errors for a dataset whose clips cover fewer than two classes (UF1 would be 1.0 whatever the
    model) or fewer than :data:`MIN_SUBJECTS` subjects (no subject-independent evaluation)."""
    if not len(index):
        return []
    found = []
    labels = Counter(s.label for s in index)
    if len(labels) < 2:
        ((label, n),) = labels.items()
        found.append(
            Finding(
                index.name,
                "",
                kinds.TOO_FEW_CLASSES,
                f"all {n} usable clips are labelled {label!r}: with one class every prediction is right and UF1 means nothing",
                "add the clips of the other classes (check the label column)",
                error=True,
            )
        )
    subjects = sorted({s.subject for s in index})
    if len(subjects) < MIN_SUBJECTS:
        found.append(
            Finding(
                index.name,
                "",
                kinds.TOO_FEW_SUBJECTS,
                f"the usable clips come from {len(subjects)} subject(s) ({', '.join(map(repr, subjects))}); subject-independent "
                f"evaluation (LOSO with a subject-disjoint inner validation) needs at least {MIN_SUBJECTS}",
                "add the clips of more subjects (check the subject column)",
                error=True,
            )
        )
    return found
