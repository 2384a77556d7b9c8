from core.errors import ApplicationError, Conflict, NotFound, ValidationFailed


class UnknownPurpose(ValidationFailed):
    code = "unknown_purpose"
    title = "The purpose is not a registered purpose"


class AgreementNotFound(NotFound):
    code = "agreement_not_found"
    title = "No such data agreement"


class AgreementExists(Conflict):
    code = "agreement_exists"
    title = "A data agreement with this code already exists"


class AgreementNotInForce(ApplicationError):
    code = "agreement_not_in_force"
    status = 409
    title = "The data agreement is not in force"


class ConsentNotApplicable(ApplicationError):
    code = "consent_not_applicable"
    status = 409
    title = "This agreement does not rest on consent"


class ConsentUnchanged(Conflict):
    code = "consent_unchanged"
    title = "The consent is already in this state"


class ConsentNotFound(NotFound):
    code = "consent_not_found"
    title = "No such consent record"


class PersonNotLinked(ApplicationError):
    code = "person_not_linked"
    status = 409
    title = "The account is not linked to a person in the registry yet"
