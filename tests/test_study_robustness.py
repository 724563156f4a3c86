"""studies/robustness runs end to end on a tiny budget, writes its JSON and resumes from it."""

import json

from studies import robustness


def test_robustness_study_quick_runs_and_resumes(tmp_path, capsys):
    out = tmp_path / "robustness.json"
    argv = ["--quick", "--datasets", "digits", "--models", "classifier",
            "--methods", "none,pgd_online", "--out", str(out)]
    robustness.main(argv)
    results = json.loads(out.read_text())["results"]
    assert sorted(results) == ["digits/classifier/none/0", "digits/classifier/pgd_online/0"]
    rec = results["digits/classifier/pgd_online/0"]
    # equal optimiser steps: the callback adds rows to each batch, not batches
    assert rec["steps"] == results["digits/classifier/none/0"]["steps"]
    assert rec["adv_rows"] > 0
    assert len(rec["curve"]["accuracy"]) == len(robustness.EVAL_EPS)
    capsys.readouterr()
    robustness.main(argv)  # everything is there with the same settings: nothing reruns
    assert ": fit" not in capsys.readouterr().out
