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


def dataset_files(root) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_a_refused_or_failed_prepare_leaves_the_dataset_untouched(tmp_path, capsys):
    data = mp_data_folder(tmp_path / "MP_Data")
    out = tmp_path / "out"
    argv = ["--source", "mp_data", "--data_dir", str(data), "--output_dir", str(out)]
    assert main(argv) == 0
    before = dataset_files(out)
    assert "failures.csv" in before
    bad = mp_data_folder(tmp_path / "bad", glosses=("c",), sequences=1)
    np.save(bad / "c" / "0" / "1.npy", np.full(126, np.nan))  # nothing usable in it
    bad_argv = ["--source", "mp_data", "--data_dir", str(bad), "--output_dir", str(out)]
    assert main(bad_argv) == 2  # refused: the dataset is there
    assert dataset_files(out) == before
    assert main([*bad_argv, "--overwrite"]) == 1  # failed: nothing usable to replace it with
    assert "is left as it was" in capsys.readouterr().err
    assert dataset_files(out) == before


def test_reserved_gloss_folders_are_skipped_with_the_fix(tmp_path, capsys):
    data = mp_data_folder(tmp_path / "MP_Data", glosses=("a", "<pad>", "b", "<blank>"))
    out = tmp_path / "out"
    argv = ["--source", "mp_data", "--data_dir", str(data), "--output_dir", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr()
    assert "mp_data: 6 ok, 6 skipped (3 x gloss '<blank>' is reserved" in printed.out
    assert "3 x gloss '<pad>' is reserved" in printed.out
    assert "rename its folder or label (e.g. 'pad')" in printed.err
    with open(out / "failures.csv", encoding="utf-8") as f:
        origins = [row[0] for row in list(csv.reader(f))[1:]]
    assert sorted(origins) == sorted(str(data / g / str(s)) for g in ("<pad>", "<blank>")
                                     for s in range(3))  # fmt: skip
    from whispersign_jax.vocab import Vocabulary

    assert Vocabulary.load(out / "label_map.json").glosses == ("a", "b")
