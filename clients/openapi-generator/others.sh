#!/usr/bin/env bash
# OpenAPI Generator's other clients, generated from "$DATASET_API_URL/openapi.json" with default
# options and checked without a run (issue #21): the generator exits 0 with no ERROR line and no
# warning ../generate.py does not explain; then go: `go vet .` and `go build .` (Debian's golang,
# offline: GOPROXY=off); php: `php -l` on every file; ruby: `ruby -c` on every file; csharp,
# kotlin, rust, swift6: the generation alone (no compiler here).
#   bash clients/openapi-generator/others.sh OUT [go php ruby csharp kotlin rust swift6]
# Prints one verdict line per generator; exits 1 if any failed.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:?usage: others.sh OUT_DIR [generator...]}; shift
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
PY="${CLIENTS_VENV:-$HERE/../../.venv-clients}/bin/python"
GENERATORS=("$@"); [ ${#GENERATORS[@]} -gt 0 ] || GENERATORS=(go php ruby csharp kotlin rust swift6)
failed=()
for g in "${GENERATORS[@]}"; do
  dir="$OUT/$g"; verdict=ok
  "$PY" "$HERE/generate.py" "$g" "$dir" > "$OUT/$g.generate.txt" 2>&1 || verdict="generator output has problems (see $OUT/$g.generate.txt)"
  if [ -d "$dir" ]; then
    case $g in
      go) (cd "$dir" && GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local go vet . && GOPROXY=off GOFLAGS=-mod=mod GOTOOLCHAIN=local go build .) \
            > "$OUT/go.check.txt" 2>&1 || verdict="$verdict; go vet/build failed (see $OUT/go.check.txt)" ;;
      php) find "$dir" -name '*.php' -print0 | xargs -0 -n1 -P2 php -l 2>&1 | grep -v '^No syntax errors' > "$OUT/php.check.txt"
           [ -s "$OUT/php.check.txt" ] && verdict="$verdict; php -l: $(wc -l < "$OUT/php.check.txt") line(s) (see $OUT/php.check.txt)" ;;
      ruby) find "$dir" -name '*.rb' -print0 | xargs -0 -n1 -P2 ruby -c 2>&1 | grep -v '^Syntax OK' > "$OUT/ruby.check.txt"
            [ -s "$OUT/ruby.check.txt" ] && verdict="$verdict; ruby -c: $(wc -l < "$OUT/ruby.check.txt") line(s) (see $OUT/ruby.check.txt)" ;;
    esac
  fi
  verdict=${verdict#ok; }
  echo "$g: $verdict"
  [ "$verdict" = ok ] || failed+=("$g")
done
[ ${#failed[@]} -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
