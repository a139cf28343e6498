"""Run OpenAPI Generator (the PyPI ``openapi-generator-cli`` of the clients' venv) on a live
server's ``/openapi.json`` and judge its output: exit 0, no ``ERROR`` line, and every ``WARN``
line one of the few explained below (each a generator habit that no spec shape removes, with the
reason); anything else fails the run.

    python generate.py GENERATOR OUT_DIR [extra generator arguments...]

``$DATASET_API_URL`` names the server. The generator's whole output goes to ``OUT_DIR.log``.
Exit 0: generated cleanly; 1: the generator failed, logged an ERROR or an unexplained warning
(each printed, with the count); 2: bad invocation.
Used by ``python/e2e.py`` and ``java/run.sh``; docs/clients-openapi-generator.md says more.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

# Warnings that come from the generator itself, whatever the document says (each reproduced on a
# one-schema spec, or tied to a documented generator behaviour): text after "WARN  <logger> - ".
EXPLAINED = {
    "python": {
        "Failed to get the schema name: null":
            "AbstractPythonCodegen.toDefaultValue passes the absent $ref of every property that has "
            "no $ref to ModelUtils.getSimpleRef; a spec of one object schema with one string "
            "property logs it too",
    },
    "java": {
        "Ignoring complex example on request body":
            "AbstractJavaCodegen.setParameterExampleValue leaves the request body examples of "
            "model-typed bodies out of the generated README/docs (the examples stay in the "
            "document for /ui); nothing in the generated code depends on them",
    },
}

# Warnings explained by a pattern: renames of wire names that are no identifiers in the language.
EXPLAINED_PATTERNS = {
    "php": [(re.compile(r"^include \(reserved word\) cannot be used as model name\. "
                        r"Renamed to ModelInclude$"),
             "the query parameter `include` (JSON:API's own name) is a PHP reserved word; the generator "
             "names its inline enum ModelInclude (a one-parameter spec reproduces it)")],
    "rust": [(re.compile(r"^\S+ cannot be used as a (model|enum variant|enum|field/variable|parameter) "
                         r"name\. Renamed to \S+$"),
              "JSON:API wire names (`type`, `filter[x]`, media types such as application/vnd.api+json, "
              "`dataset:x` enum values, numeric error codes) are no Rust identifiers: the generator renames "
              "them, and the wire names stay in the serde attributes")],
}

LINE = re.compile(r"^\[[^\]]*\]\s+(WARN|ERROR)\s+(\S+)\s+-\s+(.*)$")
EXCEPTION = re.compile(r"^(Exception in thread|Exception:|[\w.$]+(Exception|Error)(:|$))")


def generator_cli():
    """The openapi-generator-cli next to this Python (the clients' venv), or on PATH."""
    here = Path(sys.executable).parent / "openapi-generator-cli"
    found = here if here.is_file() else shutil.which("openapi-generator-cli")
    if not found:
        raise SystemExit("openapi-generator-cli not found: install clients/openapi-generator/"
                         "requirements.txt into the venv running this script "
                         "(see docs/clients-openapi-generator.md)")
    return str(found)


def judge(generator, returncode, output):
    """The problems in the generator's ``output``: a list of lines, empty when it generated cleanly."""
    explained = dict(EXPLAINED.get(generator, {}))
    problems, seen = [], Counter()
    for line in output.splitlines():
        match = LINE.match(line.strip())
        if match:
            level, _logger, message = match.groups()
            seen[(level, message)] += 1
        elif EXCEPTION.match(line.strip()):
            seen[("EXCEPTION", line.strip())] += 1
    by_pattern = Counter()
    for (level, message), count in sorted(seen.items()):
        why = explained.get(message) if level == "WARN" else None
        pattern = next((p for p, _ in EXPLAINED_PATTERNS.get(generator, []) if p.match(message)), None)
        if why:
            print(f"  explained warning (x{count}): {message}\n    why: {why}", flush=True)
        elif level == "WARN" and pattern is not None:
            by_pattern[pattern] += count
        else:
            problems.append(f"  {level} (x{count}): {message}")
    for pattern, why in EXPLAINED_PATTERNS.get(generator, []):
        if by_pattern[pattern]:
            print(f"  explained warnings (x{by_pattern[pattern]}) matching {pattern.pattern}\n    why: {why}",
                  flush=True)
    if returncode != 0:
        problems.insert(0, f"  the generator exited {returncode}")
    return problems


def generate(generator, out_dir, extra=(), url=None):
    """Generate into ``out_dir`` (emptied first); return the problems (see ``judge``)."""
    url = (url or os.environ.get("DATASET_API_URL", "")).rstrip("/")
    if not url:
        raise SystemExit("set DATASET_API_URL (the live server the client is generated from)")
    out_dir = Path(out_dir).resolve()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    command = [generator_cli(), "generate", "-i", f"{url}/openapi.json", "-g", generator, "-o", str(out_dir),
               *extra]
    print("$ " + " ".join(command), flush=True)
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, timeout=900)
    output = proc.stdout + proc.stderr
    Path(f"{out_dir}.log").write_text(output)
    problems = judge(generator, proc.returncode, output)
    verdict = "FAILED" if problems else "clean"
    print(f"generated {generator} into {out_dir} in {time.monotonic() - started:.1f}s: {verdict} "
          f"(whole output in {out_dir}.log)", flush=True)
    return problems


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    generator, out_dir, *extra = argv
    problems = generate(generator, out_dir, extra)
    if problems:
        print(f"FAILED: {len(problems)} problem(s) in the generator's output:\n" + "\n".join(problems),
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
