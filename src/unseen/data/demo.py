"""The bundled demo data set: a real sample of card transactions."""

from __future__ import annotations

from importlib import resources

import pandas as pd

DEMO_FILE = "creditcard_sample.csv"


def load_demo() -> pd.DataFrame:
    """Return the bundled card-transaction sample (see ``samples/SOURCE.md``)."""
    with resources.files("unseen.data").joinpath("samples", DEMO_FILE).open("rb") as handle:
        return pd.read_csv(handle)
