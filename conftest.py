"""What every pytest run of this repository shares, the unit tests' and the notebooks' alike:
the smallest profile, and throw-away runs/ and results/ folders, so that a test never writes
into the repository's own (the notebooks executed by nbmake inherit them through the
environment)."""
import atexit
import os
import shutil
import tempfile

os.environ.setdefault("RMENS_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
for variable, prefix in (("RMENS_RUNS", "rmens-test-runs-"),
                         ("RMENS_RESULTS", "rmens-test-results-")):
    os.environ[variable] = tempfile.mkdtemp(prefix=prefix)
    atexit.register(shutil.rmtree, os.environ[variable], ignore_errors=True)
