"""Request and response shapes of the GovStack Digital Registries APIs (data 1.3.0, database)."""

from typing import Any

from ninja import Field, Schema


class ContentIn(Schema):
    content: dict[str, Any]


class WriteIn(Schema):
    write: ContentIn


class QueryIn(Schema):
    query: ContentIn


class QueryWriteIn(Schema):
    query: ContentIn | None = None
    write: ContentIn


class ContentOut(Schema):
    content: dict[str, Any]


class ListOut(Schema):
    count: int
    next: str | None = None
    previous: str | None = None
    results: list[dict[str, Any]]


class Answer(Schema):
    status: bool
    message: str = ""


class ExistsOut(Schema):
    answer: Answer


class UpdatedOut(Schema):
    count: int = Field(description="Records changed")


class ValueOut(Schema):
    value: Any


class Reference(Schema):
    ReferenceID: str


class PersonalDataUsageOut(Schema):
    id: str
    readerId: str
    readerInitials: str
    readerInstitutionId: str
    readerInstitutionName: str
    readerApplicationName: str
    searchDateTime: str
    action: str
    refrences: list[Reference] = Field(description="Spelt as in the GovStack specification (sic).")


class SchemaTag(Schema):
    name: str
    path: str
    isFulltext: bool


class SchemaFlag(Schema):
    name: str
    path: str


class GenericService(Schema):
    serviceId: int
    name: str
    isVisible: bool = True
    usedCount: int = 0


class DatabaseInfoOut(Schema):
    id: int
    version: str
    name: str
    description: str
    institution: str
    numberFormat: str = ""
    schema_: dict[str, Any] = Field(alias="schema")
    schemaTags: list[SchemaTag]
    schemaFlags: list[SchemaFlag]
    fieldsUniques: list[list[str]]
    isDraft: bool = False
    isDisabled: bool
    isArchived: bool
    modifiedAt: str
    byUserName: str
    byUserAuthId: int | None
    genericServices: list[GenericService]
    dataIndexIncrement: int
    hasLogo: bool = False


class DatabasesOut(Schema):
    id: int
    name: str
    code: str
    databases: list[DatabaseInfoOut]
    groupId: int
    order: int
    dataIndexIncrement: int


class DatabaseModifyIn(Schema):
    groupName: str = Field("", description="The owning agency's code (default: yours).")
    catalogName: str = Field("", description="The registry's title.")
    code: str = Field(description="The registry's name in /data/{registryName}/...")
    description: str = ""
    schema_: dict[str, Any] = Field(alias="schema")
