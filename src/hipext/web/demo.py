"""Demo clinic: idempotent seeding of a clinic, its users and a few patients with visits."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from hipext.caseio import parse_case
from hipext.store import repo

DEMO_CLINIC = "Demo Clinic"
DEMO_USERS = [
    ("demo", "demo-clinician-2026", "clinician", "Dr Demo Clinician"),
    ("demo-admin", "demo-admin-2026", "admin", "Demo Administrator"),
    ("demo-viewer", "demo-viewer-2026", "read_only", "Demo Viewer"),
]


def _visits_hamstring(today: dt.date) -> list[dict[str, Any]]:
    v1, v2 = (today - dt.timedelta(days=21)).isoformat(), (today - dt.timedelta(days=7)).isoformat()
    return [
        {
            "date": v1,
            "measurements": [
                {
                    "test": "hhd_hip_extension_prone_knee_flexed",
                    "side": "right",
                    "trials_n": [182, 190, 186],
                    "lever_arm_m": 0.38,
                    "fixation": "belt",
                },
                {
                    "test": "hhd_hip_extension_prone_knee_flexed",
                    "side": "left",
                    "trials_n": [210, 214, 205],
                    "lever_arm_m": 0.38,
                    "fixation": "belt",
                },
                {"test": "single_leg_bridge", "side": "right", "reps": 18},
                {"test": "single_leg_bridge", "side": "left", "reps": 27},
                {"test": "nprs", "context": "worst_24h", "value": 4},
            ],
            "observations": ["lumbar_extension_substitution"],
        },
        {
            "date": v2,
            "measurements": [
                {
                    "test": "hhd_hip_extension_prone_knee_flexed",
                    "side": "right",
                    "trials_n": [228, 236, 231],
                    "lever_arm_m": 0.38,
                    "fixation": "belt",
                },
                {
                    "test": "hhd_hip_extension_prone_knee_flexed",
                    "side": "left",
                    "trials_n": [215, 220, 212],
                    "lever_arm_m": 0.38,
                    "fixation": "belt",
                },
                {"test": "single_leg_bridge", "side": "right", "reps": 24},
                {"test": "single_leg_bridge", "side": "left", "reps": 28},
                {"test": "nprs", "context": "worst_24h", "value": 2},
                {"test": "askling_h_test", "side": "right", "result": "positive"},
            ],
        },
    ]


def demo_cases(today: dt.date) -> list[dict[str, Any]]:
    return [
        {
            "hipext_case": 1,
            "patient": {
                "id": "DEMO-001",
                "age": 34,
                "sex": "male",
                "body_mass_kg": 78,
                "height_m": 1.8,
                "activity_level": "competitive_sport",
                "training_status": "intermediate",
                "goals": ["return to sprinting"],
            },
            "history": {
                "involved_side": "right",
                "presentation": ["posterior_thigh_pain"],
                "conditions": ["hamstring_strain"],
                "onset": {"date": (today - dt.timedelta(days=35)).isoformat(), "mechanism": "sprinting"},
                "red_flags": {
                    "saddle_anaesthesia": False,
                    "bladder_or_bowel_change": False,
                    "night_pain": False,
                    "fever": False,
                },
            },
            "visits": _visits_hamstring(today),
        },
        {
            "hipext_case": 1,
            "patient": {
                "id": "DEMO-002",
                "age": 71,
                "sex": "female",
                "body_mass_kg": 68,
                "height_m": 1.62,
                "activity_level": "recreational",
                "goals": ["climb stairs to my flat", "walk the dog"],
            },
            "history": {
                "involved_side": "left",
                "conditions": ["hip_osteoarthritis"],
                "red_flags": {"saddle_anaesthesia": False, "night_pain": False, "fever": False},
            },
            "visits": [
                {
                    "date": (today - dt.timedelta(days=10)).isoformat(),
                    "measurements": [
                        {
                            "test": "hhd_hip_extension_prone_standing",
                            "side": "left",
                            "trials_n": [120, 126, 118],
                            "lever_arm_m": 0.36,
                        },
                        {
                            "test": "hhd_hip_extension_prone_standing",
                            "side": "right",
                            "trials_n": [150, 155, 149],
                            "lever_arm_m": 0.36,
                        },
                        {"test": "chair_stand_30s", "reps": 9},
                        {"test": "nprs", "context": "average_week", "value": 5},
                    ],
                    "observations": ["difficulty_sit_to_stand_without_arms", "trunk_lean"],
                    "observation_sides": {"trunk_lean": "left"},
                }
            ],
        },
        {
            "hipext_case": 1,
            "patient": {
                "id": "DEMO-003",
                "age": 45,
                "sex": "female",
                "body_mass_kg": 61,
                "activity_level": "active",
                "goals": ["run 10 km again"],
            },
            "history": {"involved_side": "none", "presentation": ["low_back_pain"]},
            "visits": [],
        },
    ]


def seed_demo(s: Session, *, today: dt.date | None = None) -> bool:
    """Create the demo clinic if it is not there. Returns True when something was created."""
    today = today or dt.date.today()
    if repo.user_by_username(s, DEMO_USERS[0][0]) is not None:
        return False
    clinic = repo.get_or_create_clinic(s, DEMO_CLINIC)
    users = [repo.create_user(s, clinic, u, pw, role=role, display_name=name) for u, pw, role, name in DEMO_USERS]
    for data in demo_cases(today):
        case = parse_case(data)
        row = repo.create_patient(
            s,
            clinic.id,
            case.patient.model_dump(mode="json", exclude_none=True),
            case.history.model_dump(mode="json", exclude_none=True),
        )
        for v in case.visits:
            repo.add_visit(s, row, v.model_dump(mode="json", exclude_none=True), user_id=users[0].id)
        repo.audit(s, action="patient.create", actor="system:demo-seed", clinic_id=clinic.id, patient_id=row.id)
    s.commit()
    return True
