"""Care: screening, exercise prescription, progression, follow-up, return to activity, aftercare and education.

The application layer calls, in this order:

1. ``screening.screen(case, today=...) -> Screening`` runs first. Rules are data (``data/care/screening_rules.yaml``);
   post-operative defaults are data (``precautions.yaml``) and the surgeon's restrictions in the case file override
   them. The merged ``limits`` decide, through one generic filter (``limits.violations``), which tests
   (``test_demands.yaml``) and exercises (``exercises.yaml``) are blocked. After ``defer``, ``refer`` or
   ``refer_urgent`` nothing physical is tested or prescribed.
2. ``plan.plan_care(case, results, findings, screening, today=...) -> CarePlan`` builds the program (phase, exercises
   ranked by target, findings and goals, dose from ``dosage.yaml``), progression from the latest exercise responses
   (pain-monitoring model in ``pain_monitoring.yaml``), follow-up, return-to-activity criteria, aftercare and the
   patient handout (Flesch-Kincaid grade via textstat).
3. ``guard.assert_nothing_blocked(document, screening)`` checks any output for blocked ids.

``cli.exercises_command(format)`` lists the exercise library; ``cli.register(app)`` adds ``hipext exercises``.
Every clinical number lives in the data files with a source and an evidence level; clinical defaults say so.
"""
