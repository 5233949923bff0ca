#!/usr/bin/env bash
# Make verl's own virtual environment (verl pins transformers below ours, so it never shares ours).
#
#   scripts/make_verl_env.sh DIR            # GPU machine: verl with vLLM and the torch it pins
#   scripts/make_verl_env.sh DIR --read-only  # any machine: enough to read an export with verl's own
#                                             # dataset and config classes (no vLLM, no GPU); torch is
#                                             # linked from the Python that runs this script ($PYTHON)
#
# verl is 0.9.1, the version training/engines/verl.py maps the recipe to. --read-only installs verl
# without its dependencies and then only what its config and dataset modules import: the full set pulls
# several GB of CUDA wheels (vLLM, a CUDA torch) that a CPU machine cannot use.
set -euo pipefail
DIR=${1:?usage: scripts/make_verl_env.sh DIR [--read-only]}
MODE=${2:-full}
VERL=verl==0.9.1
BASE=${BASE_PYTHON:-python3.11}

if [ -x "$DIR/bin/python" ] && [ -f "$DIR/.tulu-data-ready" ]; then
  echo "verl environment ready in $DIR"
  exit 0
fi
"$BASE" -m venv "$DIR"
PIP=("$DIR/bin/python" -m pip install -q)
if [ "$MODE" != "--read-only" ]; then
  "${PIP[@]}" "verl[vllm]==0.9.1"
else
  "${PIP[@]}" --no-deps "$VERL" "tensordict>=0.8,<=0.10.0,!=0.9.0" torchdata
  "${PIP[@]}" "transformers>=5.5.3,<5.11,!=5.6.0" hydra-core omegaconf pandas "pyarrow>=19" datasets \
    codetiming dill "numpy>=2" "ray>=2.41" "pyvers>=0.1,<0.2" pillow jinja2 cloudpickle orjson importlib_metadata
  # torch (and what it imports) from the calling environment, by links: no second multi-GB download.
  SITE=$("${PYTHON:-python}" -c "import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))")
  SHARED="$DIR/shared-torch"
  mkdir -p "$SHARED"
  for name in torch torchgen functorch sympy mpmath networkx typing_extensions.py; do
    [ -e "$SITE/$name" ] && ln -sfn "$SITE/$name" "$SHARED/$name"
  done
  for meta in "$SITE"/torch-*.dist-info "$SITE"/sympy-*.dist-info "$SITE"/mpmath-*.dist-info; do
    [ -e "$meta" ] && ln -sfn "$meta" "$SHARED/$(basename "$meta")"
  done
  PURELIB=$("$DIR/bin/python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$(cd "$SHARED" && pwd)" > "$PURELIB/zz_shared_torch.pth"
fi
"$DIR/bin/python" -c "import verl.utils.dataset.rl_dataset, verl.trainer.config, verl.workers.config, hydra; print('verl', __import__('verl').__version__)"
touch "$DIR/.tulu-data-ready"
