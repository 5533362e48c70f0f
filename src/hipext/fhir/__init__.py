"""FHIR R4 both ways: one case and its evaluation as a `Bundle` of type `collection` (JSON), and back.

`to_bundle(case, evaluation)` is pure; `bundle_json(bundle)` serialises it deterministically. The case as recorded
travels in `record.py` (so `read.case_from_bundle` rebuilds the same case), the evaluation's reading and conclusions
in `bundle.py`, narrative in `narrative.py`, questionnaires in `questionnaires.py`. `hipext export CASE --format
fhir` lives in `hipext.fhir.cli`; `hipext import fhir BUNDLE --out CASE` in `hipext.importers.cli`.
"""

from hipext.fhir.bundle import bundle_json, to_bundle

__all__ = ["bundle_json", "to_bundle"]
