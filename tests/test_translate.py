"""Prefilter translation: always a superset, on raw lines and on JSON-encoded ones."""

from __future__ import annotations

import json
import subprocess

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.match.translate import TranslateError, check_portable, ere, prefilter

NOISE = st.text(alphabet=st.sampled_from(list(
    "abcXYZ019 _-:./\\\"'{}[]()=,;\t\u00e3\u00e9\u00e7\u4e2d\U0001f600\u2014\u00a0#@")),
    max_size=12)


def compiled_prefilter(source: str) -> regex.Pattern[bytes]:
    return regex.compile(prefilter(source).encode("ascii") + rb"[^\n]*$", regex.MULTILINE)


def raw_forms(text: str) -> list[bytes]:
    return [
        text.encode("utf-8"),
        json.dumps({"message": text}).encode("ascii"),
        json.dumps({"message": text}, ensure_ascii=False).encode("utf-8"),
        json.dumps({"log": text + "\n", "stream": "stderr"}).encode("ascii"),
    ]


@pytest.fixture(scope="module")
def example_lines(shipped_patterns):  # type: ignore[no-untyped-def]
    lines = []
    for pattern in shipped_patterns:
        for example in pattern.examples_match + pattern.examples_no_match:
            lines.extend(line for line in example.split("\n") if line)
    return lines


def test_every_shipped_pattern_translates(shipped_patterns) -> None:  # type: ignore[no-untyped-def]
    for pattern in shipped_patterns:
        compiled_prefilter(pattern.source)


def test_superset_on_every_example_line(shipped_patterns, example_lines) -> None:  # type: ignore[no-untyped-def]
    for pattern in shipped_patterns:
        pre = compiled_prefilter(pattern.source)
        for line in example_lines:
            if pattern.regex.search(line):
                for raw in raw_forms(line):
                    assert pre.search(raw), (pattern.id, line, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), prefix=NOISE, suffix=NOISE)
def test_superset_on_mutated_lines(shipped_patterns, example_lines, data, prefix, suffix) -> None:  # type: ignore[no-untyped-def]
    line = data.draw(st.sampled_from(example_lines))
    position = data.draw(st.integers(min_value=0, max_value=len(line)))
    insert = data.draw(NOISE)
    text = prefix + line[:position] + insert + line[position:] + suffix
    for pattern in shipped_patterns:
        if pattern.regex.search(text):
            pre = compiled_prefilter(pattern.source)
            for raw in raw_forms(text):
                assert pre.search(raw), (pattern.id, text, raw)


@pytest.mark.parametrize(("source", "decoded"), [
    (r'relation "(?P<t>[^"]+)" does not exist', 'relation "orders" does not exist'),
    (r"\bpsycopg2\.errors\.DeadlockDetected\b", "Traceback:\npsycopg2.errors.DeadlockDetected"),
    (r"n\u00e3o encontrado", "arquivo n\u00e3o encontrado"),
    (r"(?i)lock\s+error", "LOCK\tERROR"),
    (r"\d{3} (?:Too Many|Slow)", "429 Too Many"),
    (r"a.b", "a\u00e9b"),
    (r"path \\tmp", "path \\tmp"),
    (r"(?<=x)y(?!z)", "xy"),
])
def test_json_escapes_are_tolerated(source: str, decoded: str) -> None:
    pre = compiled_prefilter(source)
    for line in decoded.split("\n"):
        if regex.search(source, line):
            for raw in raw_forms(line):
                assert pre.search(raw), raw


def test_prefilter_never_crosses_a_newline() -> None:
    pre = compiled_prefilter(r"foo[^x]*bar")
    assert pre.search(b"foo\nbar") is None
    assert pre.search(b"foo bar") is not None


@pytest.mark.parametrize(("source", "problem"), [
    (r"(?s)a.b", "(?s) is not allowed"),
    ("a\nb", "must not contain a newline"),
    (r"x?", "can match an empty line"),
    (r"(?P<a>", "unsupported regex syntax"),
])
def test_unportable_patterns_are_refused(source: str, problem: str) -> None:
    with pytest.raises(TranslateError, match=regex.escape(problem)):
        check_portable(source)


def test_ere_runs_the_same_signatures_in_grep(shipped_patterns, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The benchmark's grep baseline really runs our signatures: each pattern, as ERE,
    finds its own single-line examples."""
    for pattern in shipped_patterns:
        lines = [e for e in pattern.examples_match if "\n" not in e]
        if not lines:
            continue
        sample = tmp_path / "sample.log"
        sample.write_text("\n".join(lines) + "\n", encoding="utf-8")
        proc = subprocess.run(["grep", "-cE", ere(pattern.source), str(sample)],
                              capture_output=True, text=True, env={"LC_ALL": "C"}, check=False)
        assert proc.returncode in (0, 1), (pattern.id, proc.stderr)
        matched = sum(1 for line in lines if pattern.regex.search(line))
        assert int(proc.stdout) >= matched, (pattern.id, ere(pattern.source))


def test_required_factors_are_really_required(shipped_patterns, example_lines) -> None:  # type: ignore[no-untyped-def]
    """The regex fallback skips lines without a factor: that must never skip a match."""
    from detector.match.translate import required_factors

    for pattern in shipped_patterns:
        pre = compiled_prefilter(pattern.source)
        factors = required_factors(prefilter(pattern.source) + r"[^\n]*$")
        assert factors, pattern.id
        for line in example_lines:
            for raw in raw_forms(line):
                if pre.search(raw):
                    assert any(f in raw.lower() for f in factors), (pattern.id, raw, factors)
