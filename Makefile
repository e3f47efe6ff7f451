# Two commands a new user needs: `make demo` and `make test`. Both create the environment first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: install demo test check bench clean protos

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/deepzoo demo

test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --durations=15 --junitxml=runs/test-report.xml tests

check: $(STAMP)
	$(BIN)/deepzoo check

# The benchmarks' own extras (schemathesis for the serving fuzz), then the serving benchmark;
# the other scripts in benchmarks/ run the same way with $(BIN)/python.
bench: $(STAMP)
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python benchmarks/bench_serving.py

# The gRPC messages' descriptor set (serving/protos/*.proto -> descriptors.binpb), committed; rerun
# after editing a .proto (grpcio-tools comes with the test extra).
protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I serving/protos --include_imports \
		--descriptor_set_out=serving/protos/descriptors.binpb serving/protos/inference.proto serving/protos/tensorflow_serving.proto

clean:
	rm -rf $(VENV) runs build *.egg-info
