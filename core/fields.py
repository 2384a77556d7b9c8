"""Model fields for sensitive values: encrypted at rest, found again by a blind index.

::

    national_id = EncryptedTextField(blank=True, default="")
    national_id_index = BlindIndexField(source="national_id")

    User.objects.filter(national_id_index=lookup_value(User, "national_id", "ab 12-34"))

In Python the encrypted field holds plaintext; the database holds a token (see core.crypto).
Empty values ("" and None) are stored as they are. The blind index is computed on every
``save()``: a ``save(update_fields=[...])`` or ``QuerySet.update()`` that changes the
source must change the index too (``update_fields=["national_id", "national_id_index"]``).
"""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import FieldError
from django.db import models
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model

from core import crypto


class EncryptedFieldLookupError(FieldError):
    """Encrypted values are randomised: the database cannot compare them."""


def _context_of(model: type[Model], name: str) -> str:
    return f"{model._meta.label_lower}.{name}"


class EncryptedTextField(models.TextField):
    """Plaintext in Python, an AES-GCM token in the database.

    The associated data is ``<app_label>.<model>.<field>`` so a token does not open in
    another column. Renaming the model or field changes it: pin the old one with
    ``context="..."`` before renaming.
    """

    description = "Text encrypted at rest"

    def __init__(self, *args: Any, context: str | None = None, **kwargs: Any) -> None:
        self._explicit_context = context
        self.context = context or ""
        super().__init__(*args, **kwargs)

    def contribute_to_class(self, cls: type[Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        self.context = self._explicit_context or _context_of(cls, name)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if self._explicit_context:
            kwargs["context"] = self._explicit_context
        return name, path, args, kwargs

    def from_db_value(
        self, value: str | None, expression: Any, connection: BaseDatabaseWrapper
    ) -> str | None:
        if not value:
            return value
        return crypto.decrypt(value, context=self.context)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return crypto.encrypt(str(value), context=self.context)

    def _refuse(self, lookup_name: str) -> EncryptedFieldLookupError:
        model = getattr(self, "model", None)
        label = f"{model._meta.label}.{self.name}" if model else self.name
        index = _index_field_for(model, self.name) if model else None
        hint = (
            f"filter on {index.name}=lookup_value({model.__name__}, {self.name!r}, value)"
            if model and index
            else "add a BlindIndexField(source=...) and filter on it"
        )
        return EncryptedFieldLookupError(
            f"{label} is encrypted, so the database cannot compare it ({lookup_name!r}): "
            f"{hint}. Only 'isnull' is supported."
        )

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        raise self._refuse(lookup_name)

    def get_transform(self, lookup_name: str) -> Any:
        raise self._refuse(lookup_name)


_INDEX_DEFAULTS: dict[str, Any] = {
    "max_length": 64,
    "db_index": True,
    "null": True,
    "blank": True,
    "editable": False,
}
_DJANGO_DEFAULTS: dict[str, Any] = {
    "max_length": None,
    "db_index": False,
    "null": False,
    "blank": False,
    "editable": True,
}


class BlindIndexField(models.CharField):
    """HMAC-SHA256 of another field's normalised plaintext, kept in step on ``save()``.

    Empty source, NULL index. The context defaults to the source field's (so the same
    identifier has different indexes in different columns); give two columns the same
    ``context`` when their indexes must be comparable, e.g. to join on them.
    """

    description = "Blind index of an encrypted field"

    def __init__(
        self,
        *args: Any,
        source: str,
        context: str | None = None,
        normaliser: crypto.Normaliser = crypto.normalise_identifier,
        **kwargs: Any,
    ) -> None:
        self.source = source
        self._explicit_context = context
        self.context = context or ""
        self.normaliser = normaliser
        super().__init__(*args, **{**_INDEX_DEFAULTS, **kwargs})

    def contribute_to_class(self, cls: type[Model], name: str, private_only: bool = False) -> None:
        super().contribute_to_class(cls, name, private_only=private_only)
        self.context = self._explicit_context or _context_of(cls, self.source)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        # Leave out what equals our defaults; spell out what Django left out as equal to its
        # own defaults, which differ from ours.
        for key, ours in _INDEX_DEFAULTS.items():
            if key not in kwargs:
                kwargs[key] = _DJANGO_DEFAULTS[key]
            elif kwargs[key] == ours:
                del kwargs[key]
        kwargs["source"] = self.source
        if self._explicit_context:
            kwargs["context"] = self._explicit_context
        if self.normaliser is not crypto.normalise_identifier:
            kwargs["normaliser"] = self.normaliser
        return name, path, args, kwargs

    def index_for(self, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return crypto.blind_index(value, context=self.context, normaliser=self.normaliser)

    def pre_save(self, model_instance: Model, add: bool) -> str | None:
        value = self.index_for(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


class BlindKeysField(models.TextField):
    """Blind indexes of several keys derived from another field's normalised plaintext,
    space-separated, kept in step on ``save()`` (and ``bulk_create``).

    ``keys`` (a module-level function, so migrations can name it) turns the normalised
    value into its keys, e.g. the one-edit keys that let linkage find a mistyped national
    ID (`registry.identifiers.one_edit_keys`). Each key is HMACed under ``context``; only
    equality of keys can be tested, never a key read back.
    """

    description = "Blind indexes of keys of an encrypted field"

    def __init__(
        self,
        *args: Any,
        source: str,
        context: str,
        keys: Callable[[str], list[str]],
        **kwargs: Any,
    ) -> None:
        self.source = source
        self.context = context
        self.keys = keys
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        for key, ours in (("blank", True), ("default", ""), ("editable", False)):
            if kwargs.get(key) == ours:
                del kwargs[key]
        kwargs.update(source=self.source, context=self.context, keys=self.keys)
        return name, path, args, kwargs

    def value_for(self, value: str | None) -> str:
        normalised = crypto.normalise_identifier(value or "")
        if not normalised:
            return ""
        return " ".join(
            crypto.blind_indexes(self.keys(normalised), context=self.context, normaliser=_as_is)
        )

    def pre_save(self, model_instance: Model, add: bool) -> str:
        value = self.value_for(getattr(model_instance, self.source))
        setattr(model_instance, self.attname, value)
        return value


def _as_is(value: str) -> str:
    return value


def _index_field_for(model: type[Model], field_name: str) -> BlindIndexField | None:
    for field in model._meta.get_fields():
        if isinstance(field, BlindIndexField) and field_name in (field.source, field.name):
            return field
    return None


def lookup_value(model: type[Model], field_name: str, value: str) -> str:
    """The blind index to filter on for ``value`` of ``model.field_name``.

    ``field_name`` is the encrypted field or its index field. Raises ``FieldError`` when
    the field has no blind index.
    """
    field = _index_field_for(model, field_name)
    if field is None:
        raise FieldError(f"{model._meta.label}.{field_name} has no BlindIndexField.")
    index = field.index_for(value)
    if index is None:
        raise FieldError("An empty value has no blind index; filter on __isnull=True.")
    return index


def encrypted_fields(model: type[Model]) -> list[EncryptedTextField]:
    """The model's own (not inherited through a parent table) encrypted fields."""
    return [f for f in model._meta.local_fields if isinstance(f, EncryptedTextField)]
