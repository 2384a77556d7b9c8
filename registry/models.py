"""People as the agencies' source systems hold them, and the master person index over them.

A `SourceRecord` is one agency's copy of one person, mapped to the common person schema
and kept as the source gave it (typos included), with standardised copies of the fields
linkage compares (`std_*`). The master person index is built on top and never edits the
source values, so every golden field can point back at its source.

Feeds: an agency's `FeedMapping` (versioned) maps its columns to the common schema; each
load is an `IngestBatch`; a row that fails validation is kept as a `RejectedRow` with its
errors until it is corrected and sent again; an update keeps the previous values as a
`SourceRecordVersion`.

Linkage: a `LinkageModel` is a trained, versioned Splink model; a `LinkRun` clusters the
records into `Person`s; every change of a record's person is a `MembershipEvent`;
uncertain pairs wait as `MatchCandidate`s for a data steward.
"""

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import BlindIndexField, BlindKeysField, EncryptedTextField
from identity.models import NATIONAL_ID_INDEX, Agency
from registry.choices import Sex
from registry.identifiers import one_edit_keys


class SourceRecord(models.Model):
    agency = models.ForeignKey(
        Agency, on_delete=models.PROTECT, related_name="source_records", verbose_name=_("agency")
    )
    agency_record_id = models.CharField(
        _("agency record id"), max_length=64, help_text=_("The key in the agency's own system.")
    )
    given_name = models.CharField(_("given name"), max_length=100, blank=True, default="")
    middle_name = models.CharField(_("middle name"), max_length=100, blank=True, default="")
    family_name = models.CharField(_("family name"), max_length=100, blank=True, default="")
    previous_family_name = models.CharField(
        _("previous family name"), max_length=100, blank=True, default=""
    )
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    date_of_birth_raw = models.CharField(
        _("date of birth as given"),
        max_length=40,
        blank=True,
        default="",
        help_text=_("What the source sent when it was not a valid date."),
    )
    sex = models.CharField(_("sex"), max_length=1, choices=Sex.choices, blank=True, default="")
    address_line = models.CharField(_("address"), max_length=200, blank=True, default="")
    locality = models.CharField(_("town"), max_length=100, blank=True, default="")
    postcode = models.CharField(_("postcode"), max_length=16, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=32, blank=True, default="")
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    national_id = EncryptedTextField(_("national ID"), blank=True, default="")
    # Shared with identity.User, so an account matches its person's records.
    national_id_index = BlindIndexField(source="national_id", context=NATIONAL_ID_INDEX)
    # Blind indexes of the national ID's one-edit keys: linkage finds a mistyped ID
    # without decrypting it (registry.identifiers.one_edit_keys).
    national_id_near = BlindKeysField(
        source="national_id", context="person.national_id.near", keys=one_edit_keys
    )
    household_ref = models.CharField(
        _("household reference"),
        max_length=64,
        blank=True,
        default="",
        help_text=_("The source's own household or address key, if it has one."),
    )
    extra = models.JSONField(
        _("agency-specific attributes"),
        default=dict,
        blank=True,
        help_text=_("What only this agency records, e.g. a tax reference or GP practice."),
    )
    source_updated_at = models.DateTimeField(
        _("updated at source"),
        null=True,
        blank=True,
        help_text=_("When the source last changed it."),
    )
    loaded_at = models.DateTimeField(_("loaded"), default=timezone.now)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    # --- standardised for linkage (registry.standardise; never shown as the source's words)
    std_given_name = models.CharField(max_length=100, blank=True, default="")
    std_given_name_root = models.CharField(
        max_length=100,
        blank=True,
        default="",
        help_text=_("The given name with nicknames resolved."),
    )
    std_family_name = models.CharField(max_length=100, blank=True, default="")
    std_address = models.CharField(max_length=200, blank=True, default="")
    std_postcode = models.CharField(max_length=16, blank=True, default="")
    std_phone = models.CharField(max_length=20, blank=True, default="", help_text=_("E.164"))
    std_email = models.CharField(max_length=254, blank=True, default="")

    # --- history and the index
    version = models.PositiveIntegerField(_("version"), default=1)
    batch = models.ForeignKey(
        "IngestBatch",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="records",
        verbose_name=_("last loaded by"),
    )
    person = models.ForeignKey(
        "Person",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="records",
        verbose_name=_("master person"),
    )

    class Meta:
        verbose_name = _("source record")
        verbose_name_plural = _("source records")
        ordering = ["agency_id", "agency_record_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "agency_record_id"], name="registry_source_record_unique_id"
            ),
        ]
        indexes = [
            models.Index(fields=["agency", "family_name"], name="registry_src_agency_family"),
            models.Index(fields=["postcode"], name="registry_src_postcode"),
            # candidate lookups of real-time matching
            models.Index(fields=["date_of_birth"], name="registry_src_dob"),
            models.Index(fields=["std_family_name", "date_of_birth"], name="registry_src_fam_dob"),
            models.Index(fields=["std_postcode"], name="registry_src_std_postcode"),
            models.Index(fields=["national_id_index"], name="registry_src_nid_index"),
            # a person's record at one agency (the exchange's providers, pre-fill)
            models.Index(fields=["person", "agency"], name="registry_src_person_agency"),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id}:{self.agency_record_id}"

    @property
    def full_name(self) -> str:
        return " ".join(p for p in (self.given_name, self.middle_name, self.family_name) if p)


