"""The one place that decides who may do what. Deny by default.

Every service, selector, API route and page asks here. A permission is a named action
(``source_record.view``) with a rule over the acting user and, where it matters, the
object acted on (an agency, a record, a user). Unknown actions are denied.

Staff must have passed multi-factor authentication in their session for any permission
to be granted; API tokens may only be created from such a session, and each token is
limited to the scopes it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar, cast

from core.access import mark
from core.errors import NotAuthenticated, PermissionDenied
from identity.choices import Role

if TYPE_CHECKING:
    from identity.models import Agency, User

F = TypeVar("F", bound=Callable[..., Any])
Rule = Callable[["User", Any], bool]


@dataclass(frozen=True)
class Permission:
    action: str
    scope: str
    rule: Rule
    description: str


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str

    def __bool__(self) -> bool:
        return self.allowed


PERMISSIONS: dict[str, Permission] = {}


def permission(action: str, *, scope: str, description: str) -> Callable[[Rule], Rule]:
    def register(rule: Rule) -> Rule:
        if action in PERMISSIONS:
            raise ValueError(f"permission {action!r} declared twice")
        PERMISSIONS[action] = Permission(action, scope, rule, description)
        return rule

    return register


# --- facts about the actor -------------------------------------------------------------


def _roles(user: User) -> set[tuple[str, int | None]]:
    cached: set[tuple[str, int | None]] | None = getattr(user, "_civic_roles", None)
    if cached is None:
        cached = set(user.role_assignments.values_list("role", "agency_id"))
        setattr(user, "_civic_roles", cached)  # noqa: B010 - per-request cache on the user
    return cached


def forget_roles(user: User) -> None:
    """Drop the per-request role cache after a grant or revocation."""
    if hasattr(user, "_civic_roles"):
        delattr(user, "_civic_roles")


def has_role(user: User, role: Role, agency: Agency | int | None = None) -> bool:
    """Whether the user holds ``role``; with ``agency``, in that agency specifically."""
    agency_id = agency if isinstance(agency, int) or agency is None else agency.pk
    roles = _roles(user)
    if agency_id is None:
        return any(r == role for r, _ in roles)
    return (role.value, agency_id) in roles


def agencies_where(user: User, *roles: Role) -> set[int]:
    wanted = {r.value for r in roles}
    return {a for r, a in _roles(user) if r in wanted and a is not None}


def is_platform_admin(user: User) -> bool:
    return has_role(user, Role.PLATFORM_ADMIN)


def is_platform_system(user: User) -> bool:
    """The platform's own account (`identity.services.system_actor`), in a command or task.

    It acts for the operator who ran the command or the steward whose upload a background
    task finishes; that person was authorised when the work was queued.
    """
    return bool(getattr(user, "civic_system", False)) and is_platform_admin(user)


def mfa_satisfied(user: User) -> bool:
    """Staff and partners need a second factor in this session (or a token minted from one)."""
    if not user.needs_mfa:
        return True
    if getattr(user, "civic_via_token", False) or getattr(user, "civic_system", False):
        return True
    is_verified = getattr(user, "is_verified", None)
    return bool(is_verified and is_verified())


def _agency_id(obj: Any) -> int | None:
    """The agency an object belongs to: an Agency, or anything with ``agency_id``."""
    from identity.models import Agency

    if isinstance(obj, Agency):
        return obj.pk
    if isinstance(obj, int):
        return obj
    return getattr(obj, "agency_id", None)


def _scope_granted(scope: str, granted: Any) -> bool:
    """A token's ``family:write`` scope includes ``family:read``."""
    if scope in granted:
        return True
    family, _, kind = scope.partition(":")
    return kind == "read" and f"{family}:write" in granted


# --- decisions ---------------------------------------------------------------------------


