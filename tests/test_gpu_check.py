"""The GPU check's parts that need no GPU (benchmarks/gpu_check.py): the stand-ins of the gpu
profile's models, built with their real architectures (one layer each here), go through every
stage the notebooks make, and a PPO run stopped after its first checkpoint resumes."""
import json
import os
import subprocess
import sys

from rmens_utils import artifacts


def test_every_stage_of_the_gpu_profile_runs_on_stand_ins(tmp_path):
    script = artifacts.repo_root() / "benchmarks" / "gpu_check.py"
    env = {**os.environ, "RMENS_PRECISION": "fp32"}
    done = subprocess.run([sys.executable, str(script), "--device", "cpu", "--layers", "1",
                           "--precisions", "fp32", "--profiles", "gpu", "--out", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "gpu_check_cpu.json").read_text())
    assert result["passed"] and result["layers"] == 1
    stages = result["seconds"]["gpu fp32"]
    assert list(stages)[:7] == ["sft", "labels", "bon_samples", "rm_single", "rm_ensemble",
                                "rm_multihead", "ppo/eval_sft"]
    assert "stopped, resumed" in list(stages)[7]
    assert "resuming 'ppo/beta0/ensemble_min/seed0' from its checkpoint at step 1" in done.stdout
