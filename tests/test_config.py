"""The config file: every key checked once, errors located as file:line."""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.config import (
    FileSourceConfig,
    KafkaSourceConfig,
    LokiSourceConfig,
    load_config,
)
from detector.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "detector.toml"
    path.write_text(text)
    return path


def problem(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text), env=env or {})
    return caught.value.located()


def test_no_file_gives_useful_defaults() -> None:
    config = load_config(None, env={})
    assert config.sources == ()
    assert config.notify == ()
    assert config.detect.rates is True
    assert config.detect.resolve_after == 600
    assert config.http.listen == "127.0.0.1:9464"
    assert config.state.dir == Path(".detector-state")


def test_state_directory_defaults_to_systemd_state_directory() -> None:
    config = load_config(None, env={"STATE_DIRECTORY": "/var/lib/detector"})
    assert config.state.dir == Path("/var/lib/detector")


def test_the_design_example_loads(tmp_path: Path) -> None:
    path = write(tmp_path, '''
[state]
dir = "/var/lib/detector"
[patterns]
paths = ["extra"]
disable = ["server_error"]
[detect]
resolve_after = "10m"
[http]
listen = "127.0.0.1:9464"
[[source]]
type = "file"
path = "/var/log/app/*.log"
service = "api"
[[notify]]
type = "webhook"
url = "${DETECTOR_WEBHOOK_URL}"
secret = "${DETECTOR_WEBHOOK_SECRET}"
min_severity = "warning"
''')
    config = load_config(path, env={"DETECTOR_WEBHOOK_URL": "https://hooks.example/x",
                                    "DETECTOR_WEBHOOK_SECRET": "s3"})
    assert config.patterns.paths == (tmp_path / "extra",)
    source = config.sources[0]
    assert isinstance(source, FileSourceConfig)
    assert (source.path, source.service, source.start_at) == ("/var/log/app/*.log", "api", "end")
    assert config.notify[0].url == "https://hooks.example/x"
    assert config.notify[0].secret == "s3"


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    text = "[detect]\nresolve_after = \"5m\"\nresolve_afer = \"5m\"\n"
    message = problem(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'detector.toml'}:3: ")
    assert "unknown key 'detect.resolve_afer'" in message


def test_unknown_key_in_the_second_source_points_at_its_line(tmp_path: Path) -> None:
    text = ('[[source]]\ntype = "stdin"\n\n[[source]]\ntype = "file"\npath = "/x"\n'
            'colour = "blue"\n')
    assert ":7: unknown key 'source.colour'" in problem(tmp_path, text)


def test_broken_toml_names_its_line(tmp_path: Path) -> None:
    message = problem(tmp_path, '[http]\nlisten = "127.0.0.1:9464\n')
    assert ":2: invalid TOML" in message


def test_missing_environment_variable_is_an_error(tmp_path: Path) -> None:
    text = '[[notify]]\ntype = "slack"\nurl = "${SLACK_URL}"\n'
    assert ":3: environment variable SLACK_URL is not set" in problem(tmp_path, text)


def test_environment_default_and_escape(tmp_path: Path) -> None:
    path = write(tmp_path, '[[notify]]\ntype = "slack"\nurl = "${SLACK_URL:-https://x/y}"\n'
                           'name = "cost $$5"\n')
    config = load_config(path, env={})
    assert config.notify[0].url == "https://x/y"
    assert config.notify[0].name == "cost $5"


