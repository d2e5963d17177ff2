"""The daemon: lifecycle and supervised tasks, the feeder and queue between sources and
the pipeline, the state directory, the HTTP endpoint and systemd integration."""
