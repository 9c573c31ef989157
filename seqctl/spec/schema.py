"""`seqctl schema`: the JSON Schema of the sequence-file format, for editors."""

from __future__ import annotations

from typing import Any

from seqctl.spec.models import SpecFile


def json_schema() -> dict[str, Any]:
    schema = SpecFile.model_json_schema(by_alias=True, mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "seqctl sequence file"
    return schema
