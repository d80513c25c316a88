"""Assignment: eligibility, capacity, working hours, sticky owners, duplicates, rotation."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select

from core import hookimpl
from core.plugin_types import SyncRecord
from lead_scoring.assignment.tables import Timer
from tests.lead_scoring.assignment.conftest import World, tehran

#: Tests of the reads whose SQL differs between SQLite and PostgreSQL (lists of agents,
#: phones and emails), run on both.
BOTH_DATABASES = pytest.mark.parametrize("world", ["sqlite", "postgres"], indirect=True)


@BOTH_DATABASES
def test_rotation_gives_each_equal_agent_the_same_number_of_leads(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    agents = sales_team(7)
    service = world.service()
    for i in range(70):
        world.lead(f"L{i}")
        outcome = service.assign(f"L{i}")
        assert outcome.action == "rotation"
        assert outcome.rule == "sales"
    owners = Counter(world.owner("lead", f"L{i}") for i in range(70))
    assert owners == dict.fromkeys(agents, 10)
    turns = [row.turn for i in range(70) for row in world.history(f"L{i}")]
    assert sorted(turns) == list(range(1, 71))


@BOTH_DATABASES
def test_ties_are_broken_at_random_not_by_id_or_seniority(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    agents = sales_team(5)
    service = world.service()
    first = set()
    for pool in range(40):
        with world.engine.begin() as connection:
            chosen, turn = service.take_turn(connection, f"pool-{pool}", agents)
        assert turn == 1
        first.add(chosen)
    assert len(first) > 1


@BOTH_DATABASES
def test_a_new_agent_joins_the_rotation_at_the_fewest_turns_not_at_zero(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(2)
    service = world.service()
    for i in range(10):
        world.lead(f"L{i}")
        service.assign(f"L{i}")
    world.agent("late")
    service.forget_agents()  # a new agent is seen after the kept agents' window
    for i in range(10, 16):
        world.lead(f"L{i}")
        service.assign(f"L{i}")
    owners = Counter(world.owner("lead", f"L{i}") for i in range(10, 16))
    assert owners == {"a1": 2, "a2": 2, "late": 2}


def test_eligibility_territory_language_product_line_team_active_and_away(world: World) -> None:
    world.agent("tehran", provinces=["تهران"])
    world.agent("isfahan", provinces=["اصفهان"])
    world.agent("english", languages=["en"], team="support")
    world.agent("pumps", skills=["pumps"], team="support")
    world.agent("retired", active=False)
    service = world.service()

    # Territory: Arabic and Persian forms of the same letters match.
    world.lead("T", province="تهران")
    assert service.assign("T").owner_id == "tehran"
    world.lead("E", source="english-site")
    assert service.assign("E").owner_id == "english"
    world.lead("P", campaign="pumps", province="اصفهان")
    assert service.assign("P").owner_id == "pumps"

    service.set_away("isfahan", until=None, reason="leave")
    world.lead("I", province="اصفهان")
    outcome = service.assign("I")
    assert outcome.action == "unassigned"
    assert outcome.reason is not None and "sales" in outcome.reason
    assert world.events("lead", "I")[-1]["type"] == "lead.assignment_failed"

    service.clear_away("isfahan")
    world.lead("I2", province="اصفهان")
    assert service.assign("I2").owner_id == "isfahan"


@BOTH_DATABASES
def test_capacity_counts_open_leads(world: World) -> None:
    world.agent("a")
    world.agent("b")
    service = world.service('[defaults]\nmax_open_leads = 2\n[[rules]]\nname = "all"\n')
    # a already holds two open leads from the CRM (a lost one does not count).
    world.lead("x1", owner_id="a")
    world.lead("x2", owner_id="a", status="contacted")
    world.lead("x3", owner_id="a", status="lost")
    for i in range(2):
        world.lead(f"L{i}")
        assert service.assign(f"L{i}").owner_id == "b"
    world.lead("L2")
    outcome = service.assign("L2")
    assert outcome.action == "unassigned"
    assert outcome.reason == "no eligible agent with capacity under rules all"
    world.lead("x1", owner_id="a", status="converted")
    assert service.assign("L2").owner_id == "a"


def test_each_rule_applies_its_own_open_lead_limit(
    world: World,
) -> None:
    for agent in ("a", "b", "c"):
        world.agent(agent)
    rules = (
        "[defaults]\nmax_open_leads = 2\n"
        '[[rules]]\nname = "vip"\nwhen.campaign = ["vip"]\nmax_open_leads = 5\n'
        '[[rules]]\nname = "all"\n'
    )
    service = world.service(rules)
    for number in range(7):  # a holds more open leads than any rule allows
        world.lead(f"a{number}", owner_id="a")
    for number in range(4):  # b is over the default limit, under the vip one
        world.lead(f"b{number}", owner_id="b")
    world.lead("plain")
    assert service.assign("plain").owner_id == "c"
    owners = set()
    for number in range(2):
        world.lead(f"vip{number}", campaign="vip")
        owners.add(service.assign(f"vip{number}").owner_id)
    assert owners == {"b", "c"}


@BOTH_DATABASES
def test_capacity_counts_a_daily_quota_per_local_day(world: World) -> None:
    world.agent("a")
    world.agent("b")
    service = world.service('[defaults]\ndaily_quota = 2\n[[rules]]\nname = "all"\n')
    for i in range(4):
        world.lead(f"L{i}")
        service.assign(f"L{i}")
    assert Counter(world.owner("lead", f"L{i}") for i in range(4)) == {"a": 2, "b": 2}
    world.lead("L4")
    assert service.assign("L4").action == "unassigned"
    world.clock.now = tehran(2025, 6, 1, 23, 59)
    assert service.assign("L4").action == "unassigned"
    world.clock.now = tehran(2025, 6, 2, 8, 0)  # Monday in Tehran: a new day
    assert service.assign("L4").owner_id in {"a", "b"}


def test_agents_at_work_are_preferred_over_agents_off_duty(world: World) -> None:
    world.agent("tehran")
    world.agent("vancouver", time_zone="America/Vancouver")
    service = world.service()
    for i in range(4):
        world.lead(f"L{i}")
        assert service.assign(f"L{i}").owner_id == "tehran"


def test_deadline_counts_working_minutes_only(world: World) -> None:
    world.agent("a")
    service = world.service()
    world.lead("L")
    outcome = service.assign("L")
    assert outcome.first_response_due_at == tehran(2025, 6, 1, 10, 15)

    world.clock.now = tehran(2025, 6, 1, 16, 50)
    world.lead("late")
    assert service.assign("late").first_response_due_at == tehran(2025, 6, 2, 8, 5)


def test_lead_arriving_thursday_evening_is_due_on_saturday_morning(world: World) -> None:
    world.agent("a")
    world.agent("b")
    service = world.service()
    world.clock.now = tehran(2025, 6, 5, 19)  # Thursday 19:00, after the 13:00 close
    world.lead("L")
    outcome = service.assign("L")
    assert outcome.owner_id in {"a", "b"}
    assert outcome.first_response_due_at == tehran(2025, 6, 7, 8, 15)  # Saturday

    # Thursday morning is a working half day when the calendar says so...
    world.clock.now = tehran(2025, 6, 5, 12, 55)
    world.lead("M")
    assert service.assign("M").first_response_due_at == tehran(2025, 6, 7, 8, 10)
    # ...and a day off when it does not.
    closed = world.service('[calendar]\nholidays = []\n[[rules]]\nname = "all"\n')
    world.lead("N")
    assert closed.assign("N").first_response_due_at == tehran(2025, 6, 7, 8, 15)


def test_lead_arriving_on_a_holiday_is_due_the_next_working_day(world: World) -> None:
    world.agent("a")
    service = world.service()
    world.clock.now = tehran(2025, 6, 4, 10)  # 14 Khordad 1404, a Wednesday holiday
    world.lead("L")
    assert service.assign("L").first_response_due_at == tehran(2025, 6, 5, 8, 15)


@BOTH_DATABASES
def test_known_customer_lead_goes_to_its_owner(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(3)
    world.agent("owner", team="key-accounts")
    world.put(
        "customer",
        "C1",
        type="organization",
        name="پمپ‌سازان",
        phones=["۰۹۱۲ ۱۲۳ ۴۵۶۷"],
        emails=["Buyer@Pump.example"],
        owner_id="owner",
    )
    world.put(
        "customer", "C2", type="person", name="رضا", national_id="0499370899", owner_id="owner"
    )
    service = world.service()
    world.lead("by-phone", phones=["+98 912 123 4567"])
    outcome = service.assign("by-phone")
    assert (outcome.owner_id, outcome.action) == ("owner", "sticky")
    world.lead("by-email", emails=["buyer@pump.example"])
    assert service.assign("by-email").owner_id == "owner"
    world.lead("by-id")
    assert service.assign("by-id", national_id="۰۴۹۹۳۷۰۸۹۹").owner_id == "owner"
    assert world.history("by-phone")[0].details == {"customer": "C1"}

    # An owner who left is no reason to stall: the rules decide.
    world.agent("owner", team="key-accounts", active=False)
    world.lead("by-phone", phones=["+98 912 123 4567"], status="converted")
    world.lead("after", phones=["09121234567"])
    assert service.assign("after").action == "rotation"


@BOTH_DATABASES
def test_duplicates_of_an_open_lead_are_linked_not_assigned_twice(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(3)
    service = world.service()
    world.lead("first", phones=["09121112233"], emails=["sara@example.com"])
    original = service.assign("first")
    world.lead("again", phones=["0912 111 2233"])
    world.lead("third", emails=["SARA@example.com"])
    for lead_id in ("again", "third"):
        outcome = service.assign(lead_id)
        assert (outcome.action, outcome.linked_to, outcome.owner_id) == (
            "linked",
            "first",
            original.owner_id,
        )
        assert world.history(lead_id)[0].turn is None
        assert world.events("lead", lead_id)[-1]["type"] == "lead.duplicate_linked"
    with world.engine.connect() as connection:
        timers = connection.execute(select(Timer.subject_id)).scalars().all()
    assert timers == ["first"]
    measures = service.measures(["again"])["again"]
    assert (measures.linked_to, measures.sla) == ("first", "none")

    # Closed leads are no longer something to duplicate.
    world.lead("first", phones=["09121112233"], emails=["sara@example.com"], status="lost")
    world.lead("again", phones=["0912 111 2233"], status="lost")
    world.lead("fresh", phones=["09121112233"])
    assert service.assign("fresh").action == "rotation"


def test_assigning_twice_changes_nothing(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(2)
    service = world.service()
    world.lead("L")
    first = service.assign("L")
    again = service.assign("L")
    assert (again.action, again.owner_id) == ("existing", first.owner_id)
    assert len(world.history("L")) == 1


def test_closed_leads_and_crm_owned_leads(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(1)
    service = world.service()
    world.lead("lost", status="lost")
    assert service.assign("lost").action == "unassigned"
    world.lead("owned", owner_id="a1")
    outcome = service.assign("owned")
    assert (outcome.action, outcome.owner_id) == ("adopted", "a1")
    assert outcome.first_response_due_at is not None


def test_no_matching_rule_leaves_the_lead_unassigned(world: World) -> None:
    world.agent("a")
    service = world.service('[[rules]]\nname = "only-web"\nwhen.source = ["web"]\n')
    world.lead("L", source="phone")
    outcome = service.assign("L")
    assert (outcome.action, outcome.reason) == ("unassigned", "no rule matches the lead")


class Router:
    """A plugin that routes VIP leads to a fixed agent and leaves the rest to the rules."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    @hookimpl
    def crm_sync_describe(self, context: object) -> object:
        from core.plugin_types import PluginDescription

        return PluginDescription(subscriptions=(), target=None)

    @hookimpl
    def crm_sync_assign_lead(
        self, context: object, lead: SyncRecord, candidates: list[str]
    ) -> str | None:
        self.seen.append(candidates)
        source = getattr(lead.data, "source", None)
        if source == "vip":
            return "a2"
        if source == "bogus":
            return "nobody"
        if source == "crash":
            raise RuntimeError("router down")
        return None


