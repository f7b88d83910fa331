#!/usr/bin/env bash
# Static checks of the deployment files, for .ci/run and developers:
#   - hadolint on deploy/image/Dockerfile;
#   - the image's binary built the way the Dockerfile builds it (static, trimmed),
#     from a copy of the build context filtered like Dockerfile.dockerignore, then run;
#   - cfn-lint and checkov on deploy/cloudformation/;
#   - kustomize build deploy/k8s, then checkov on the rendered manifests (and the Secret example).
# The tools live in a venv under ${XDG_CACHE_HOME:-$HOME/.cache}/sagewall/, built from
# deploy/lint-requirements.txt (exact pins) and rebuilt when that file changes.
# Nothing is downloaded at check time once the cache is warm; checkov runs offline.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$root/scripts/lib.sh"

cache=$(cache_dir)
venv=$cache/venv-lint-deploy
requirements=$root/deploy/lint-requirements.txt
go=${GO:-go}
command -v "$go" >/dev/null || go=/usr/local/go/bin/go

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

ensure_venv() {
	local want have=""
	want=$(sha256sum "$requirements" | cut -d' ' -f1)
	[ -f "$venv/.requirements.sha256" ] && have=$(cat "$venv/.requirements.sha256")
	if [ -x "$venv/bin/checkov" ] && [ "$want" = "$have" ]; then
		return
	fi
	python3 -m venv --help >/dev/null 2>&1 && python3 -c 'import ensurepip' 2>/dev/null || apt_install python3-venv
	log "creating $venv from ${requirements#"$root"/} (one-time, ~1 min)"
	rm -rf "$venv"
	python3 -m venv "$venv"
	"$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
	echo "$want" >"$venv/.requirements.sha256"
}

# kustomize_build renders deploy/k8s with kubectl's built-in kustomize, a kustomize
# on PATH, or one built once from the Go module proxy into the cache.
kustomize_build() {
	if command -v kubectl >/dev/null; then
		kubectl kustomize "$1"
		return
	fi
	if ! command -v kustomize >/dev/null && [ ! -x "$cache/bin/kustomize" ]; then
		log "building kustomize v5.5.0 into $cache/bin (one-time)"
		GOBIN=$cache/bin GOFLAGS= "$go" install sigs.k8s.io/kustomize/kustomize/v5@v5.5.0 >&2
	fi
	if command -v kustomize >/dev/null; then kustomize build "$1"; else "$cache/bin/kustomize" build "$1"; fi
}

ensure_venv
export PATH=$venv/bin:$PATH
# checkov: no platform calls, no update checks.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false
checkov_flags=(--compact --quiet --skip-download --output cli)

step() { log "== $*"; }

step "hadolint deploy/image/Dockerfile"
hadolint "$root/deploy/image/Dockerfile"

step "static binary, built like the image"
dockerfile=$root/deploy/image/Dockerfile
for want in 'CGO_ENABLED=0' '-trimpath' '-ldflags="-s -w"' 'gcr.io/distroless/static-debian12:nonroot' 'ENTRYPOINT ["/sagewall"]'; do
	grep -qF -- "$want" "$dockerfile" || die "Dockerfile no longer has $want; keep it and this script in step"
done
# The build context as Docker would send it: drop what the .dockerignore drops.
excludes=$work/excludes
sed -e 's/#.*//' -e 's/[[:space:]]*$//' -e '/^$/d' -e 's|^\*\*/||' "$root/deploy/image/Dockerfile.dockerignore" >"$excludes"
mkdir "$work/context"
tar -C "$root" --exclude-from="$excludes" -cf - . | tar -C "$work/context" -xf -
(cd "$work/context" && CGO_ENABLED=0 GOOS=linux "$go" build -trimpath -buildvcs=false -ldflags="-s -w" -o "$work/sagewall" ./cmd/sagewall)
desc=$(file -b "$work/sagewall" 2>/dev/null || true)
if [ -n "$desc" ]; then
	case $desc in *"statically linked"*) ;; *) die "binary is not static: $desc" ;; esac
elif readelf -l "$work/sagewall" | grep -q INTERP; then
	die "binary asks for a dynamic loader"
fi
"$go" version -m "$work/sagewall" | grep -q 'CGO_ENABLED=0' || die "binary built with cgo"
"$work/sagewall" --help >"$work/help" 2>&1 || die "sagewall --help failed: $(cat "$work/help")"
grep -q '^usage: sagewall' "$work/help" || die "unexpected --help output: $(cat "$work/help")"
"$work/sagewall" deploy -h >/dev/null 2>&1 || die "sagewall deploy -h failed"
log "ok: ${desc:-static ELF} ($(du -h "$work/sagewall" | cut -f1))"

step "cfn-lint deploy/cloudformation"
cfn-lint "$root"/deploy/cloudformation/*.yaml

step "checkov cloudformation"
checkov "${checkov_flags[@]}" --framework cloudformation -d "$root/deploy/cloudformation"

step "kustomize build deploy/k8s + checkov kubernetes"
kustomize_build "$root/deploy/k8s" >"$work/k8s.yaml"
cp "$root/deploy/k8s/secret-kafka.example.yaml" "$work/"
checkov "${checkov_flags[@]}" --framework kubernetes -f "$work/k8s.yaml" -f "$work/secret-kafka.example.yaml"

step "checkov secrets (no credentials committed under deploy/)"
checkov "${checkov_flags[@]}" --framework secrets -d "$root/deploy" --skip-path 'lint-requirements.txt'

log "all deploy checks passed in $(($(date +%s) - start)) s"
