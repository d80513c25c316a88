"""Lead assignment: rules as data, eligibility, capacity, office hours and a fair rotation.

``AssignmentService.assign(lead_id)`` is the entry point the lead-scoring job calls for
a lead without an owner; ``reassign`` is the manual path behind
``POST /v1/leads/{id}/assign``; ``measures`` gives owner, assigned at, first-response
due and done, and SLA met or breached per lead. The first-response timers that an
assignment sets are fired by ``lead_scoring.sla``.
"""

from lead_scoring.assignment.calendar import BusinessCalendar
from lead_scoring.assignment.rules import (
    AssignmentRules,
    AssignmentRulesError,
    Rule,
    default_assignment_rules,
    load_assignment_rules,
    parse_assignment_rules,
)
from lead_scoring.assignment.service import (
    AssignmentOutcome,
    AssignmentService,
    Clock,
    LeadMeasures,
    UnknownRecord,
    rules_from_environment,
)

__all__ = [
    "AssignmentOutcome",
    "AssignmentRules",
    "AssignmentRulesError",
    "AssignmentService",
    "BusinessCalendar",
    "Clock",
    "LeadMeasures",
    "Rule",
    "UnknownRecord",
    "default_assignment_rules",
    "load_assignment_rules",
    "parse_assignment_rules",
    "rules_from_environment",
]
