"""Reading tables: CSV with and without header, Parquet, frames, arrays, bad files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from unseen.data import read_table
from unseen.errors import DataError


def test_csv_header_inferred(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("amount,country\n12.5,NL\n3.0,DE\n")
    frame = read_table(path)
    assert list(frame.columns) == ["amount", "country"]
    assert len(frame) == 2


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_csv_delimiter_guessed(tmp_path, delimiter):
    path = tmp_path / "t.csv"
    lines = ["amount", "country", "12.5", "NL", "3.0", "DE"]
    path.write_text("\n".join(delimiter.join(lines[i : i + 2]) for i in (0, 2, 4)) + "\n")
    frame = read_table(path)
    assert list(frame.columns) == ["amount", "country"]
    assert frame["amount"].tolist() == [12.5, 3.0]


def test_csv_without_header(tmp_path, datasets_dir):
    frame = read_table(datasets_dir / "tabular" / "nsl_kdd" / "KDDTest+.txt")
    assert frame.shape == (22544, 43)
    assert frame.columns[0] == "x0"
    assert frame["x1"].iloc[0] in {"tcp", "udp", "icmp"}


def test_csv_header_forced_off(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,b\nc,d\n")
    assert len(read_table(path, header=False)) == 2
    assert len(read_table(path)) == 1


def test_parquet_round_trip(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    frame.to_parquet(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), frame)


def test_array_gets_column_names():
    frame = read_table(np.zeros((3, 2)))
    assert list(frame.columns) == ["x0", "x1"]


@pytest.mark.parametrize(
    ("content", "message"),
    [("", "is empty"), ("a,b,c\n", "header but no rows"), ("\n\n", "is empty")],
)
def test_empty_files_rejected(tmp_path, content, message):
    path = tmp_path / "t.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message):
        read_table(path)


def test_unknown_extension_rejected(tmp_path):
    path = tmp_path / "t.xlsx"
    path.write_text("x")
    with pytest.raises(DataError, match="cannot tell the format"):
        read_table(path)


def test_missing_file_rejected(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_table(tmp_path / "absent.csv")


def test_corrupt_parquet_rejected(tmp_path):
    path = tmp_path / "t.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(DataError, match="as Parquet"):
        read_table(path)


def test_duplicate_columns_rejected():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    with pytest.raises(DataError, match="duplicate column"):
        read_table(frame)


def test_duplicate_header_names_rejected(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("a,a,b\n1,2,3\n")
    with pytest.raises(DataError, match="names column\\(s\\) \\['a'\\] more than once"):
        read_table(path)
