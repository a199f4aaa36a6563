import os

# Tests use the smallest profile unless a test asks for another one.
os.environ.setdefault("RMENS_PROFILE", "smoke")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
