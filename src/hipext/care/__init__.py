"""Care: screening, exercise prescription, progression, follow-up, return to activity, aftercare and education."""
