"""Replay: the live pipeline's partition processors (partitions/) run over a log file,
without Kafka, in one process or several (runner.py); the state of one process's share of
the partitions (share.py); the output files (files.py)."""
