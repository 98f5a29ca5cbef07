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