def decide(user: User | None, action: str, obj: Any = None, *, scopes: Any = None) -> Decision:
    """Decide whether ``user`` may perform ``action`` (on ``obj``). Never raises."""
    perm = PERMISSIONS.get(action)
    if perm is None:
        return Decision(False, f"unknown action {action!r}")
    if user is None or not user.is_authenticated:
        return Decision(False, "not signed in")
    if not user.is_active:
        return Decision(False, "account disabled")
    if not mfa_satisfied(user):
        return Decision(False, "multi-factor authentication required")
    token_scopes = scopes if scopes is not None else getattr(user, "civic_token_scopes", None)
    if token_scopes is not None and not _scope_granted(perm.scope, token_scopes):
        return Decision(False, f"token lacks scope {perm.scope!r}")
    try:
        allowed = perm.rule(user, obj)
    except (AttributeError, TypeError, ValueError):
        # A rule that cannot evaluate for this object denies.
        return Decision(False, f"rule for {action!r} does not apply to this object")
    return Decision(bool(allowed), "allowed" if allowed else f"{action} not granted")


def can(user: User | None, action: str, obj: Any = None) -> bool:
    return decide(user, action, obj).allowed


def authorize(user: User | None, action: str, obj: Any = None) -> None:
    """Raise unless allowed; the single gate every service and selector calls."""
    decision = decide(user, action, obj)
    if decision.allowed:
        return
    if user is None or not user.is_authenticated:
        raise NotAuthenticated()
    raise PermissionDenied(decision.reason, action=action)


def requires(action: str) -> Callable[[F], F]:
    """Mark a route with the permission that decides it and check it before the handler.

    The route check is agency-agnostic ("may this user ever do X"); the service or
    selector it calls repeats the check against the object itself.
    """
    if action not in PERMISSIONS:
        raise ValueError(f"unknown permission {action!r}")

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            authorize(request.user if hasattr(request, "user") else None, action, ANY_OBJECT)
            return view(request, *args, **kwargs)

        return mark(cast(F, wrapper), "permission", action)

    return decorate


def decided_in_service(action: str) -> Callable[[F], F]:
    """Mark a route whose decision needs the object and so is taken in the service/selector."""
    if action not in PERMISSIONS:
        raise ValueError(f"unknown permission {action!r}")

    def decorate(view: F) -> F:
        return mark(view, "permission", action)

    return decorate


class _AnyObject:
    """Route-level checks: 'could this user do it for some object?'"""


ANY_OBJECT = _AnyObject()


def _in_agency(user: User, obj: Any, *roles: Role) -> bool:
    if obj is ANY_OBJECT:
        return bool(agencies_where(user, *roles))
    agency_id = _agency_id(obj)
    return agency_id is not None and agency_id in agencies_where(user, *roles)


# --- the permissions ---------------------------------------------------------------------


@permission("profile.view_own", scope="profile:read", description="See one's own account.")
def _profile_view_own(user: User, obj: Any) -> bool:
    return obj is ANY_OBJECT or obj is None or getattr(obj, "pk", None) == user.pk


@permission("agency.list", scope="identity:read", description="List agencies.")
def _agency_list(user: User, obj: Any) -> bool:
    return True


@permission("agency.create", scope="identity:write", description="Create an agency.")
def _agency_create(user: User, obj: Any) -> bool:
    return is_platform_admin(user)


