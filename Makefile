.PHONY: setup run dev test lint schema bench soak
setup:            ## create .venv and install both packages
	bash scripts/setup.sh
run:              ## the whole loop: sidecar, API, UI, local Prometheus
	./run.sh
dev:              ## the same with hot reload
	./run.sh --dev
test:             ## every test
	./test.sh
lint:
	.venv/bin/ruff check . && .venv/bin/mypy
schema:           ## regenerate docs/schema from the pydantic models
	.venv/bin/python -m metrics_sidecar.schema_export docs/schema
bench:            ## the benchmark suite (docs/benchmarks.md); QUICK=1 for the CI smoke version
	.venv/bin/python bench/run.py $(if $(QUICK),--quick,)
soak:             ## 10 minutes at half the measured max ingest rate: loss must be 0, RSS drift <= 10 %
	.venv/bin/python bench/soak.py --minutes 10