def test_a_plugin_can_take_over_assignment(
    make_settings: Callable[..., object], make_runtime: Callable[..., object], world: World
) -> None:
    from core.settings import Settings
    from core.sync.runtime import SyncRuntime
    from lead_scoring.assignment import AssignmentService, parse_assignment_rules
    from tests.lead_scoring.assignment.conftest import RULES

    router = Router()
    settings = make_settings()
    assert isinstance(settings, Settings)
    runtime = make_runtime(settings, {"router": router})
    assert isinstance(runtime, SyncRuntime)
    service = AssignmentService.from_runtime(
        runtime, rules=parse_assignment_rules(RULES), clock=world.clock
    )
    here = World(runtime.engine, world.clock)
    for agent_id in ("a1", "a2", "a3"):
        here.agent(agent_id)
    here.lead("vip", source="vip")
    outcome = service.assign("vip")
    assert (outcome.action, outcome.owner_id) == ("plugin", "a2")
    assert router.seen[-1] == ["a1", "a2", "a3"]
    here.lead("bogus", source="bogus")
    assert service.assign("bogus").action == "rotation"
    here.lead("plain", source="web")
    assert service.assign("plain").action == "rotation"
    here.lead("crash", source="crash")
    assert service.assign("crash").action == "rotation"


def test_measures_report_owner_deadline_and_sla(
    world: World, sales_team: Callable[[int], list[str]]
) -> None:
    sales_team(1)
    service = world.service()
    world.lead("L")
    service.assign("L")
    assert service.measures(["L", "never"])["never"].sla == "none"
    pending = service.measures(["L"])["L"]
    assert (pending.owner_id, pending.sla) == ("a1", "pending")
    assert pending.assigned_at == world.clock.now
    world.put(
        "interaction",
        "I1",
        lead_id="L",
        channel="call",
        direction="outbound",
        occurred_at=(world.clock.now + timedelta(minutes=5)).isoformat(),
    )
    met = service.measures(["L"])["L"]
    assert (met.sla, met.first_response_at) == ("met", world.clock.now + timedelta(minutes=5))
