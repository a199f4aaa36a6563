# Sourced by run_study.sh and run_notebooks.sh: on the profiles whose runs are committed (cpu,
# pilot), compute as they were made — float32 with AVX2 kernels, on any x86 CPU — so that a
# notebook or a run made here scores what the committed build scored (docs/reproducing.md says
# what an AVX-512 CPU's own kernels built instead). Any of the three set beforehand wins.
if { [ "$RMENS_PROFILE" = cpu ] || [ "$RMENS_PROFILE" = pilot ]; } && [ "$(uname -m)" = x86_64 ]; then
  export RMENS_PRECISION="${RMENS_PRECISION:-fp32}" ATEN_CPU_CAPABILITY="${ATEN_CPU_CAPABILITY:-avx2}"
  export MKL_CBWR="${MKL_CBWR:-AVX2}"
fi
