"""The exception knowledge base: types by name, by base class and by what their name says,
raised rather than merely mentioned."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.match.knowledge import KnowledgeBase, knowledge_files, load_classes, load_knowledge
from detector.match.packs import shipped_packs_dir

FOLDER = shipped_packs_dir() / "knowledge"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_knowledge(knowledge_files(FOLDER), load_classes(FOLDER / "classes.toml"))


def found(kb: KnowledgeBase, text: str) -> list[tuple[str, str, str]]:
    return [(e.name, e.cls, e.how) for e in kb.exceptions(text)]


def test_a_qualified_library_type_is_known_exactly(kb: KnowledgeBase) -> None:
    assert found(kb, "redis.exceptions.LockError: Unable to acquire lock") == [
        ("redis.exceptions.LockError", "lock_timeout", "exact")]


def test_a_type_printed_without_its_module_is_known_by_its_name(kb: KnowledgeBase) -> None:
    ((name, cls, how),) = found(kb, "ConnectionRefusedError: [Errno 111] Connection refused")
    assert (name, cls) == ("ConnectionRefusedError", "dependency_down") and how in ("exact", "bare")


def test_an_unknown_type_lands_by_what_its_name_says(kb: KnowledgeBase) -> None:
    ((_, cls, how),) = found(kb, "acme.client.FooRateLimitError: slow down")
    assert (cls, how) == ("rate_limited", "heuristic")


def test_the_root_cause_of_a_chained_traceback_is_seen_too(kb: KnowledgeBase) -> None:
    text = ("Traceback (most recent call last):\n"
            '  File "/app/db.py", line 3, in get\n'
            "    conn = connect()\n"
            "ConnectionRefusedError: [Errno 111] Connection refused\n"
            "\nThe above exception was the direct cause of the following exception:\n\n"
            "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect\n")
    classes = [cls for _, cls, _ in found(kb, text)]
    assert classes[0] == "dependency_down" and len(classes) >= 2


def test_a_code_ending_the_message_counts_as_raised(kb: KnowledgeBase) -> None:
    line = "ERROR [kyc] falha no upload do documento para s3://bucket/pending/: AccessDenied"
    assert [cls for _, cls, _ in found(kb, line)] == ["auth_failure"]


def test_a_name_only_mentioned_is_not_raised(kb: KnowledgeBase) -> None:
    assert found(kb, "retry_on = ['ECONNREFUSED', 'AccessDenied'] # the codes we retry") == []
    assert found(kb, "    raise LockError(name)") == []          # a source line, not a raise


def test_a_base_that_does_not_exist_is_located(tmp_path: Path) -> None:
    pack = tmp_path / "exceptions.toml"
    pack.write_text('[[library]]\nname = "acme"\nmodules = ["acme"]\n'
                    '[library.types]\nBrokenError = "NoSuchBase"\n')
    with pytest.raises(ConfigError, match=r"exceptions.toml:5: .*NoSuchBase"):
        load_knowledge(pack, ["dependency_down"])
