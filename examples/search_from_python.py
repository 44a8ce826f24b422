"""merauto from Python, end to end on the tiny synthetic set: search, read the run's tables as pandas
DataFrames, export the selected pipeline and classify clips with it.

    python examples/search_from_python.py          # in a temporary folder, removed afterwards
    python examples/search_from_python.py FOLDER   # in FOLDER (FOLDER/run, FOLDER/cache), kept

Two trials (the first literature presets) of at most two epochs: about a minute on a laptop's CPU.
"""

from __future__ import annotations

import csv
import sys
import tempfile
from pathlib import Path

import pandas as pd

import merauto


def main(folder: Path) -> None:
    cache = folder / "cache"
    run = merauto.search(synthetic_size="tiny", budget=2, max_epochs=2, run_dir=folder / "run", cache_dir=cache)
    print(run)
    with pd.option_context("display.width", 200, "display.max_columns", 12, "display.precision", 3):
        print("\nestimates (pooled outer-test scores, 95% subject-bootstrap intervals):")
        print(run.estimates(resamples=200)[["estimate", "role", "uf1", "uf1_low", "uf1_high", "uar", "uar_low", "uar_high"]])
        print("\nleaderboard (selection reads inner_uf1 only):")
        print(run.leaderboard()[["trial", "preset", "inner_uf1", "outer_uf1", "n_params"]])

    export = run.export()
    print(f"\nexported the selected pipeline to {export}")
    pipeline = merauto.load_pipeline(export, cache_dir=cache)
    manifest = next((cache / "synthetic").glob("tiny-*/manifest.csv"))
    clips_csv = folder / "clips.csv"  # four of the generated clips with their labels, as merauto predict --clips-csv reads them
    with manifest.open() as source, clips_csv.open("w", newline="") as target:
        writer = csv.writer(target)
        writer.writerow(["folder", "onset", "apex", "offset", "label"])
        for row in list(csv.DictReader(source))[:4]:
            writer.writerow([manifest.parent / row["frames_dir"], row["onset"], row["apex"], row["offset"], row["label"]])
    predictions = pipeline.predict(clips_csv=clips_csv)
    with pd.option_context("display.width", 200, "display.max_colwidth", 40, "display.precision", 3):
        print(predictions.assign(clip=predictions["clip"].map(lambda c: Path(c).name)))
    scores = pipeline.score(predictions)
    print(f"{scores['n']} labelled clips: UF1 {scores['uf1']:.3f}, UAR {scores['uar']:.3f} (clips the pipeline trained on)")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(Path(sys.argv[1]))
    else:
        with tempfile.TemporaryDirectory() as temporary:
            main(Path(temporary))