@pytest.mark.parametrize(("text", "expected"), [
    ('[detect]\nresolve_after = "soon"\n', ':2: detect.resolve_after must be a duration'),
    ('[detect]\nrates = "yes"\n', ':2: detect.rates must be true or false'),
    ('[http]\nlisten = "9464"\n', ':2: http.listen must be host:port'),
    ('[[source]]\npath = "/x"\n', ':1: [[source]] #1 needs a type'),
    ('[[source]]\ntype = "ftp"\n', ':2: source.type must be one of file, docker'),
    ('[[source]]\ntype = "file"\n', ':1: missing required key \'source.path\''),
    ('[[source]]\ntype = "kafka"\nbrokers = ["b:9092"]\n', ':1: a kafka source needs topics'),
    ('[[source]]\ntype = "kafka"\nbrokers = ["b:9092"]\ntopics = ["t"]\nstate_topic = "a b"\n',
     ":5: 'a b' is not a Kafka topic name"),
    ('[[source]]\ntype = "kafka"\nbrokers = ["b:9092"]\ntopics = ["t"]\nstate_topic = "t"\n',
     ":5: 't' is also in topics"),
    ('[[notify]]\ntype = "pagerduty"\n', "missing required key 'notify.routing_key'"),
    ('[detect]\nresolve_after = nan\n', ":2: detect.resolve_after must be a finite duration"),
    ('[detect]\nrate_min_ratio = inf\n', ":2: detect.rate_min_ratio must be a finite number"),
    ('[[source]]\ntype = "file"\npath = "/x"\nmax_line_bytes = "0KB"\n',
     ":4: source.max_line_bytes must be a size above zero"),
    ('[[notify]]\ntype = "webhook"\nurl = "https://hooks.example/x\\n"\n',
     ":3: notify.url holds a space or a control character"),

    ('[[notify]]\ntype = "webhook"\nurl = "ftp://x"\n', ':3: notify.url must be an http'),
    ('[[notify]]\ntype = "slack"\nurl = "https://x"\nmin_severity = "loud"\n',
     ':4: notify.min_severity must be one of info, warning, error, critical'),
    ('[[notify]]\ntype = "slack"\nurl = "https://x"\nkinds = ["spike"]\n',
     ":4: notify.kinds has 'spike'"),
])
def test_bad_values_are_located(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in problem(tmp_path, text)


def test_duplicate_source_names_are_rejected(tmp_path: Path) -> None:
    text = ('[[source]]\ntype = "stdin"\nname = "in"\n[[source]]\ntype = "file"\n'
            'path = "/x"\nname = "in"\n')
    assert "two [[source]] tables are named 'in'" in problem(tmp_path, text)


def test_typed_source_tables(tmp_path: Path) -> None:
    path = write(tmp_path, '''
[[source]]
type = "loki"
url = "http://loki:3100/"
query = '{app="api"}'
tenant = "team-a"
[[source]]
type = "kafka"
brokers = ["127.0.0.1:9092"]
topics = ["logs"]
start_at = "beginning"
max_silence = "5m"
''')
    loki, kafka = load_config(path, env={}).sources
    assert isinstance(loki, LokiSourceConfig)
    assert (loki.url, loki.tenant, loki.name) == ("http://loki:3100", "team-a", "loki-1")
    assert isinstance(kafka, KafkaSourceConfig)
    assert (kafka.topics, kafka.start_at, kafka.max_silence) == (("logs",), "beginning", 300.0)
    assert kafka.state_topic == "detector-state"                  # state follows partitions


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.toml")


def test_key_lines_survive_strings_with_brackets_and_quotes() -> None:
    from detector.config.keylines import KeyLines

    text = '''[[pattern]]
id = "a"
regex = \'\'\'"(?P<x>[^"]+)" [\'\'\'
examples.match = [
    """multi [
line""",
    'single ]',
]
[[pattern]]
id = "b"
examples.no_match = ["x"]
'''
    lines = KeyLines(text)
    assert lines.line(("pattern", 0, "examples", "match")) == 4
    assert lines.line(("pattern", 1)) == 9
    assert lines.line(("pattern", 1, "examples", "no_match")) == 11


def test_a_device_file_is_not_a_pattern_pack() -> None:
    from detector.errors import ConfigError
    from detector.match.packs import load_packs

    with pytest.raises(ConfigError, match="/dev/null: a pattern pack must be a TOML file"):
        load_packs([Path("/dev/null")])
