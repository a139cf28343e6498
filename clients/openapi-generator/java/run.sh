#!/usr/bin/env bash
# OpenAPI Generator `-g java --library native` against a live server, unpatched:
#   1. generate from "$DATASET_API_URL/openapi.json" into OUT/client (../generate.py judges the
#      generator's output: exit 0, no ERROR line, no unexplained warning);
#   2. compile every generated source and E2e.java with javac: Jackson (core, annotations,
#      databind, datatype-jsr310) comes whole from the jar of the PyPI openapi-generator-cli
#      (Debian 12 has no jsr310, and the jar's jsr310 needs its own databind); javax.annotation
#      from Debian (libjsr305-java: Nullable/Nonnull, libgeronimo-annotation-1.3-spec-java: Generated);
#   3. run E2e (the README's first session) on the JVM.
#   bash clients/openapi-generator/java/run.sh OUT [--no-generate]   (DATASET_API_URL, DATASET_API_TOKEN set)
# Generator problems are reported, then javac still runs (every problem of the document in one
# run); the session runs only after a clean generation. --no-generate reuses OUT/client.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT=${1:?usage: run.sh OUT_DIR [--no-generate]}
GENERATE=yes; [ "${2:-}" = --no-generate ] && GENERATE=no
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
VENV=${CLIENTS_VENV:-$HERE/../../../.venv-clients}
PY="$VENV/bin/python"
[ -x "$PY" ] || { echo "no Python venv at $VENV: see docs/clients-openapi-generator.md" >&2; exit 2; }
for jar in /usr/share/java/jsr305.jar /usr/share/java/geronimo-annotation-1.3-spec.jar; do
  [ -f "$jar" ] || { echo "missing $jar: apt-get install $(tr '\n' ' ' < "$HERE/../debian-packages.txt")" >&2; exit 2; }
done
command -v javac >/dev/null || { echo "no javac: apt-get install openjdk-17-jdk-headless" >&2; exit 2; }

generated=0
if [ $GENERATE = yes ]; then
  echo "== generate" >&2
  "$PY" "$HERE/../generate.py" java "$OUT/client" --library native \
    --additional-properties=openApiNullable=false,useSingleRequestParameter=true || generated=$?
  [ -d "$OUT/client/src/main/java" ] || exit 1
fi

echo "== Jackson from the openapi-generator-cli jar" >&2
JAR=$("$PY" -c 'import importlib.resources as r; print(r.files("openapi_generator_cli") / "openapi-generator.jar")')
rm -rf "$OUT/jackson" && mkdir -p "$OUT/jackson"
(cd "$OUT/jackson" && jar xf "$JAR" com/fasterxml/jackson/core com/fasterxml/jackson/annotation \
  com/fasterxml/jackson/databind com/fasterxml/jackson/datatype/jsr310 \
  META-INF/maven/com.fasterxml.jackson.core META-INF/maven/com.fasterxml.jackson.datatype/jackson-datatype-jsr310)
for artifact in core/jackson-core core/jackson-annotations core/jackson-databind datatype/jackson-datatype-jsr310; do
  echo "  $(basename $artifact) $(sed -n 's/^version=//p' "$OUT/jackson/META-INF/maven/com.fasterxml.jackson.${artifact%%/*}/${artifact#*/}/pom.properties")" >&2
done
CP="$OUT/jackson:/usr/share/java/jsr305.jar:/usr/share/java/geronimo-annotation-1.3-spec.jar"

echo "== javac" >&2
rm -rf "$OUT/classes" && mkdir -p "$OUT/classes"
find "$OUT/client/src/main/java" -name '*.java' > "$OUT/sources.txt"
ls "$HERE"/*.java >> "$OUT/sources.txt"
started=$(date +%s)
if ! javac -nowarn -encoding UTF-8 -d "$OUT/classes" -cp "$CP" @"$OUT/sources.txt" 2> "$OUT/javac.log"; then
  grep -E '^/.*: error: ' "$OUT/javac.log" | sed "s#^$OUT/client/src/main/java/##" >&2
  echo "FAILED: javac: $(grep -c ': error: ' "$OUT/javac.log") error(s) (whole output in $OUT/javac.log)" >&2
  exit 1
fi
echo "compiled $(wc -l < "$OUT/sources.txt") sources in $(( $(date +%s) - started )) s" >&2
[ $generated -eq 0 ] || { echo "FAILED: the generator's output has problems (above)" >&2; exit 1; }

echo "== the first session" >&2
exec java -cp "$OUT/classes:$CP" E2e
