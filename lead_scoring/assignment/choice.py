"""The decision: eligibility, capacity, availability, the pool, and who may take a lead."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from core.db.engine import reading
from core.plugin_types import SyncRecord
from core.schemas.parties import Agent
from core.store import StoredRecord
from lead_scoring.assignment.outcomes import Prepared, _Reads
from lead_scoring.assignment.reads import AssignmentReads
from lead_scoring.assignment.rules import Rule, norm
from lead_scoring.assignment.statements import (
    _SELECT_CAPACITY,
    _SELECT_CURRENT,
    _SELECT_TURN_TIMES,
    _SELECT_UNAPPLIED,
    OPEN_STATUSES,
)

log = logging.getLogger(__name__)


class AssignmentChoice(AssignmentReads):
    """Reads what a decision needs and plans it: rules, eligible agents, capacity, pool."""

    # -- eligibility, capacity, availability -----------------------------------------

    def eligible(self, rule: Rule, agent: Agent, lead: dict[str, Any]) -> bool:
        """Whether ``agent`` may take ``lead`` under ``rule`` (before capacity and hours)."""
        if not agent.active:
            return False
        if rule.team is not None and (agent.team is None or norm(agent.team) != norm(rule.team)):
            return False
        skills = {norm(skill) for skill in agent.skills}
        if any(norm(skill) not in skills for skill in rule.skills):
            return False
        if rule.product_line is not None and norm(rule.product_line) not in skills:
            return False
        if rule.languages and not set(rule.languages) & set(agent.languages):
            return False
        province = lead.get("province")
        return not (
            rule.territory
            and province
            and agent.provinces
            and norm(province) not in {norm(p) for p in agent.provinces}
        )

    def _with_capacity(
        self,
        rule: Rule,
        candidates: Sequence[str],
        agents: dict[str, Agent],
        now: datetime,
        reads: _Reads | None,
        everyone: Sequence[str] = (),
    ) -> list[str]:
        """``with_capacity`` on ``reads``' connection, counting once per ``assign``.

        With ``reads`` the counts are taken for ``everyone`` (every agent any rule may
        pick) the first time a rule needs them, and reused by the rules after it.
        """
        max_open = rule.max_open_leads or self.rules.defaults.max_open_leads
        quota = rule.daily_quota or self.rules.defaults.daily_quota
        if not candidates or (max_open is None and quota is None):
            return list(candidates)
        if reads is None:
            with reading(self.engine) as connection:
                open_counts, today = self._counts(connection, candidates, agents, now)
        else:
            if reads.counts is None:
                reads.counts = self._counts(reads.connection, everyone, agents, now)
            open_counts, today = reads.counts
        return [
            a
            for a in candidates
            if (max_open is None or open_counts.get(a, 0) < max_open)
            and (quota is None or today.get(a, 0) < quota)
        ]

    def _counts(
        self,
        connection: Connection,
        candidates: Sequence[str],
        agents: dict[str, Agent],
        now: datetime,
    ) -> tuple[dict[str, int], dict[str, int]]:
        """(open leads, rotation turns today in the agent's own day) per candidate.

        Both come from one statement when the candidates' days start at the same instant
        (one time zone, the usual case); otherwise the turns are read with their times
        and counted against each agent's own day start.
        """
        starts = {a: self._day_start(now, agents[a].time_zone) for a in candidates}
        since = min(starts.values())
        params = {
            "open_agents": list(candidates),
            "quota_agents": list(candidates),
            "since": since,
        }
        open_counts: dict[str, int] = {}
        today: dict[str, int] = {}
        same_day = len(set(starts.values())) == 1
        for what, agent_id, count in connection.execute(
            _SELECT_CAPACITY[connection.dialect.name], params
        ):
            if what == "open":
                open_counts[str(agent_id)] = int(count)
            elif same_day and agent_id is not None:
                today[str(agent_id)] = int(count)
        if not same_day:
            for agent_id, at in connection.execute(
                _SELECT_TURN_TIMES[connection.dialect.name], params
            ):
                if agent_id is not None and at >= starts[agent_id]:
                    today[agent_id] = today.get(agent_id, 0) + 1
        return open_counts, today

    @staticmethod
    def _day_start(now: datetime, time_zone: str) -> datetime:
        local = now.astimezone(ZoneInfo(time_zone))
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    def plan(
        self,
        lead: dict[str, Any],
        agents: dict[str, Agent],
        now: datetime,
        *,
        exclude: Iterable[str] = (),
        only: Rule | None = None,
        reads: _Reads | None = None,
    ) -> tuple[Rule | None, list[str], str | None]:
        """The pool for a lead: (rule, agents left, None) or (None, [], why nobody).

        ``exclude`` removes agents (the owner an escalation moves away from); ``only``
        restricts the search to one rule. ``reads`` carries what ``assign`` already
        read (who is away) and its connection for the capacity counts.
        """
        excluded = set(exclude)
        away = reads.away if reads is not None else self.away(now)
        everyone = [
            agent_id
            for agent_id, agent in sorted(agents.items())
            if agent.active and agent_id not in excluded and agent_id not in away
        ]
        matched: list[str] = []
        for rule in [only] if only is not None else self.rules.rules:
            if not rule.matches(lead):
                continue
            matched.append(rule.name)
            eligible = [
                agent_id
                for agent_id, agent in sorted(agents.items())
                if agent_id not in excluded
                and agent_id not in away
                and self.eligible(rule, agent, lead)
            ]
            left = self._with_capacity(rule, eligible, agents, now, reads, everyone)
            if not left:
                continue
            at_work = [a for a in left if self.calendar.is_open(now, agents[a].time_zone)]
            return rule, at_work or left, None
        if not matched:
            return None, [], "no rule matches the lead"
        return None, [], f"no eligible agent with capacity under rules {', '.join(matched)}"

    def prepare(
        self,
        connection: Connection,
        stored: StoredRecord,
        now: datetime,
        *,
        national_id: str | None = None,
    ) -> Prepared:
        """Read on ``connection`` what assigning ``stored`` (a lead) depends on; write nothing.

        The lead's current assignment (and its steps not applied yet) when it has one;
        else, for an open lead without an owner, the duplicate it would be linked to,
        the agents, the rule and pool the rules give, and a known customer's owner.
        """
        lead = stored.data
        new = lead.get("status") in OPEN_STATUSES and not lead.get("owner_id")
        if new:
            existing, original = self._current_and_duplicate(connection, stored.id, lead)
        else:
            existing = connection.execute(_SELECT_CURRENT, {"lead_id": stored.id}).first()
        if existing is not None:
            pending = list(connection.execute(_SELECT_UNAPPLIED, {"lead_id": stored.id}).scalars())
            return Prepared(stored, existing, pending, None)
        if not new:
            return Prepared(stored, None, [], None)
        decision = self._read_decision(connection, stored, original, national_id, now)
        return Prepared(stored, None, [], decision)

    def _read_decision(
        self,
        connection: Connection,
        stored: StoredRecord,
        original: Any,
        national_id: str | None,
        now: datetime,
    ) -> tuple[Any, dict[str, Agent], Rule | None, list[str], str | None, tuple[str, str] | None]:
        """What a new, open, ownerless lead's decision needs, read on ``connection``.

        (duplicate's assignment, agents, rule, pool, why nobody, sticky owner), given
        the duplicate's assignment ``original`` read with the lead's own. The sticky
        owner is read before plugins are asked (they are never called while a
        connection is held) and used only when no plugin takes the lead.
        """
        lead = stored.data
        if original is not None:
            return original, {}, None, [], None, None
        agents, away = self._agents_and_away(connection, now, kept=True)
        reads = _Reads(connection, away)
        rule, candidates, reason = self.plan(lead, agents, now, reads=reads)
        sticky = self._sticky_owner(connection, lead, agents, national_id)
        return None, agents, rule, candidates, reason, sticky

    def ask_plugins(self, lead: StoredRecord, candidates: Sequence[str]) -> str | None:
        """The first agent id a plugin's ``crm_sync_assign_lead`` returns, in name order."""
        if self.host is None or not self.host.implementers("crm_sync_assign_lead"):
            return None
        record = SyncRecord(
            type="lead",
            id=lead.id,
            version=lead.version,
            data=lead.model(),
            updated_at=lead.updated_at,
        )
        answers = self.host.call_each(
            "crm_sync_assign_lead", lead=record, candidates=list(candidates)
        )
        for name, answer in answers:
            if isinstance(answer, Exception):
                log.error("plugin %s failed to assign lead %s: %r", name, lead.id, answer)
            elif isinstance(answer, str) and answer:
                return answer
        return None
