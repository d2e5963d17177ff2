"""The template miner: masks, grouping, stability, memory bounds, snapshots and the
migration of templates saved before version 2, and its scores on Loghub-2k."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from detector.decode.prefix import strip_prefix
from detector.detect import templates
from detector.detect.templates import TemplateTree, mask

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import templates as bench


def test_mask_keeps_words_and_replaces_variables_inside_tokens() -> None:
    assert mask("user 4242 at 10.0.0.7:5432 failed 'token' /var/lib/x.db 0x7f1c2d id=9f8e7d6c "
                "c0a8012e-1b2c-4d5e-8f90-123456789abc https://api.x.io/a?b=1 bob@x.io") == [
        "user", "<NUM>", "at", "<IP>", "failed", "'token'", "<PATH>", "<HEX>", "id=<*>",
        "<UUID>", "<URL>", "<EMAIL>"]


def test_mask_does_not_garble_or_swallow() -> None:
    assert mask("job 30546173_4261722401 blk_-42 appattempt_1445_0020_000001") == [
        "job", "<NUM>", "blk_<NUM>", "appattempt_<NUM>"]
    # a quoted span keeps its words: GET and POST stay apart
    assert mask('10.0.0.1 "GET /v2/servers/detail HTTP/1.1" status: 200') == [
        "<IP>", '"GET', "<PATH>", 'HTTP/<NUM>"', "status:", "<NUM>"]
    assert mask("sha256 utf8 x86 Win32") == ["sha256", "utf8", "x86", "Win32"]


def test_mask_folds_dates_and_quantities() -> None:
    assert mask("connection at Sun Jul 10 03:55:21 2005 done") == [
        "connection", "at", "<TS>", "done"]
    assert mask("sent 1234 bytes (1.2 KB) in <1 sec") == ["sent", "<NUM>", "in", "<NUM>"]
    assert mask("sent 12 bytes in 3 ms") == mask("sent 99 bytes in 00:01")


def test_mask_reads_the_first_line_only_and_returns_a_fresh_list() -> None:
    first = mask("boom 1\n  File x.py")
    first.append("changed")
    assert mask("boom 1\n  File y.py") == ["boom", "<NUM>"]


def _cold() -> None:
    for name, cache in vars(templates).items():
        if name.endswith("_cache") and isinstance(cache, dict | set):
            cache.clear()


def test_lines_and_tokens_of_one_shape_keep_their_own_digits() -> None:
    _cold()
    lines = ["open x86 worker_7 on u0 took 12 ms", "open x87 worker_9 on u1 took 99 ms",
             "reg 0x1f at 1x1f", "reg 0x2e at 1x2e", "reg 1x1f at 0x1f", "id deadbeef01 ok",
             "id deadbeef02 ok", "id 1234567890 ok", "Receiving blk_-42 src /10.0.0.7:80",
             "Receiving blk_-97 src /10.2.0.9:44", "sent 1234 bytes (1.2 KB) at 12:01:02"]
    warm = [mask(line) for line in lines + lines]
    assert warm[1] == ["open", "x87", "worker_<NUM>", "on", "u1", "took", "<NUM>"]
    assert warm[2] == ["reg", "<HEX>", "at", "1x1f"] and warm[4] == ["reg", "1x1f", "at", "<HEX>"]
    assert warm[6] == ["id", "<HEX>", "ok"] and warm[7] == ["id", "<NUM>", "ok"]
    assert warm[8] == warm[9] == ["Receiving", "blk_<NUM>", "src", "/<IP>"]
    assert warm[10] == ["sent", "<NUM>", "at", "<TS>"]
    for line, tokens in zip(lines + lines, warm, strict=True):       # as if seen first
        _cold()
        assert mask(line) == tokens, line


def test_the_expression_runs_once_per_token_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    _cold()
    calls: list[str] = []
    spans = templates._spans
    monkeypatch.setattr(templates, "_spans", lambda token: calls.append(token) or spans(token))
    for n in range(200):
        mask(f"Receiving blk_-{n}{n} size {n * 7}B from 10.0.{n % 9}.1 user u{n}")
    assert len(calls) < 20


def test_a_unit_seen_alone_still_makes_a_quantity() -> None:
    _cold()
    assert mask("ms") == ["ms"] and mask("KB) lost") == ["KB)", "lost"]
    assert mask("took 12 ms; sent 3 bytes (1 KB) now") == ["took", "<NUM>;", "sent", "<NUM>",
                                                            "now"]


def match_all(messages: list[str]) -> tuple[TemplateTree, list[str]]:
    tree = TemplateTree(max_templates=100)
    ids = [tree.match(mask(m), float(n))[0].id for n, m in enumerate(messages)]
    return tree, ids


def test_a_word_that_differs_is_a_different_message() -> None:
    _, ids = match_all(["Unable to acquire lock on jobs", "Unable to release lock on jobs",
                        "Failed password for root from 1.2.3.4 port 22 ssh2",
                        "Accepted password for root from 1.2.3.4 port 22 ssh2"])
    assert len(set(ids)) == 4


def test_variables_merge_wherever_they_stand() -> None:
    tree, ids = match_all(["node-1.example.com:5070 open through proxy p.example.com:80 HTTPS",
                           "www.host.org:443 open through proxy p.example.com:80 HTTPS",
                           "session closed for user cyrus", "session closed for user news",
                           "worker_7 crashed with signal 9", "worker_12 crashed with signal 11"])
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[4] == ids[5]
    texts = {t.text for t in tree.templates()}
    assert "session closed for user <*>" in texts


def test_templates_keep_their_id_and_the_same_message_its_template() -> None:
    tree = TemplateTree(max_templates=100)
    first, new = tree.match(mask("cache stale for key a1b2: snapshot missing"), 1.0)
    assert new
    again, new = tree.match(mask("cache stale for key c3d4: snapshot missing"), 2.0)
    assert not new and again is first and first.text == "cache stale for key <*> snapshot missing"
    assert first.id == again.id and first.count == 2 and first.last_seen == 2.0
    same, new = tree.match(mask("cache stale for key a1b2: snapshot missing"), 3.0)
    assert same is first and not new


def test_a_long_stable_identifier_is_not_widened_by_one_odd_message() -> None:
    messages = ["open through proxy HTTPS"] * 50 + ["open through proxy SOCKS5"]
    _, ids = match_all(messages)
    assert len(set(ids)) == 2


def test_templates_are_capped_least_recently_seen_first_and_expire() -> None:
    tree = TemplateTree(max_templates=3)
    for n, word in enumerate(["alpha", "bravo", "charlie", "delta"]):
        tree.match([word, "broke", "down", "badly"], float(n))
    assert [t.tokens[0] for t in tree.templates()] == ["bravo", "charlie", "delta"]
    tree.match(["bravo", "broke", "down", "badly"], 9.0)
    tree.match(["echo", "broke", "down", "badly"], 10.0)
    assert [t.tokens[0] for t in tree.templates()] == ["delta", "bravo", "echo"]
    tree.forget_older_than(9.5)
    assert [t.tokens[0] for t in tree.templates()] == ["echo"]


def test_memory_stays_bounded() -> None:
    tree = TemplateTree(max_templates=50)
    for n in range(5000):
        tree.match(mask(f"error kind{n} happened in stage{n % 7} now"), float(n))
    assert len(tree.templates()) <= 50
    assert len(tree._exact) <= 100
    assert sum(len(b) for b in tree._index.values()) <= 50 * 6


def test_snapshot_round_trip_keeps_ids_and_matching() -> None:
    tree, ids = match_all(["disk full on /var/lib/db", "disk full on /srv/data",
                           "payment provider refused card 4"])
    data = json.loads(json.dumps(tree.snapshot()))
    assert data["version"] == 2
    restored = TemplateTree.restore(data, max_templates=100)
    assert [t.id for t in restored.templates()] == [t.id for t in tree.templates()]
    template, new = restored.match(mask("disk full on /mnt/x"), 10.0)
    assert not new and template.id == ids[0]


# Saved by NoveltyDetector.snapshot before version 2 (per service, "templates"): the old
# masks over whole lines, level included.
OLD_SAVED = json.loads("""[
 {"id": "07ad83dc8dbb", "tokens": ["ERROR", "cache", "stale", "for", "user", "<NUM>:", "snapshot",
  "<*>"], "first_seen": 1795132800.0, "last_seen": 1795132801.0, "count": 2},
 {"id": "83ad0c9cb174", "tokens": ["ERROR", "Timeout", "talking", "to", "<IP>", "after", "<NUM>",
  "s"], "first_seen": 1795132802.0, "last_seen": 1795132802.0, "count": 1},
 {"id": "2b8b16c98aa2", "tokens": ["ERROR", "relation", "<STR>", "does", "not", "exist", "at",
  "<PATH>"], "first_seen": 1795132803.0, "last_seen": 1795132803.0, "count": 1},
 {"id": "ac8a4d0ce5aa", "tokens": ["ERROR", "webhook", "for", "<EMAIL>", "answered", "<NUM>",
  "at", "<TS>"], "first_seen": 1795132806.0, "last_seen": 1795132806.0, "count": 1},
 {"id": "cc5eecdd2f3b", "tokens": ["ERROR", "job", "<NUM>3_4<NUM>", "failed", "with", "code",
  "<HEX>"], "first_seen": 1795132804.0, "last_seen": 1795132804.0, "count": 1},
 {"id": "65f217d7d9b0", "tokens": ["<TS>", "ERROR", "payment", "provider", "refused", "the",
  "card"], "first_seen": 1795132805.0, "last_seen": 1795132805.0, "count": 1}]""")
# The messages those templates were made from, with other values.
OLD_MESSAGES = {
    "07ad83dc8dbb": ["ERROR cache stale for user 7: snapshot lost",
                     "ERROR cache stale for user 8: snapshot missing"],
    "83ad0c9cb174": ["ERROR Timeout talking to 10.0.0.9:5432 after 31 s"],
    "2b8b16c98aa2": ["ERROR relation 'other table' does not exist at /srv/x/y.py"],
    "ac8a4d0ce5aa": ["ERROR webhook for al@y.io answered 502 at 2026-11-21T10:00:03Z"],
    "cc5eecdd2f3b": ["ERROR job 1_2 failed with code 0x1"],
    "65f217d7d9b0": ["2026-11-21 10:00:00,123 ERROR payment provider refused the card"],
}


def test_templates_saved_before_version_2_still_match_their_messages() -> None:
    tree = TemplateTree.restore(OLD_SAVED, max_templates=100)
    assert {t.id for t in tree.templates()} == set(OLD_MESSAGES)
    for template_id, messages in OLD_MESSAGES.items():
        for message in messages:     # as NoveltyDetector feeds it
            template, new = tree.match(mask(strip_prefix(message)), 1795140000.0)
            assert (template.id, new) == (template_id, False), message
    assert tree.snapshot()["legacy"] == []          # all migrated to today's masks
    by_id = {t.id: t for t in tree.templates()}
    assert by_id["07ad83dc8dbb"].count == 4
    assert by_id["07ad83dc8dbb"].text == "cache stale for user <NUM>: snapshot <*>"
    again = TemplateTree.restore(json.loads(json.dumps(tree.snapshot())), max_templates=100)
    assert {t.id for t in again.templates()} == set(OLD_MESSAGES)


def test_an_unknown_snapshot_version_is_refused() -> None:
    with pytest.raises(ValueError, match="version"):
        TemplateTree.restore({"version": 99, "templates": []}, max_templates=10)


# -- scores on Loghub-2k (bench/templates.py's scoring); floors a little under today's ----
FLOORS = {"OpenStack": 0.99, "Proxifier": 0.99, "Linux": 0.78, "HealthApp": 0.96}


def test_scoring_is_the_benchmarks() -> None:
    assert bench.grouping_accuracy(["a", "a", "b"], [1, 1, 2]) == 1.0
    assert bench.grouping_accuracy(["a", "a", "b"], [1, 1, 1]) == 0.0
    assert bench.grouping_accuracy(["a", "a", "b"], [1, 2, 3]) == pytest.approx(1 / 3)
    precision, recall, f1 = bench.pairwise(["a", "a", "a", "b"], [1, 1, 2, 2])
    assert (precision, recall) == (0.5, pytest.approx(1 / 3)) and f1 == pytest.approx(0.4)


def test_grouping_accuracy_on_loghub_does_not_regress() -> None:
    data_dir = bench.default_data_dir()
    assert data_dir is not None, "Loghub-2k not found beside the repository (shared/data)"
    miner = bench.detector_miner(__import__("detector.detect.templates", fromlist=["x"]))
    for name, floor in FLOORS.items():
        result = bench.score(miner, bench.load(data_dir, name))
        assert result.ga >= floor, (name, result.ga)


def test_the_benchmark_times_cold_caches() -> None:
    mask("warm 1 2 3 ms")
    assert any(vars(templates)[name] for name in vars(templates) if name.endswith("_cache"))
    bench.timed(lambda messages: [], [])
    assert not any(cache for name, cache in vars(templates).items()
                   if name.endswith("_cache") and isinstance(cache, dict | set))
