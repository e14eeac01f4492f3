"""scripts/prepare_vsl_data.py: summary, failures file, exit codes, flags."""

import csv

import numpy as np

from whispersign_jax.data.prepare.cli import main


def mp_data_folder(root, glosses=("a", "b"), sequences=3):
    for gloss in glosses:
        for sequence in range(sequences):
            folder = root / gloss / str(sequence)
            folder.mkdir(parents=True)
            for frame in range(4):
                np.save(folder / f"{frame}.npy", np.full(126, 0.1 * (frame + 1)))
    return root


def test_writes_the_layout_and_a_failures_file(tmp_path, capsys):
    data = mp_data_folder(tmp_path / "MP_Data", sequences=5)
    np.save(data / "a" / "2" / "1.npy", np.full(126, np.nan))
    out = tmp_path / "out"
    argv = ["--source", "mp_data", "--data_dir", str(data), "--output_dir", str(out)]
    assert main([*argv, "--split_fractions", "0.6,0.2,0.2", "--mp_data_fps", "60"]) == 0
    printed = capsys.readouterr()
    assert "mp_data: 9 ok, 1 skipped (1 x" in printed.out
    assert "wrote train 5, val 2, test 2 samples of 2 glosses" in printed.out
    assert f"skipped {data / 'a' / '2'}: " in printed.err
    with open(out / "failures.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["origin", "reason"] and rows[1][0] == str(data / "a" / "2")
    assert "NaN or infinite values" in rows[1][1]
    assert np.load(out / "train/features/sample_00000.npy").shape == (4, 42, 7)  # 60 FPS kept
    assert main(argv) == 2  # the dataset is already there
    assert "already holds a processed dataset" in capsys.readouterr().err
    assert main([*argv, "--overwrite", "--seed", "1"]) == 0


def test_exit_codes_for_bad_settings_and_empty_data(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--source", "kaggle", "--data_dir", str(tmp_path), "--output_dir", out]) == 2
    assert "is not a Kaggle VSL folder" in capsys.readouterr().err
    empty = tmp_path / "MP_Data" / "a" / "0"
    empty.mkdir(parents=True)
    argv = ["--source", "mp_data", "--data_dir", str(tmp_path), "--output_dir", out]
    assert main(argv) == 1
    assert "no usable samples" in capsys.readouterr().err