class SourceRecordVersion(models.Model):
    """The values a source record had before an update replaced them."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField(_("version"))
    # The common-schema values as JSON, encrypted: they include the national ID.
    values = EncryptedTextField(_("values"), context="registry.source_record_version")
    batch = models.ForeignKey(
        "IngestBatch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replaced_at = models.DateTimeField(_("replaced"), default=timezone.now)

    class Meta:
        verbose_name = _("source record version")
        ordering = ["record_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "version"], name="registry_record_version_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} v{self.version}"


class FeedMapping(models.Model):
    """How an agency's feed maps to the common person schema (one active version at a time)."""

    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="feed_mappings")
    version = models.PositiveIntegerField(_("version"))
    spec = models.JSONField(_("mapping"), help_text=_("The parsed, validated mapping."))
    source_text = models.TextField(_("as written"), blank=True, default="")
    active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("feed mapping")
        ordering = ["agency_id", "-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["agency", "version"], name="registry_feed_mapping_unique_version"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.agency_id} mapping v{self.version}"


class BatchChannel(models.TextChoices):
    UPLOAD = "upload", _("File upload")
    API = "api", _("API")
    COMMAND = "command", _("Command line")
    SEED = "seed", _("Demo seed")
    CORRECTION = "correction", _("Corrected rows")


class BatchStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    RUNNING = "running", _("Loading")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class IngestBatch(models.Model):
    """One load of an agency's records, with its progress and counts."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="ingest_batches")
    mapping = models.ForeignKey(
        FeedMapping, null=True, blank=True, on_delete=models.PROTECT, related_name="batches"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=BatchChannel.choices)
    filename = models.CharField(_("file"), max_length=255, blank=True, default="")
    status = models.CharField(
        _("status"), max_length=16, choices=BatchStatus.choices, default=BatchStatus.PENDING
    )
    total_rows = models.PositiveIntegerField(_("rows"), null=True, blank=True)
    processed_rows = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("created"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    unchanged_count = models.PositiveIntegerField(_("unchanged"), default=0)
    rejected_count = models.PositiveIntegerField(_("rejected"), default=0)
    error = models.TextField(_("error"), blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("ingest batch")
        verbose_name_plural = _("ingest batches")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.agency_id} {self.channel} {self.created_at:%Y-%m-%d %H:%M}"


class RejectedRowStatus(models.TextChoices):
    OPEN = "open", _("Waiting for correction")
    RESOLVED = "resolved", _("Corrected and loaded")
    DISMISSED = "dismissed", _("Dismissed")


class RejectedRow(models.Model):
    """A row that failed validation: kept, with its errors, until corrected and sent again."""

    batch = models.ForeignKey(IngestBatch, on_delete=models.CASCADE, related_name="rejected_rows")
    agency = models.ForeignKey(Agency, on_delete=models.PROTECT, related_name="+")
    row_number = models.PositiveIntegerField(_("row"))
    agency_record_id = models.CharField(max_length=64, blank=True, default="")
    # The row as it arrived (JSON), encrypted: it is personal data.
    raw = EncryptedTextField(_("row as sent"), context="registry.rejected_row")
    errors = models.JSONField(_("errors"), help_text=_("[{field, message}]"))
    status = models.CharField(
        max_length=16, choices=RejectedRowStatus.choices, default=RejectedRowStatus.OPEN
    )
    resolved_by = models.ForeignKey(
        IngestBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("rejected row")
        ordering = ["batch_id", "row_number"]
        indexes = [
            models.Index(fields=["agency", "status"], name="registry_rejected_open"),
        ]

    def __str__(self) -> str:
        return f"batch {self.batch_id} row {self.row_number}"


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_person_id() -> str:
    """A master person id: "P" and 12 characters of Crockford base32 (60 random bits)."""
    bits = secrets.randbits(60)  # one call: a link run makes hundreds of thousands
    return "P" + "".join(_CROCKFORD[(bits >> shift) & 31] for shift in range(55, -1, -5))


class Person(models.Model):
    """A master person: a cluster of source records, with a golden record."""

    id = models.CharField(primary_key=True, max_length=16, default=new_person_id, editable=False)
    # The golden record: {field: {"value", "agency", "record", "updated_at"}}, encrypted
    # because it holds the national ID; the searchable columns below are copies.
    golden = EncryptedTextField(
        _("golden record"), context="registry.person", blank=True, default=""
    )
    given_name = models.CharField(_("given name"), max_length=100, blank=True, default="")
    family_name = models.CharField(_("family name"), max_length=100, blank=True, default="")
    date_of_birth = models.DateField(_("date of birth"), null=True, blank=True)
    std_given_name = models.CharField(max_length=100, blank=True, default="")
    std_family_name = models.CharField(max_length=100, blank=True, default="")
    # a person no longer in the index (merged into another, or emptied) keeps its id
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("person")
        verbose_name_plural = _("people")
        ordering = ["id"]
        indexes = [
            models.Index(
                fields=["std_family_name", "date_of_birth"], name="registry_person_fam_dob"
            ),
            models.Index(fields=["date_of_birth"], name="registry_person_dob"),
        ]

    def __str__(self) -> str:
        return self.id


class LinkageModel(models.Model):
    """A trained linkage model (Splink settings with m and u), versioned."""

    version = models.PositiveIntegerField(_("version"), unique=True)
    engine = models.CharField(_("trained on"), max_length=16, default="duckdb")
    splink_model = models.JSONField(_("Splink model"))
    match_threshold = models.FloatField(
        _("clustering threshold"), default=0.95, help_text=_("Match probability to join a person.")
    )
    review_threshold = models.FloatField(
        _("review threshold"), default=0.5, help_text=_("Below it a record is a new person.")
    )
    records = models.PositiveIntegerField(_("records trained on"), default=0)
    active = models.BooleanField(_("active"), default=True)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    trained_at = models.DateTimeField(_("trained"), default=timezone.now)

    class Meta:
        verbose_name = _("linkage model")
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"linkage model v{self.version}"


class LinkRun(models.Model):
    """One batch linkage: predict, cluster, assign stable person ids."""

    model = models.ForeignKey(LinkageModel, on_delete=models.PROTECT, related_name="runs")
    engine = models.CharField(_("engine"), max_length=16, default="duckdb")
    status = models.CharField(
        max_length=16, choices=BatchStatus.choices, default=BatchStatus.RUNNING
    )
    records = models.PositiveIntegerField(default=0)
    pairs = models.PositiveIntegerField(_("pairs scored"), default=0)
    persons = models.PositiveIntegerField(default=0)
    persons_created = models.PositiveIntegerField(default=0)
    persons_retired = models.PositiveIntegerField(default=0)
    membership_changes = models.PositiveIntegerField(default=0)
    review_pairs = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0)
    error = models.TextField(blank=True, default="")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("link run")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"link run {self.pk} ({self.status})"


class MembershipReason(models.TextChoices):
    LINK_RUN = "link_run", _("Batch linkage")
    REALTIME = "realtime", _("Matched on arrival")
    REVIEW = "review", _("Clerical review")
    MERGE = "merge", _("Merged by a data steward")
    SPLIT = "split", _("Split by a data steward")
    UNDO = "undo", _("Undone")


class MembershipEvent(models.Model):
    """A source record changed person (or got its first). Events of one action share `action`."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="memberships")
    from_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    to_person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=16, choices=MembershipReason.choices)
    action = models.UUIDField(_("action"), default=uuid.uuid4, db_index=True)
    run = models.ForeignKey(
        LinkRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    note = models.CharField(max_length=500, blank=True, default="")
    undone = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("membership event")
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.from_person_id} -> {self.to_person_id}"