@permission("staff.list", scope="identity:read", description="List an agency's staff.")
def _staff_list(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or _in_agency(user, obj, Role.AGENCY_ADMIN, Role.SUPERVISOR)


@permission("staff.manage", scope="identity:write", description="Add staff, grant roles.")
def _staff_manage(user: User, obj: Any) -> bool:
    if is_platform_admin(user):
        return True
    # Agency admins manage their own agency but never hand out platform-wide power.
    if getattr(obj, "role", None) == Role.PLATFORM_ADMIN:
        return False
    return _in_agency(user, obj, Role.AGENCY_ADMIN)


@permission("token.manage_own", scope="tokens:write", description="Create or revoke own tokens.")
def _token_manage_own(user: User, obj: Any) -> bool:
    if getattr(user, "civic_via_token", False):
        return False  # a token never mints or revokes tokens
    return obj is ANY_OBJECT or obj is None or getattr(obj, "user_id", None) == user.pk


@permission("audit.view", scope="audit:read", description="Read the audit trail.")
def _audit_view(user: User, obj: Any) -> bool:
    if is_platform_admin(user):
        return True
    if obj is ANY_OBJECT or obj is None:
        # Listing: the selector narrows the list to the admin's own agencies.
        return bool(agencies_where(user, Role.AGENCY_ADMIN))
    # An agency admin reads the entries of their own agency only.
    code = getattr(obj, "agency", None)
    from identity.models import Agency

    if isinstance(code, str):
        ids = set(Agency.objects.filter(code=code).values_list("pk", flat=True))
        return bool(ids & agencies_where(user, Role.AGENCY_ADMIN))
    return _in_agency(user, obj, Role.AGENCY_ADMIN)


@permission("audit.verify", scope="audit:read", description="Verify the audit chain.")
def _audit_verify(user: User, obj: Any) -> bool:
    return is_platform_admin(user)


@permission(
    "source_record.view",
    scope="registry:read",
    description="Read an agency's source records about people.",
)
def _source_record_view(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.DATA_STEWARD, Role.CASEWORKER, Role.SUPERVISOR)


@permission(
    "source_record.manage",
    scope="registry:write",
    description="Load or correct an agency's source records.",
)
def _source_record_manage(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(user, obj, Role.DATA_STEWARD)


# Re-exported so routes and views take every access marker from one module.
from core.access import public as public  # noqa: E402


@permission(
    "demo.seed",
    scope="platform:write",
    description="Load the synthetic demo government (every agency at once).",
)
def _demo_seed(user: User, obj: Any) -> bool:
    return is_platform_admin(user)


# --- decisions (DMN models, evaluation, simulation) -------------------------------------


@permission(
    "decision_model.view",
    scope="decisions:read",
    description="See an agency's decision models, their versions and explanations.",
)
def _decision_model_view(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or _in_agency(
        user,
        obj,
        Role.POLICY_ANALYST,
        Role.CASEWORKER,
        Role.SUPERVISOR,
        Role.AGENCY_ADMIN,
    )


@permission(
    "decision_model.manage",
    scope="decisions:write",
    description="Upload decision model versions and schedule their activation.",
)
def _decision_model_manage(user: User, obj: Any) -> bool:
    # the platform account uploads a service's DMN when a policy analyst deploys it
    return is_platform_system(user) or _in_agency(user, obj, Role.POLICY_ANALYST)


@permission(
    "decision.evaluate",
    scope="decisions:write",
    description="Evaluate an agency's active decision model on given inputs (recorded).",
)
def _decision_evaluate(user: User, obj: Any) -> bool:
    # the case engine evaluates a service's decisions as the platform account
    return is_platform_system(user) or _in_agency(
        user, obj, Role.POLICY_ANALYST, Role.CASEWORKER, Role.SUPERVISOR
    )


@permission(
    "decision.simulate",
    scope="decisions:read",
    description="Re-run a candidate model version over recorded inputs and compare.",
)
def _decision_simulate(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.POLICY_ANALYST, Role.SUPERVISOR)


# --- the master person index (registry) --------------------------------------------------


@permission(
    "feed_mapping.manage",
    scope="registry:write",
    description="Define how an agency's feed maps to the common person schema.",
)
def _feed_mapping_manage(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(user, obj, Role.DATA_STEWARD, Role.AGENCY_ADMIN)


@permission(
    "person.view",
    scope="persons:read",
    description="Search master persons and read a golden record with its provenance.",
)
def _person_view(user: User, obj: Any) -> bool:
    # The index spans agencies; which linked source records a viewer sees is narrowed
    # by source_record.view in the selector.
    return is_platform_admin(user) or bool(
        agencies_where(user, Role.DATA_STEWARD, Role.CASEWORKER, Role.SUPERVISOR)
    )


@permission(
    "person.view_own",
    scope="profile:read",
    description="A citizen reads their own golden record and the agency records behind it.",
)
def _person_view_own(user: User, obj: Any) -> bool:
    # the selector reads only the person the citizen's own account is linked to
    return _is_citizen(user)


@permission(
    "person.review",
    scope="persons:write",
    description="Decide uncertain matches; merge and split persons; undo such changes.",
)
def _person_review(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or bool(agencies_where(user, Role.DATA_STEWARD))


@permission(
    "linkage.manage",
    scope="persons:write",
    description="Train linkage models, run batch linkage and export links.",
)
def _linkage_manage(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or bool(agencies_where(user, Role.DATA_STEWARD))


# --- cases (services as BPMN + DMN + forms) ----------------------------------------------


@permission(
    "service.view",
    scope="cases:read",
    description="See an agency's service definitions and their versions.",
)
def _service_view(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or _in_agency(
        user, obj, Role.POLICY_ANALYST, Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN
    )


@permission(
    "service.deploy",
    scope="cases:write",
    description="Deploy a service version (BPMN, DMN, form) and schedule its activation.",
)
def _service_deploy(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(user, obj, Role.POLICY_ANALYST, Role.AGENCY_ADMIN)


@permission(
    "case.submit",
    scope="cases:write",
    description="Apply for a service: a citizen for themself, staff for the agency's service.",
)
def _case_submit(user: User, obj: Any) -> bool:
    from identity.choices import UserKind

    if user.kind == UserKind.CITIZEN:
        return True  # for themself; the service checks the applicant is the user
    return is_platform_system(user) or _in_agency(user, obj, Role.CASEWORKER, Role.SUPERVISOR)


@permission(
    "case.view",
    scope="cases:read",
    description="Read a case: its applicant, or staff of the agency that runs the service.",
)
def _case_view(user: User, obj: Any) -> bool:
    from identity.choices import UserKind

    if user.kind == UserKind.CITIZEN:
        return obj is ANY_OBJECT or getattr(obj, "applicant_id", None) == user.pk
    return is_platform_admin(user) or _in_agency(
        user, obj, Role.CASEWORKER, Role.SUPERVISOR, Role.POLICY_ANALYST
    )


@permission(
    "work_item.work",
    scope="cases:write",
    description="Claim, release and complete work items of the agency's queues.",
)
def _work_item_work(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.CASEWORKER, Role.SUPERVISOR)


@permission(
    "work_item.assign",
    scope="cases:write",
    description="Reassign work and rebalance queues (supervisors).",
)
def _work_item_assign(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.SUPERVISOR)


@permission(
    "case.override",
    scope="cases:write",
    description="Override an automated decision on a case, with a mandatory reason.",
)
def _case_override(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.CASEWORKER, Role.SUPERVISOR)


# --- calling systems (GovStack Information-Mediator-Client) ------------------------------


@permission(
    "system_client.manage",
    scope="identity:write",
    description="Register an agency's calling systems for the GovStack APIs.",
)
def _system_client_manage(user: User, obj: Any) -> bool:
    return is_platform_admin(user) or _in_agency(user, obj, Role.AGENCY_ADMIN)


# --- consent and exchange ------------------------------------------------------------------


def _is_citizen(user: User) -> bool:
    from identity.choices import UserKind

    return bool(user.kind == UserKind.CITIZEN)


@permission(
    "purpose.manage",
    scope="consent:write",
    description="Register the purposes data may be shared for.",
)
def _purpose_manage(user: User, obj: Any) -> bool:
    return is_platform_admin(user)


@permission(
    "agreement.view",
    scope="consent:read",
    description="See data agreements (what is shared, why, on which basis).",
)
def _agreement_view(user: User, obj: Any) -> bool:
    # Agreements are public information: citizens read them before consenting.
    return True


@permission(
    "agreement.manage",
    scope="consent:write",
    description="Create and revise data agreements of one's agency (as provider).",
)
def _agreement_manage(user: User, obj: Any) -> bool:
    # obj is the providing agency (or an agreement, whose provider decides)
    provider = getattr(obj, "provider_id", None)
    target = provider if provider is not None else obj
    return (
        is_platform_system(user)
        or is_platform_admin(user)
        or _in_agency(user, target, Role.AGENCY_ADMIN)
    )


@permission(
    "consent.manage_own",
    scope="consent:write",
    description="Give, refuse or withdraw one's own consent; download receipts.",
)
def _consent_manage_own(user: User, obj: Any) -> bool:
    # the service checks the person is the citizen's own
    return _is_citizen(user) or is_platform_system(user)


@permission(
    "consent.view",
    scope="consent:read",
    description="See consent records: one's own, or those of one's agency's agreements.",
)
def _consent_view(user: User, obj: Any) -> bool:
    if _is_citizen(user):
        return True  # narrowed to the citizen's own person by the selector
    if is_platform_admin(user):
        return True
    agreement = getattr(obj, "agreement", obj)
    if agreement is ANY_OBJECT:
        return bool(agencies_where(user, Role.AGENCY_ADMIN, Role.CASEWORKER, Role.SUPERVISOR))
    ids = {getattr(agreement, "provider_id", None), getattr(agreement, "consumer_id", None)}
    return bool(ids & agencies_where(user, Role.AGENCY_ADMIN, Role.CASEWORKER, Role.SUPERVISOR))


@permission(
    "data_service.manage",
    scope="exchange:write",
    description="Publish an agency's data services in the catalogue.",
)
def _data_service_manage(user: User, obj: Any) -> bool:
    return (
        is_platform_system(user)
        or is_platform_admin(user)
        or _in_agency(user, obj, Role.AGENCY_ADMIN, Role.DATA_STEWARD)
    )


@permission(
    "data_service.view",
    scope="exchange:read",
    description="Browse the catalogue of data services.",
)
def _data_service_view(user: User, obj: Any) -> bool:
    return not _is_citizen(user)


@permission(
    "exchange.request",
    scope="exchange:write",
    description="Ask for a data service about a person, for one's agency (as consumer).",
)
def _exchange_request(user: User, obj: Any) -> bool:
    # obj is the consuming agency
    return is_platform_system(user) or _in_agency(
        user, obj, Role.CASEWORKER, Role.SUPERVISOR, Role.DATA_STEWARD, Role.AGENCY_ADMIN
    )


@permission(
    "message_log.view",
    scope="audit:read",
    description="Browse the signed message log of exchanges (auditors).",
)
def _message_log_view(user: User, obj: Any) -> bool:
    if is_platform_admin(user):
        return True
    if obj is ANY_OBJECT or obj is None:
        return bool(agencies_where(user, Role.AGENCY_ADMIN))
    ids = {getattr(obj, "consumer_id", None), getattr(obj, "provider_id", None)}
    return bool(ids & agencies_where(user, Role.AGENCY_ADMIN))


@permission(
    "event.subscribe",
    scope="exchange:write",
    description="Subscribe one's agency to change-of-circumstance events.",
)
def _event_subscribe(user: User, obj: Any) -> bool:
    return (
        is_platform_system(user)
        or is_platform_admin(user)
        or _in_agency(user, obj, Role.AGENCY_ADMIN)
    )


@permission(
    "event.publish",
    scope="exchange:write",
    description="Record a change of circumstances as an event (tell us once).",
)
def _event_publish(user: User, obj: Any) -> bool:
    return (
        _is_citizen(user)
        or is_platform_system(user)
        or _in_agency(user, obj, Role.CASEWORKER, Role.SUPERVISOR, Role.DATA_STEWARD)
    )


@permission(
    "event.manage",
    scope="exchange:write",
    description="See deliveries, the dead-letter list, and replay events (operators).",
)
def _event_manage(user: User, obj: Any) -> bool:
    return (
        is_platform_system(user)
        or is_platform_admin(user)
        or _in_agency(user, obj, Role.AGENCY_ADMIN)
    )


@permission(
    "access_log.view_own",
    scope="profile:read",
    description="See who accessed one's own data, when and why.",
)
def _access_log_view_own(user: User, obj: Any) -> bool:
    return _is_citizen(user)


@permission(
    "disclosure.delay",
    scope="consent:write",
    description="Delay a person's view of one's agency's reads during an investigation.",
)
def _disclosure_delay(user: User, obj: Any) -> bool:
    return _in_agency(user, obj, Role.AGENCY_ADMIN, Role.SUPERVISOR)


# --- digital registries ------------------------------------------------------------------


@permission(
    "registry_definition.view",
    scope="registries:read",
    description="See an agency's registry definitions (schemas and versions).",
)
def _registry_definition_view(user: User, obj: Any) -> bool:
    return (
        is_platform_admin(user)
        or is_platform_system(user)
        or _in_agency(
            user,
            obj,
            Role.AGENCY_ADMIN,
            Role.DATA_STEWARD,
            Role.CASEWORKER,
            Role.SUPERVISOR,
            Role.POLICY_ANALYST,
        )
    )


@permission(
    "registry_definition.manage",
    scope="registries:write",
    description="Define an agency's registries: new schema versions, archive a version.",
)
def _registry_definition_manage(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(user, obj, Role.AGENCY_ADMIN, Role.DATA_STEWARD)


@permission(
    "registry_record.view",
    scope="registries:read",
    description="Search and read the records of an agency's registries (audited).",
)
def _registry_record_view(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(
        user, obj, Role.DATA_STEWARD, Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN
    )


@permission(
    "registry_record.manage",
    scope="registries:write",
    description="Create, change, import and delete the records of an agency's registries.",
)
def _registry_record_manage(user: User, obj: Any) -> bool:
    return is_platform_system(user) or _in_agency(
        user, obj, Role.DATA_STEWARD, Role.CASEWORKER, Role.AGENCY_ADMIN
    )


@permission(
    "identity.verify_own",
    scope="profile:write",
    description="Prove one's identity (national ID, date of birth) to link one's account.",
)
def _identity_verify_own(user: User, obj: Any) -> bool:
    return _is_citizen(user) and not getattr(user, "civic_via_token", False)


@permission(
    "personal_data_usage.view_own",
    scope="profile:read",
    description="A citizen sees who read or changed their data in the registries.",
)
def _personal_data_usage_view_own(user: User, obj: Any) -> bool:
    from identity.choices import UserKind

    return user.kind == UserKind.CITIZEN


@permission(
    "consent.record",
    scope="consent:write",
    description="Record a person's consent answer given to one's agency (consumer side).",
)
def _consent_record(user: User, obj: Any) -> bool:
    if is_platform_system(user):
        return True
    consumer = getattr(obj, "consumer_id", None)
    if obj is ANY_OBJECT:
        return bool(agencies_where(user, Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN))
    return consumer is not None and consumer in agencies_where(
        user, Role.CASEWORKER, Role.SUPERVISOR, Role.AGENCY_ADMIN
    )


# --- the citizen portal --------------------------------------------------------------------


@permission(
    "draft.manage_own",
    scope="cases:write",
    description="Save, resume, submit and delete one's own application drafts.",
)
def _draft_manage_own(user: User, obj: Any) -> bool:
    if not _is_citizen(user):
        return False
    return obj is ANY_OBJECT or obj is None or getattr(obj, "applicant_id", None) == user.pk


@permission(
    "case.message",
    scope="cases:write",
    description="Read and write a case's conversation: its applicant, or the caseworkers "
    "and supervisors of the agency that runs it.",
)
def _case_message(user: User, obj: Any) -> bool:
    if _is_citizen(user):
        return obj is ANY_OBJECT or getattr(obj, "applicant_id", None) == user.pk
    return _in_agency(user, obj, Role.CASEWORKER, Role.SUPERVISOR)


@permission(
    "satisfaction.give_own",
    scope="cases:write",
    description="Say how satisfied one was with a service, once per completed case of one's own.",
)
def _satisfaction_give_own(user: User, obj: Any) -> bool:
    if not _is_citizen(user):
        return False
    return obj is ANY_OBJECT or obj is None or getattr(obj, "applicant_id", None) == user.pk
