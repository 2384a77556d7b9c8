"""CivicStack's agreements and consents in the shapes of the GovStack Consent API.

GovStack `DataAgreement` is an agreement with its version in force (`version` is the
version number as a string); a `Revision` of it is one sealed `DataAgreementVersion`;
`Policy` is the policy URL and retention of a version, named by the agreement's id;
`ConsentRecord` is a person's record, `state` "signed" because the platform signs every
revision (Ed25519 over the SHA-256 of the canonical snapshot); a `Revision` of it is one
`ConsentRevision`; `Individual` is a master person, by person id.

Keys not in the specification (`code`, `consumer`, `purposeCode`, `dataAttributes`,
`validFrom`, `validUntil`, `consentState`, `valid`, `chainCheck`, ...) are additions the
specification's open objects allow.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from consent import selectors
from consent.choices import ConsentChannel, ConsentState
from consent.errors import AgreementNotInForce, PersonNotLinked
from consent.models import (
    ConsentRecord,
    ConsentRevision,
    ConsentWebhook,
    DataAgreement,
    DataAgreementVersion,
)
from core import signing
from core.errors import ApplicationError, NotFound, PermissionDenied
from identity.models import User
from registry.models import Person

INDIVIDUAL_HEADER = "X-ConsentBB-IndividualId"
PERSON_ID = re.compile(r"^P[0-9A-HJKMNP-TV-Z]{12}$")
VERIFICATION_METHOD = "Ed25519"
HASH_ALGORITHM = "SHA-256"
DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MASKED_SECRET = "********"


class MalformedId(ApplicationError):
    code = "malformed_id"
    status = 400
    title = "An id in the request is malformed"


class NotSupported(ApplicationError):
    code = "not_supported"
    status = 501
    title = "CivicStack does not support this operation"


class IndividualRequired(ApplicationError):
    code = "individual_required"
    status = 400
    title = "Name the individual"


class StaleRevision(ApplicationError):
    code = "stale_revision"
    status = 409
    title = "The agreement's version in force is not the one named"


# --- ids -------------------------------------------------------------------------------


def parse_uuid(value: str | None, *, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise MalformedId(
            f"{name} must be a UUID, such as 3f2c8a4e-1b7d-4c1e-9a55-0f6b2d7c9e10.",
            errors={name: ["not a UUID"]},
        ) from None


def parse_person_id(value: str, *, name: str = "individualId") -> str:
    if not PERSON_ID.match(value):
        raise MalformedId(
            f"{name} must be a person id: 'P' and 12 characters of Crockford base32.",
            errors={name: ["not a person id"]},
        )
    return value


def user_of(request: HttpRequest) -> User:
    return request.user  # type: ignore[return-value]


def individual_id_of(request: HttpRequest, query_value: str | None) -> str | None:
    """The individual id from the query parameter or the header (both are published)."""
    header = request.headers.get(INDIVIDUAL_HEADER)
    values = {v.strip() for v in (query_value, header) if v is not None and v.strip()}
    if len(values) > 1:
        raise MalformedId(
            f"individualId and the {INDIVIDUAL_HEADER} header name different individuals.",
            errors={"individualId": ["differs from the header"]},
        )
    return parse_person_id(values.pop()) if values else None


def individual_of(
    request: HttpRequest, query_value: str | None, *, required: bool = True
) -> Person | None:
    """The named person; a citizen who names nobody means themself, and only themself."""
    raw = individual_id_of(request, query_value)
    user = user_of(request)
    if user.is_citizen:
        from registry.services.citizens import citizen_person

        own = citizen_person(user=user)
        if own is None:
            raise PersonNotLinked("Verify your identity first: your account has no person yet.")
        if raw is not None and raw != own.pk:
            raise PermissionDenied("A citizen acts for themself only.")
        return own
    if raw is None:
        if required:
            raise IndividualRequired(
                f"Send the individual's id as the individualId query parameter or the "
                f"{INDIVIDUAL_HEADER} header.",
                errors={"individualId": ["required"]},
            )
        return None
    person = Person.objects.filter(pk=raw).first()
    if person is None:
        raise NotFound(f"No individual {raw}.")
    return person


def agreement_of(request: HttpRequest, raw: str, *, name: str = "dataAgreementId") -> DataAgreement:
    return selectors.agreement_get(viewer=user_of(request), agreement_id=parse_uuid(raw, name=name))


def current_version(agreement: DataAgreement) -> DataAgreementVersion:
    """The version in force; when none is, the latest (shown as not active)."""
    try:
        return selectors.agreement_version_in_force(agreement=agreement)
    except AgreementNotInForce:
        latest = selectors.agreement_versions(agreement=agreement).first()
        assert latest is not None  # every agreement is created with a version
        return latest


def version_of(agreement: DataAgreement, revision_id: str | None) -> DataAgreementVersion:
    """The version named by ``revisionId`` (a version's id), or the current one."""
    if revision_id is None or not revision_id.strip():
        return current_version(agreement)
    wanted = parse_uuid(revision_id, name="revisionId")
    found = selectors.agreement_versions(agreement=agreement).filter(pk=wanted).first()
    if found is None:
        raise NotFound(f"Agreement {agreement.pk} has no revision {wanted}.")
    return found


def in_force_version(agreement: DataAgreement, revision_id: str | None) -> DataAgreementVersion:
    """The version in force, which must be the one named by ``revisionId`` if sent."""
    version = selectors.agreement_version_in_force(agreement=agreement)
    if revision_id is not None and revision_id.strip():
        named = version_of(agreement, revision_id)
        if named.pk != version.pk:
            raise StaleRevision(
                f"Consent is given to the version in force ({version.version}, revision "
                f"{version.pk}), not to version {named.version}.",
                revisionId=str(version.pk),
            )
    return version


def page_bounds(offset: int | None, limit: int | None) -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    offset = 0 if offset is None else offset
    limit = DEFAULT_LIMIT if limit is None else limit
    if offset < 0:
        errors["offset"] = ["0 or more"]
    if not 1 <= limit <= MAX_LIMIT:
        errors["limit"] = [f"between 1 and {MAX_LIMIT}"]
    if errors:
        raise MalformedId("offset and limit are out of range.", errors=errors)
    return offset, limit


def pagination(*, offset: int, limit: int, total: int) -> dict[str, Any]:
    return {
        "offset": offset,
        "limit": limit,
        "totalItems": total,
        "currentPage": offset // limit + 1,
        "totalPages": max(1, math.ceil(total / limit)),
        "hasPrevious": offset > 0,
        "hasNext": offset + limit < total,
    }


# --- shapes ------------------------------------------------------------------------------


def individual(person: Person) -> dict[str, Any]:
    return {"id": person.pk}


def policy(version: DataAgreementVersion) -> dict[str, Any]:
    agreement = version.agreement
    return {
        "id": str(agreement.pk),
        "name": f"Policy of {agreement.code}",
        "version": str(version.version),
        "url": version.policy_url,
        "industrySector": "public sector",
        "dataRetentionPeriodDays": version.retention_days,
        "revisionId": str(version.pk),
    }


def _seal_signature(
    *, object_id: str, snapshot: str, hash_: str, key_id: str, value: str, at: Any
) -> dict[str, Any]:
    # Ed25519 signs the SHA-256 hex digest of the canonical snapshot: that digest is the
    # payload, the snapshot is what it verifies.
    return {
        "id": object_id,
        "payload": hash_,
        "signature": value,
        "verificationMethod": VERIFICATION_METHOD,
        "verificationPayload": snapshot,
        "verificationPayloadHash": hash_,
        "verificationSignedBy": key_id,
        "timestamp": at.isoformat(),
        "signedWithoutObjectReference": False,
        "objectType": "revision",
        "objectReference": object_id,
    }


def version_signature(version: DataAgreementVersion) -> dict[str, Any]:
    return _seal_signature(
        object_id=str(version.pk),
        snapshot=version.snapshot,
        hash_=version.snapshot_hash,
        key_id=version.key_id,
        value=version.signature,
        at=version.created_at,
    )


def data_agreement(version: DataAgreementVersion) -> dict[str, Any]:
    agreement = version.agreement
    active = version.in_force() and current_version(agreement).pk == version.pk
    return {
        "id": str(agreement.pk),
        "version": str(version.version),
        "code": agreement.code,
        "controller": {
            "id": agreement.provider.code,
            "name": agreement.provider.name,
            "url": "",
        },
        "consumer": {"id": agreement.consumer.code, "name": agreement.consumer.name},
        "policy": policy(version),
        "purpose": version.purpose_text,
        "purposeCode": version.purpose.code,
        "lawfulBasis": version.lawful_basis,
        "dataUse": "data_source",
        "dpia": version.dpia,
        "active": active,
        "forgettable": version.forgettable,
        "lifecycle": {"id": "complete", "name": "Complete"},
        "signature": version_signature(version),
        "dataAttributes": [
            {
                "id": f"{agreement.pk}:{name}",
                "name": name,
                "sensitivity": "personal",
                "category": name.split(".", 1)[0] if "." in name else "",
            }
            for name in version.attributes
        ],
        "validFrom": version.valid_from.isoformat(),
        "validUntil": version.valid_until.isoformat() if version.valid_until else None,
    }


def version_revision(
    version: DataAgreementVersion, previous: DataAgreementVersion | None
) -> dict[str, Any]:
    return {
        "id": str(version.pk),
        "schemaName": "DataAgreement",
        "objectId": str(version.agreement_id),
        "signedWithoutObjectId": False,
        "serializedSnapshot": version.snapshot,
        "serializedHash": version.snapshot_hash,
        "hashAlgorithm": HASH_ALGORITHM,
        "timestamp": version.created_at.isoformat(),
        "authorizedByOther": version.created_by.get_username() if version.created_by else "",
        "predecessorHash": previous.snapshot_hash if previous else "",
        "predecessorSignature": previous.signature if previous else "",
    }


def agreement_revision(version: DataAgreementVersion) -> dict[str, Any]:
    previous = (
        DataAgreementVersion.objects.filter(
            agreement_id=version.agreement_id, version=version.version - 1
        )
        .only("snapshot_hash", "signature")
        .first()
    )
    return version_revision(version, previous)


def agreement_revisions(agreement: DataAgreement) -> list[dict[str, Any]]:
    """Every version, oldest first, each with its seal check."""
    versions = list(selectors.agreement_versions(agreement=agreement).select_related("created_by"))
    versions.reverse()
    out = []
    previous = None
    for version in versions:
        reason = selectors.agreement_seal_check(version=version)
        out.append(
            version_revision(version, previous)
            | {"version": str(version.version), "sealCheck": {"ok": not reason, "reason": reason}}
        )
        previous = version
    return out


def consent_revision(revision: ConsentRevision, previous: ConsentRevision | None) -> dict[str, Any]:
    record = revision.record
    by_individual = revision.channel != ConsentChannel.STAFF and (
        revision.actor is not None and revision.actor.is_citizen
    )
    shape: dict[str, Any] = {
        "id": str(revision.pk),
        "schemaName": "ConsentRecord",
        "objectId": str(record.pk),
        "signedWithoutObjectId": False,
        "serializedSnapshot": revision.snapshot,
        "serializedHash": revision.hash,
        "hashAlgorithm": HASH_ALGORITHM,
        "timestamp": revision.created_at.isoformat(),
        "predecessorHash": revision.prev_hash,
        "predecessorSignature": previous.signature if previous else "",
        "consentState": revision.state,
        "channel": revision.channel,
    }
    if by_individual:
        shape["authorizedByIndividual"] = {"id": record.person_id}
    else:
        shape["authorizedByOther"] = revision.actor_label
    return shape


def _revisions(record: ConsentRecord) -> list[ConsentRevision]:
    return list(selectors.consent_revisions(record=record).select_related("actor"))


def latest_revision(record: ConsentRecord) -> dict[str, Any]:
    revisions = _revisions(record)
    previous = revisions[-2] if len(revisions) > 1 else None
    return consent_revision(revisions[-1], previous)


def _in_force_or_none(agreement: DataAgreement) -> DataAgreementVersion | None:
    try:
        return selectors.agreement_version_in_force(agreement=agreement)
    except AgreementNotInForce:
        return None


def _cached(memo: dict[Any, Any], key: Any, make: Callable[[], Any]) -> Any:
    if key not in memo:
        memo[key] = make()
    return memo[key]


def consent_record(
    record: ConsentRecord,
    *,
    with_validity: bool = False,
    with_history: bool = False,
    memo: dict[Any, Any] | None = None,
) -> dict[str, Any]:
    """The record's GovStack shape. ``memo`` (one dict per request) shares the shapes of
    agreements among the records of a list, which mostly name the same few."""
    memo = {} if memo is None else memo
    version = record.agreement_version
    revisions = _revisions(record)
    latest = revisions[-1]
    shape: dict[str, Any] = {
        "id": str(record.pk),
        "dataAgreement": _cached(memo, ("agreement", version.pk), lambda: data_agreement(version)),
        "dataAgreementRevision": _cached(
            memo, ("revision", version.pk), lambda: agreement_revision(version)
        ),
        "dataAgreementRevisionHash": version.snapshot_hash,
        "individual": {"id": record.person_id},
        "optIn": record.state == ConsentState.GIVEN,
        "state": "signed",
        "consentState": record.state,
        "revision": record.revision,
        "updatedAt": record.updated_at.isoformat(),
        "signature": _seal_signature(
            object_id=str(latest.pk),
            snapshot=latest.snapshot,
            hash_=latest.hash,
            key_id=latest.key_id,
            value=latest.signature,
            at=latest.created_at,
        ),
    }
    if with_validity:
        in_force = _cached(
            memo, ("in_force", record.agreement_id), lambda: _in_force_or_none(record.agreement)
        )
        valid, reason = selectors.consent_valid(record=record, in_force=in_force)
        shape["valid"] = valid
        shape["validReason"] = reason
    if with_history:
        check = selectors.consent_chain_verify(record=record)
        shape["revisions"] = [
            consent_revision(r, revisions[i - 1] if i else None) for i, r in enumerate(revisions)
        ]
        shape["chainCheck"] = {"ok": check.ok, "checked": check.checked, "reason": check.reason}
    return shape


def draft(
    *, person: Person, version: DataAgreementVersion
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An unsaved consent record and the unsigned signature object for it."""
    record = {
        "dataAgreement": data_agreement(version),
        "dataAgreementRevision": agreement_revision(version),
        "dataAgreementRevisionHash": version.snapshot_hash,
        "individual": {"id": person.pk},
        "optIn": True,
        "state": "unsigned",
    }
    payload = signing.canonical_bytes(
        {
            "dataAgreementId": str(version.agreement_id),
            "dataAgreementRevisionHash": version.snapshot_hash,
            "individualId": person.pk,
            "optIn": True,
        }
    )
    signature = {
        "id": "",
        "payload": "",
        "signature": "",
        "verificationMethod": VERIFICATION_METHOD,
        "verificationPayload": payload.decode(),
        "verificationPayloadHash": hashlib.sha256(payload).hexdigest(),
        "verificationSignedBy": "",
        "timestamp": timezone.now().isoformat(),
        "signedWithoutObjectReference": True,
        "objectType": "revision",
    }
    return record, signature


def webhook(hook: ConsentWebhook, *, reveal_secret: bool = False) -> dict[str, Any]:
    return {
        "id": str(hook.pk),
        "payloadUrl": hook.payload_url,
        "contentType": hook.content_type,
        "disabled": hook.disabled,
        "secretKey": hook.secret if reveal_secret else MASKED_SECRET,
        "events": list(hook.events),
        "organisation": hook.agency.code,
    }
