# Each target does its own set-up: a virtualenv in .venv with the project and its test tools.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: test demo replay-demo bench bench-peer clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest

demo: $(STAMP)
	$(VENV)/bin/bounceback demo

replay-demo: $(STAMP)
	$(VENV)/bin/bounceback replay examples/sample.jsonl --out out/sample
	@echo; echo "== suppressions (out/sample/suppressions.jsonl)"; cat out/sample/suppressions.jsonl
	@echo; echo "== why is mats.lindqvist@example.net blocked?"
	$(VENV)/bin/bounceback explain email mats.lindqvist@example.net --events examples/sample.jsonl

bench: $(STAMP)
	$(PY) -m bench.replay_bench
	$(PY) -m bench.deadline_bench
	$(PY) -m bench.pipeline_bench
	$(PY) -m bench.sendout_bench
	$(PY) -m bench.import_bench

# beside the peers, on Apache Kafka (Java, jars from Maven Central): needs the bench extra
bench-peer: $(STAMP)
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) -m bench.peer_bench --runs 3

clean:
	rm -rf $(VENV) out bench/data