class CandidateStatus(models.TextChoices):
    OPEN = "open", _("Waiting for review")
    ACCEPTED = "accepted", _("Same person")
    REJECTED = "rejected", _("Different people")
    SUPERSEDED = "superseded", _("No longer relevant")


class MatchCandidate(models.Model):
    """An uncertain pair for clerical review: a record and the closest record of a person."""

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    match_probability = models.FloatField()
    match_weight = models.FloatField()
    # [{"comparison", "level", "weight"}] from the model: what agreed and how much it counted
    explanation = models.JSONField(default=list)
    origin = models.CharField(max_length=16, choices=MembershipReason.choices)
    model = models.ForeignKey(
        LinkageModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=CandidateStatus.choices, default=CandidateStatus.OPEN
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("match candidate")
        ordering = ["-match_probability", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "other"], name="registry_candidate_unique_pair"
            ),
        ]
        indexes = [models.Index(fields=["status", "-match_probability"], name="registry_cand_open")]

    def __str__(self) -> str:
        return f"{self.record_id} ~ {self.other_id} ({self.match_probability:.3f})"


class PairRule(models.TextChoices):
    SAME = "same", _("Same person")
    DIFFERENT = "different", _("Different people")


class LinkConstraint(models.Model):
    """A data steward's word on two records, which batch linkage keeps to.

    Written by clerical review: an accepted pair and a merge say "same person" (must-link),
    a rejected pair and a split say "different people" (cannot-link). For each pair the
    latest active row counts; undoing an action deactivates the rows it wrote.
    """

    record = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    other = models.ForeignKey(SourceRecord, on_delete=models.CASCADE, related_name="+")
    rule = models.CharField(max_length=16, choices=PairRule.choices)
    reason = models.CharField(max_length=16, choices=MembershipReason.choices)
    action = models.UUIDField(null=True, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("link constraint")
        ordering = ["record_id", "other_id", "-at", "-id"]
        indexes = [
            models.Index(fields=["record", "other"], name="registry_constraint_pair"),
            models.Index(fields=["other"], name="registry_constraint_other"),
        ]

    def __str__(self) -> str:
        return f"{self.record_id} {self.rule} {self.other_id}"
