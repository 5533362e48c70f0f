"""FHIR R4 export: one case and its evaluation as a `Bundle` of type `collection` (JSON).

`to_bundle(case, evaluation)` is pure; `bundle_json(bundle)` serialises it deterministically. The CLI command
`hipext export CASE --format fhir` lives in `hipext.fhir.cli` and is added to the main CLI with `register(app)`.
"""

from hipext.fhir.bundle import bundle_json, to_bundle

__all__ = ["bundle_json", "to_bundle"]
